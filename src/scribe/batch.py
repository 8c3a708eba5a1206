"""Batch critique: every draft × model, bounded concurrency, spread over one or more model servers.

The scheduling is the shared executor's (`scribe.bench.executor`: least-busy host, draft affinity,
failover to another host, resume, Ctrl-C); this module says what one item is: retrieval and
rendering, the call, and the result file, written as soon as the item finishes.

An item is already done when its result file in the output folder names a run that the run log
holds as ok for the same draft text, model configuration and prompt version. Both must hold: the
log is the record of what ran, the file is what the author reads, so a deleted file is written
again, and so is a file the log does not vouch for (stale, copied in, or a log moved aside).

An item's retrieval runs on the host it was given, after the host is acquired, so embedding the
query is part of that host's work (never a queue in front of one host) and model configurations of
one draft share one retrieval.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scribe.bench.executor import Executor, HostPool, Job, Outcome, raise_if_unfinished
from scribe.config import DEFAULT_MAX_NUM_CTX
from scribe.errors import ScribeError
from scribe.files import atomic_write
from scribe.grounding import Hit
from scribe.models import ModelServer, open_server
from scribe.modelspec import ModelSpec
from scribe.prompts import PromptTemplate
from scribe.runlog import RunLog
from scribe.runmeta import RunMeta
from scribe.tasks import (
    Draft,
    PreparedCall,
    Retriever,
    TaskInput,
    TaskResult,
    context_limits,
    execute,
    load_draft,
    prepare,
)

Record = dict[str, Any]  # an item's result file: the task's result plus what it ran on


@dataclass(frozen=True)
class BatchItem:
    draft: Draft
    spec: ModelSpec

    @property
    def draft_key(self) -> str:
        return self.draft.rel_path or self.draft.title

    @property
    def draft_hash(self) -> str:
        """The full hash the result file records (the run log names the draft by `Draft.hash`)."""
        return hashlib.sha256(self.draft.body.encode("utf-8")).hexdigest()

    def key(self, prompt_version: str) -> tuple[str, str, str]:
        """What makes a result reusable: the same draft text, model configuration and prompt version."""
        return (self.draft.hash, self.spec.label, prompt_version)

    def out_path(self, out_dir: Path) -> Path:
        stem = Path(self.draft.rel_path or self.draft.title).stem
        return out_dir / f"{stem}--{self.spec.slug}.json"


ItemOutcome = Outcome[BatchItem, Record]


def summary_row(outcome: ItemOutcome) -> dict[str, Any]:
    """One line of summary.json (and of the CLI's table)."""
    result = outcome.result or {}
    critique = result.get("critique") or {}
    metrics = result.get("metrics") or {}
    return {
        "draft": outcome.item.draft.rel_path, "model": outcome.item.spec.label, "status": outcome.status,
        "host": outcome.host, "attempts": outcome.attempts, "error": outcome.error,
        "parsed": critique.get("parsed"), "issues": len(critique.get("issues") or []),
        "ungrounded": critique.get("ungrounded"), "ttft_ms": metrics.get("ttft_ms"),
        "eval_tps": metrics.get("eval_tps"), "wall_ms": metrics.get("wall_ms"),
        "run_id": result.get("run_id"),
    }


def _read_record(path: Path) -> Record | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class BatchRun:
    """One batch: its items run by the executor, each result written to `out_dir` as it finishes."""

    def __init__(
        self,
        template: PromptTemplate,
        pool: HostPool,
        runlog: RunLog,
        out_dir: Path,
        *,
        retrieve_with: Callable[[ModelServer, str | None], Retriever] | None,
        jobs: int = 2,
        force: bool = False,
        on_item: Callable[[ItemOutcome], None] = lambda _: None,
        max_num_ctx: int = DEFAULT_MAX_NUM_CTX,
    ) -> None:
        self.template, self.pool, self.runlog, self.out_dir = template, pool, runlog, out_dir
        self.max_num_ctx = max_num_ctx
        self.retrieve_with, self.jobs, self.force, self.on_item = retrieve_with, max(1, jobs), force, on_item
        self.clients = {host: open_server(host) for host in pool.hosts}
        self.interrupted = False
        self._prepared: dict[tuple[str, str], PreparedCall] = {}
        self._hits: dict[tuple[str, str, int], Sequence[Hit]] = {}
        self._draft_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._locks_lock = threading.Lock()

    def _prepare(self, item: BatchItem, client: ModelServer) -> PreparedCall:
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
                    search = self.retrieve_with(client, item.draft.rel_path)

                    def retriever(query: str, k: int) -> Sequence[Hit]:
                        if (draft_key, query, k) not in self._hits:
                            self._hits[(draft_key, query, k)] = search(query, k)
                        return self._hits[(draft_key, query, k)]

                inp = TaskInput(task=self.template.name, draft=item.draft)
                self._prepared[key] = prepare(self.template, inp, retriever, options=item.spec.options,
                                              limits=context_limits(client, item.spec.name, self.max_num_ctx))
            return self._prepared[key]

    def run_item(self, item: BatchItem, host: str, cancel: threading.Event) -> Record:
        """The executor's work: one item on `host`, its files written once the call is ok."""
        client = self.clients[host]
        result = execute(
            self._prepare(item, client), client, self.runlog, model=item.spec.name, options=item.spec.options,
            meta=RunMeta(via="batch", model_spec=item.spec.label), cancel=cancel,
        )
        raise_if_unfinished(result.call)
        return self._write(item, result, host)

    def _write(self, item: BatchItem, result: TaskResult, host: str) -> Record:
        record = {
            **result.to_dict(),
            "draft": item.draft.rel_path, "draft_hash": item.draft_hash, "model": item.spec.label,
            "prompt": self.template.name, "prompt_version": self.template.version, "status": "ok", "host": host,
        }
        path = item.out_path(self.out_dir)
        atomic_write(path, json.dumps(record, indent=2))
        atomic_write(path.with_suffix(".md"), f"# {item.draft.title} — {item.spec.label}\n\n{result.output}")
        return record

    def finished(self, items: Sequence[BatchItem]) -> dict[tuple[str, str, str], Record]:
        """The results already done, by item key: a file in `out_dir` naming a run the log holds as ok."""
        done: dict[tuple[str, str, str], Record] = {}
        for item in items:
            record = _read_record(item.out_path(self.out_dir))
            if record is not None and self._logged_ok(record.get("run_id"), item):
                done[item.key(self.template.version)] = record
        return done

    def _logged_ok(self, run_id: object, item: BatchItem) -> bool:
        run = self.runlog.get(run_id) if isinstance(run_id, int) else None
        return run is not None and run.status == "ok" and (run.meta.draft_hash, run.meta.model_spec, run.prompt_version) == (
            item.draft.hash, item.spec.label, self.template.version)

    def run(self, items: list[BatchItem]) -> list[ItemOutcome]:
        """Run all items. Ctrl-C stops the streams in flight and returns what finished
        (`interrupted` is then set); finished results are already on disk."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        jobs = [Job(item, item.draft_key, item.key(self.template.version)) for item in items]
        executor: Executor[BatchItem, Record] = Executor(self.run_item, self.pool, jobs=self.jobs, on_outcome=self.on_item)
        execution = executor.run(jobs, finished=self.finished(items), force=self.force)
        self.interrupted = execution.interrupted
        return execution.outcomes


def load_drafts(paths: Sequence[Path], root: Path) -> tuple[list[Draft], list[str]]:
    """The drafts that load, and why each of the others did not: one unreadable file should not
    stop the rest of a batch (the batch still fails at the end, naming it)."""
    drafts: list[Draft] = []
    problems: list[str] = []
    for path in paths:
        try:
            drafts.append(load_draft(path, root))
        except ScribeError as exc:
            problems.append(str(exc))
    return drafts, problems


def write_summary(out_dir: Path, outcomes: list[ItemOutcome]) -> Path:
    rows = [summary_row(o) for o in outcomes]
    totals = {status: sum(1 for r in rows if r["status"] == status) for status in ("done", "skipped", "failed", "cancelled")}
    path = out_dir / "summary.json"
    atomic_write(path, json.dumps({"totals": totals, "items": rows}, indent=2))
    return path


def failure(outcomes: Sequence[ItemOutcome], *, interrupted: bool, unloaded: int, out_dir: Path) -> str | None:
    """Why the batch exits non-zero, in one line, or None when every item is done or skipped."""
    if interrupted:
        kept = sum(1 for o in outcomes if o.status == "done")
        return f"interrupted: {kept} results kept in {out_dir}; run again to finish"
    failed = [o for o in outcomes if o.status in ("failed", "cancelled")]
    if not failed and not unloaded:
        return None
    listing = "; ".join(f"{o.item.draft.rel_path} × {o.item.spec.label}: {o.error}" for o in failed)
    return f"{len(failed)} of {len(outcomes)} items failed{': ' + listing if listing else ''}"
