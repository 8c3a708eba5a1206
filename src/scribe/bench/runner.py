"""Bench runs: model configurations × tasks × drafts × repeats, through the same path as every call.

Each item is prepared with `tasks.prepare` and run with `tasks.execute`, so it is logged like a CLI
or TUI run, tagged with its bench (`RunMeta.bench`). The run log is the only store: a rerun skips
items whose result (same draft text, configuration, task, prompt version and repeat) is already
there. The shared executor (`bench.executor`) runs the items, one at a time and in the planned
interleaved order, so drift on a noisy machine (thermal throttling, a neighbour's job) spreads over
every configuration; it also keeps what finished on Ctrl-C. A server whose stream breaks is taken
out, so the rest of the bench fails at once instead of timing a server in trouble; the same command
resumes. `bench.run` puts the steps together.
"""

from __future__ import annotations

import json
import threading
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from scribe.bench.aggregate import TASKS, WARMUP_TASK
from scribe.bench.executor import (
    Execution,
    Executor,
    HostPool,
    Job,
    Outcome,
    raise_if_unfinished,
)
from scribe.calls import run_call
from scribe.chunking import heading_sections
from scribe.config import DEFAULT_MAX_NUM_CTX
from scribe.errors import ScribeError
from scribe.models import ModelServer
from scribe.modelspec import ModelSpec
from scribe.prompts import PromptTemplate
from scribe.runlog import CallRequest, RunLog, RunRecord
from scribe.runmeta import RunMeta
from scribe.tasks import (
    Draft,
    DraftRetriever,
    PreparedCall,
    TaskInput,
    TaskResult,
    context_limits,
    execute,
    load_draft,
    prepare,
)

Key = tuple[str, str, str, str, int]  # draft hash, configuration, task, prompt version, repeat


@dataclass(frozen=True)
class BenchSettings:
    """What every item of one bench asks for; recorded in each run's meta."""

    name: str
    sections: int = 5
    words: int = 150
    k: int = 6
    options: dict[str, Any] = field(default_factory=dict)  # from --options-file, under each spec's own
    max_num_ctx: int = DEFAULT_MAX_NUM_CTX  # the workspace's cap on the num_ctx a call is sized to


@dataclass(frozen=True)
class BenchItem:
    spec: ModelSpec
    task: str
    draft: Draft
    repeat: int

    def key(self, prompt_version: str) -> Key:
        return (self.draft.hash, self.spec.label, self.task, prompt_version, self.repeat)


def check_tasks(tasks: Sequence[str]) -> list[str]:
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise ScribeError(f"--task {unknown[0]!r}: not a bench task; use one of: {', '.join(TASKS)}")
    return list(dict.fromkeys(tasks)) or list(TASKS)


def find_drafts(folder: Path, root: Path) -> list[Draft]:
    """Every markdown draft in `folder` (recursively), in path order."""
    if not folder.is_dir():
        raise ScribeError(f"--drafts {folder}: no such folder; point it at a folder of markdown drafts, e.g. notes/drafts")
    paths = sorted(folder.rglob("*.md"))
    if not paths:
        raise ScribeError(f"--drafts {folder}: no .md drafts in it; add one or point --drafts elsewhere")
    return [load_draft(path, root) for path in paths]


def load_options_file(path: Path) -> dict[str, Any]:
    """Model options for every configuration, from a JSON or TOML mapping (`{"num_predict": 64}`)."""
    example = 'e.g. {"num_predict": 64, "seed": 1}'
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScribeError(f"--options-file {path}: cannot read it ({exc.strerror}); give a JSON or TOML file, {example}") from exc
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ScribeError(f"--options-file {path}: not valid {'TOML' if path.suffix == '.toml' else 'JSON'} ({exc}); {example}") from exc
    if not isinstance(data, dict) or any(isinstance(v, dict) for v in data.values()):
        raise ScribeError(f"--options-file {path}: must be a flat mapping of model options, {example}")
    return data


def plan(specs: Sequence[ModelSpec], tasks: Sequence[str], drafts: Sequence[Draft], repeats: int) -> list[BenchItem]:
    """Items in interleaved order: each round runs every configuration once on one (repeat, draft,
    task), and the configurations' order rotates from round to round, so none always goes first."""
    items: list[BenchItem] = []
    rounds = [(repeat, draft, task) for repeat in range(repeats) for draft in drafts for task in tasks]
    for n, (repeat, draft, task) in enumerate(rounds):
        shift = n % len(specs)
        items += [BenchItem(spec, task, draft, repeat) for spec in [*specs[shift:], *specs[:shift]]]
    return items


def bench_runs(runs: Iterable[RunRecord], name: str) -> list[RunRecord]:
    """This bench's finished contestant runs (no warm-ups, no judge calls, no replays: a replay
    written to the same --out name asks of other text and must not count as this bench's item)."""
    return [r for r in runs if r.meta.bench == name and r.status == "ok" and r.task in TASKS and not r.meta.warmup
            and r.meta.replay_of is None]


def expand_section(draft: Draft) -> str | None:
    """The section a bench expands: the draft's first heading below the title (None: the whole draft)."""
    return next((s.heading for s in heading_sections(draft.body) if s.heading and s.level >= 2), None)


class BenchRunner:
    """Runs a plan's items against one model server, logging every call."""

    def __init__(
        self,
        client: ModelServer,
        runlog: RunLog,
        templates: dict[str, PromptTemplate],
        settings: BenchSettings,
        *,
        retrieve: DraftRetriever | None,
        environment: RunMeta,
    ) -> None:
        self.client, self.runlog, self.templates, self.settings = client, runlog, templates, settings
        self.retrieve, self.environment = retrieve, environment
        self._prepared: dict[tuple[str, str, str], PreparedCall] = {}

    def finished(self) -> set[Key]:
        """Keys of the items this bench has already run to completion."""
        keys: set[Key] = set()
        for r in bench_runs(self.runlog.iter_all(), self.settings.name):
            m = r.meta
            keys.add((m.draft_hash or "", m.config or "", r.task, r.prompt_version or "", -1 if m.repeat is None else m.repeat))
        return keys

    def jobs(self, items: Sequence[BenchItem]) -> list[Job[BenchItem]]:
        """The items as the executor takes them: keyed as `finished` keys them."""
        return [Job(i, i.draft.rel_path or i.draft.title, i.key(self.templates[i.task].version)) for i in items]

    def warm_up(self, specs: Sequence[ModelSpec]) -> None:
        """One tiny call per model, so loading it is timed apart from steady-state latency; its meta
        also records the environment (engine, machine, command) for the report."""
        for name in dict.fromkeys(spec.name for spec in specs):
            request = CallRequest(
                task=WARMUP_TASK, model=name, messages=[{"role": "user", "content": "Say OK."}],
                options={"num_predict": 1, "temperature": 0},
                meta=replace(self.environment, bench=self.settings.name, warmup=True, config=name),
            )
            run_call(self.client, self.runlog, request)

    def _prepare(self, item: BenchItem) -> PreparedCall:
        key = (item.draft.rel_path or item.draft.title, item.task, item.spec.label)
        if key not in self._prepared:
            s = self.settings
            section = expand_section(item.draft) if item.task == "expand" else None
            inp = TaskInput(task=item.task, draft=item.draft, section=section, sections=s.sections, words=s.words, k=s.k)
            retrieve = self.retrieve(item.draft.rel_path) if self.retrieve else None  # the notes linked with this draft rank higher
            self._prepared[key] = prepare(self.templates[item.task], inp, retrieve, options={**s.options, **item.spec.options},
                                          limits=context_limits(self.client, item.spec.name, s.max_num_ctx))
        return self._prepared[key]

    def run_item(self, item: BenchItem, host: str, cancel: threading.Event) -> TaskResult:
        """The executor's work: one item, logged with its bench, configuration and repeat. `host`
        is always the client's: the pool of a bench holds the one server it measures."""
        meta = RunMeta(bench=self.settings.name, config=item.spec.label, repeat=item.repeat)  # the task adds the draft and what it asks
        result = execute(self._prepare(item), self.client, self.runlog, model=item.spec.name, meta=meta, cancel=cancel)
        raise_if_unfinished(result.call)
        return result

    def run(
        self, jobs: Sequence[Job[BenchItem]], *, finished: set[Key], force: bool,
        on_outcome: Callable[[Outcome[BenchItem, TaskResult]], None] = lambda _: None,
    ) -> Execution[BenchItem, TaskResult]:
        """Run the jobs not `finished`, in order and one at a time: two calls at once would share
        the machine and each other's timings. Ctrl-C stops the call in flight (logged as cancelled)."""
        executor: Executor[BenchItem, TaskResult] = Executor(self.run_item, HostPool([self.client.host]), on_outcome=on_outcome)
        return executor.run(jobs, finished=dict.fromkeys(finished), force=force)
