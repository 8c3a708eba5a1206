"""Batch critique: every draft × model, bounded concurrency, spread over one or more model servers.

Each result is written to its own file as soon as it finishes, keyed by the draft's hash, the model
configuration and the prompt version, so a second run skips what is done and Ctrl-C loses nothing
that finished. A request goes to the least-busy healthy host; a host that fails is marked down and
the item is retried on another.

An item's retrieval runs on the host it was given, after the host is acquired, so embedding the
query is part of that host's work (never a queue in front of one host) and model configurations of
one draft share one retrieval. A host takes the items of one draft in a row (`DraftQueue`): the
prompt differs only in the model's options, so the host finds it already evaluated in its cache.
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scribe.errors import HostUnreachable, ScribeError
from scribe.files import atomic_write
from scribe.modelspec import ModelSpec
from scribe.models import ModelClient
from scribe.prompts import PromptTemplate
from scribe.runlog import RunLog
from scribe.runmeta import RunMeta
from scribe.grounding import Hit
from scribe.tasks import Draft, PreparedCall, Retriever, TaskInput, TaskResult, execute, prepare


@dataclass
class BatchItem:
    draft: Draft
    spec: ModelSpec

    @property
    def draft_key(self) -> str:
        return self.draft.rel_path or self.draft.title

    @property
    def draft_hash(self) -> str:
        return hashlib.sha256(self.draft.body.encode("utf-8")).hexdigest()

    def out_path(self, out_dir: Path) -> Path:
        stem = Path(self.draft.rel_path or self.draft.title).stem
        return out_dir / f"{stem}--{self.spec.slug}.json"


@dataclass
class ItemOutcome:
    item: BatchItem
    status: str  # "done", "skipped", "failed", "cancelled"
    host: str | None = None
    attempts: int = 0
    error: str | None = None
    result: dict[str, Any] = field(default_factory=dict)

    def summary_row(self) -> dict[str, Any]:
        critique = self.result.get("critique") or {}
        metrics = self.result.get("metrics") or {}
        return {
            "draft": self.item.draft.rel_path, "model": self.item.spec.label, "status": self.status,
            "host": self.host, "attempts": self.attempts, "error": self.error,
            "parsed": critique.get("parsed"), "issues": len(critique.get("issues") or []),
            "ungrounded": critique.get("ungrounded"), "ttft_ms": metrics.get("ttft_ms"),
            "eval_tps": metrics.get("eval_tps"), "wall_ms": metrics.get("wall_ms"),
            "run_id": self.result.get("run_id"),
        }


class HostPool:
    """Least-busy choice among healthy hosts; a failing host is taken out of rotation."""

    def __init__(self, hosts: list[str]) -> None:
        self.clients = {host: ModelClient(host) for host in hosts}
        self.busy = {host: 0 for host in hosts}
        self.down: set[str] = set()
        self._lock = threading.Lock()

    def acquire(self, tried: set[str]) -> str | None:
        with self._lock:
            candidates = [h for h in self.busy if h not in self.down and h not in tried]
            if not candidates:
                return None
            host = min(candidates, key=lambda h: self.busy[h])
            self.busy[host] += 1
            return host

    def release(self, host: str, *, failed: bool) -> None:
        with self._lock:
            self.busy[host] -= 1
            if failed:
                self.down.add(host)


class DraftQueue:
    """Items waiting for a host, handed out draft by draft.

    A host first takes the rest of a draft it has started, then a draft no host has started, and
    only when neither is left an item of a draft another host owns (so no host idles at the end).
    Every model configuration of a draft renders the same prompt unless its num_ctx differs, and
    llama.cpp and Ollama keep the last prompt evaluated: the draft's second item skips most of it.
    """

    def __init__(self, items: list[BatchItem]) -> None:
        self._items = list(items)
        self._owner: dict[str, str] = {}
        self._lock = threading.Lock()

    def take(self, host: str) -> BatchItem | None:
        with self._lock:
            if not self._items:
                return None
            pick = (next((i for i in self._items if self._owner.get(i.draft_key) == host), None)
                    or next((i for i in self._items if i.draft_key not in self._owner), None)
                    or self._items[0])
            self._items.remove(pick)
            self._owner.setdefault(pick.draft_key, host)
            return pick

    def drain(self) -> list[BatchItem]:
        with self._lock:
            left, self._items = self._items, []
            return left


def is_done(path: Path, item: BatchItem, prompt_version: str) -> bool:
    """A finished result for this exact draft text, model configuration and prompt version exists."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (data.get("draft_hash"), data.get("model"), data.get("prompt_version"), data.get("status")) == (
        item.draft_hash, item.spec.label, prompt_version, "ok")


class BatchRun:
    def __init__(
        self,
        template: PromptTemplate,
        pool: HostPool,
        runlog: RunLog,
        out_dir: Path,
        *,
        retrieve_with: Callable[[ModelClient], Retriever] | None,
        jobs: int = 2,
        force: bool = False,
        on_item: Callable[[ItemOutcome], None] = lambda _: None,
    ) -> None:
        self.template, self.pool, self.runlog, self.out_dir = template, pool, runlog, out_dir
        self.retrieve_with, self.jobs, self.force, self.on_item = retrieve_with, max(1, jobs), force, on_item
        self.cancel = threading.Event()
        self.interrupted = False
        self._prepared: dict[tuple[str, str], PreparedCall] = {}
        self._hits: dict[tuple[str, str, int], Sequence[Hit]] = {}
        self._draft_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._locks_lock = threading.Lock()

    def _prepare(self, item: BatchItem, client: ModelClient) -> PreparedCall:
        """Retrieval (once per draft, embedding on `client`) and rendering (once per configuration).
        Only items of the same draft wait for each other here."""
        draft_key = item.draft_key
        with self._locks_lock:
            lock = self._draft_locks[draft_key]
        with lock:
            key = (draft_key, item.spec.label)
            if key not in self._prepared:
                retriever = None
                if self.retrieve_with is not None:
                    search = self.retrieve_with(client)

                    def retriever(query: str, k: int) -> Sequence[Hit]:
                        if (draft_key, query, k) not in self._hits:
                            self._hits[(draft_key, query, k)] = search(query, k)
                        return self._hits[(draft_key, query, k)]

                inp = TaskInput(task=self.template.name, draft=item.draft)
                self._prepared[key] = prepare(self.template, inp, retriever, options=item.spec.options)
            return self._prepared[key]

    def _work(self, waiting: DraftQueue, finished: queue.Queue[ItemOutcome]) -> None:
        """One slot of concurrency: take the least-busy host, then the item that suits it best."""
        while not self.cancel.is_set():
            host = self.pool.acquire(set())
            if host is None:
                return
            item = waiting.take(host)
            if item is None:
                self.pool.release(host, failed=False)
                return
            finished.put(self._run_one(item, host))

    def _run_one(self, item: BatchItem, host: str | None) -> ItemOutcome:
        """Run `item` on `host` (already acquired); if that host fails, on another healthy one."""
        outcome = ItemOutcome(item, "failed")
        tried: set[str] = set()
        while not self.cancel.is_set():
            if host is None:
                host = self.pool.acquire(tried)
                if host is None:
                    outcome.error = outcome.error or "no healthy host left"
                    return outcome
            tried.add(host)
            outcome.host, outcome.attempts = host, outcome.attempts + 1
            try:
                prepared = self._prepare(item, self.pool.clients[host])
                result: TaskResult = execute(
                    prepared, self.pool.clients[host], self.runlog, model=item.spec.name,
                    options=item.spec.options, meta=RunMeta(via="batch", model_spec=item.spec.label),
                    cancel=self.cancel,
                )
            except HostUnreachable as exc:
                self.pool.release(host, failed=True)
                outcome.error, host = str(exc), None
                continue
            except ScribeError as exc:  # the model or the request is at fault, not the host: no retry
                self.pool.release(host, failed=False)
                outcome.error = str(exc)
                return outcome
            self.pool.release(host, failed=result.call.status == "failed")
            if result.call.status == "cancelled":
                outcome.status, outcome.error = "cancelled", result.call.error
                return outcome
            if result.call.status == "failed":  # the stream broke: that host is in trouble, try another
                outcome.error, host = result.call.error, None
                continue
            outcome.status, outcome.result = "done", result.to_dict()
            self._write(item, outcome)
            return outcome
        if host is not None and outcome.attempts == 0:
            self.pool.release(host, failed=False)
        outcome.status = "cancelled"
        return outcome

    def _write(self, item: BatchItem, outcome: ItemOutcome) -> None:
        path = item.out_path(self.out_dir)
        record = {
            **outcome.result,
            "draft": item.draft.rel_path, "draft_hash": item.draft_hash, "model": item.spec.label,
            "prompt": self.template.name, "prompt_version": self.template.version, "status": "ok",
            "host": outcome.host,
        }
        atomic_write(path, json.dumps(record, indent=2))
        atomic_write(path.with_suffix(".md"), f"# {item.draft.title} — {item.spec.label}\n\n{outcome.result['output']}")

    def run(self, items: list[BatchItem]) -> list[ItemOutcome]:
        """Run all items. Ctrl-C stops the streams in flight and returns what finished
        (`interrupted` is then set); finished results are already on disk."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        outcomes: list[ItemOutcome] = []
        todo = []
        for item in items:
            path = item.out_path(self.out_dir)
            if not self.force and is_done(path, item, self.template.version):
                outcomes.append(ItemOutcome(item, "skipped", result=json.loads(path.read_text(encoding="utf-8"))))
                self.on_item(outcomes[-1])
            else:
                todo.append(item)
        waiting = DraftQueue(todo)
        finished: queue.Queue[ItemOutcome] = queue.Queue()
        executor = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="batch")
        workers = [executor.submit(self._work, waiting, finished) for _ in range(min(self.jobs, len(todo)))]
        try:
            while not all(w.done() for w in workers) or not finished.empty():
                try:
                    outcomes.append(finished.get(timeout=0.5))
                except queue.Empty:
                    continue
                self.on_item(outcomes[-1])
        except KeyboardInterrupt:
            self.interrupted = True
            self.cancel.set()
            executor.shutdown(wait=True)
            while not finished.empty():
                outcomes.append(finished.get_nowait())
        executor.shutdown(wait=True)
        for worker in workers:
            worker.result()  # a bug in a worker surfaces here instead of vanishing with its thread
        if not self.interrupted:
            for item in waiting.drain():  # every host went down before these started
                outcomes.append(ItemOutcome(item, "failed", error="no healthy host left"))
                self.on_item(outcomes[-1])
        return outcomes


def write_summary(out_dir: Path, outcomes: list[ItemOutcome]) -> Path:
    rows = [o.summary_row() for o in outcomes]
    totals = {status: sum(1 for r in rows if r["status"] == status) for status in ("done", "skipped", "failed", "cancelled")}
    path = out_dir / "summary.json"
    atomic_write(path, json.dumps({"totals": totals, "items": rows}, indent=2))
    return path
