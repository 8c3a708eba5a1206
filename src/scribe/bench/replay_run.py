"""`scribe bench --replay`: run models on the drafts whose suggestions the author judged, as a bench.

Each judged run becomes a bench item per configuration and repeat: the draft text it saw (kept in
the log), its task, its section and what it asked (words, sections). The items go through the bench's
runner and executor, so they are logged, resumed and reported like any bench run, each with
`meta.replay_of` naming the judged run; `bench.replay` measures them against the author's verdicts.
Apart from `bench.replay` so that module stays pure and the report can use it (this one needs the
runner, which needs the report's aggregation).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from scribe.bench.executor import raise_if_unfinished
from scribe.bench.machine import machine
from scribe.bench.replay import Judged
from scribe.bench.report import build_report
from scribe.bench.run import BenchEvents, BenchResult, describe_engine, run_items
from scribe.bench.runner import BenchItem, BenchRunner, BenchSettings
from scribe.chunking import first_heading
from scribe.models import ModelServer
from scribe.modelspec import ModelSpec
from scribe.prompts import PromptTemplate
from scribe.runlog import RunLog
from scribe.runmeta import RunMeta
from scribe.suggestions import SUGGESTING
from scribe.tasks import (
    Draft,
    DraftRetriever,
    PreparedCall,
    TaskInput,
    TaskResult,
    context_limits,
    execute,
    prepare,
)

ReplayKey = tuple[str, str, str, str, int, int]  # a bench Key, then the judged run's id


@dataclass(frozen=True)
class ReplayItem(BenchItem):
    """A bench item that asks what judged run `replay_of` asked, of the text it saw."""

    replay_of: int = 0
    section: str | None = None
    words: int | None = None
    sections: int | None = None

    def key(self, prompt_version: str) -> ReplayKey:  # type: ignore[override]
        return (*super().key(prompt_version), self.replay_of)


def draft_of(judged: Judged) -> Draft:
    """The text the judged run saw, named as it was; its title is the text's first heading (else
    the file's name), since the log keeps the body, not the frontmatter."""
    rel_path = judged.run.meta.draft
    title = first_heading(judged.text) or (PurePosixPath(rel_path).stem if rel_path else "Untitled")
    return Draft(title, judged.text, None, rel_path)


def plan_replay(specs: Sequence[ModelSpec], judged: Sequence[Judged], repeats: int) -> list[ReplayItem]:
    """Items in the bench's interleaved order: each round runs every configuration once on one
    (repeat, judged run), and which configuration goes first rotates."""
    items: list[ReplayItem] = []
    rounds = [(repeat, j) for repeat in range(repeats) for j in judged]
    for n, (repeat, j) in enumerate(rounds):
        shift = n % len(specs)
        m = j.run.meta
        items += [ReplayItem(spec, j.run.task, draft_of(j), repeat, replay_of=j.run.id, section=m.section, words=m.words,
                             sections=m.sections) for spec in [*specs[shift:], *specs[:shift]]]
    return items


class ReplayRunner(BenchRunner):
    """The bench runner for replay items: what each asks comes from its judged run."""

    def finished(self) -> set[ReplayKey]:  # type: ignore[override]
        """Keys of the replays this bench has already run to completion."""
        keys: set[ReplayKey] = set()
        for r in self.runlog.iter_all():
            m = r.meta
            if m.bench == self.settings.name and m.replay_of is not None and r.status == "ok" and r.task in SUGGESTING:
                keys.add((m.draft_hash or "", m.config or "", r.task, r.prompt_version or "",
                          -1 if m.repeat is None else m.repeat, m.replay_of))
        return keys

    def _prepare(self, item: BenchItem) -> PreparedCall:
        assert isinstance(item, ReplayItem)
        key = (str(item.replay_of), item.task, item.spec.label)
        if key not in self._prepared:
            s = self.settings
            inp = TaskInput(task=item.task, draft=item.draft, section=item.section, sections=item.sections or s.sections,
                            words=item.words or s.words, k=s.k)
            retrieve = self.retrieve(item.draft.rel_path) if self.retrieve else None  # the notes linked with this draft rank higher
            self._prepared[key] = prepare(self.templates[item.task], inp, retrieve, options={**s.options, **item.spec.options},
                                          limits=context_limits(self.client, item.spec.name, s.max_num_ctx))
        return self._prepared[key]

    def run_item(self, item: BenchItem, host: str, cancel: threading.Event) -> TaskResult:
        assert isinstance(item, ReplayItem)
        meta = RunMeta(bench=self.settings.name, config=item.spec.label, repeat=item.repeat, replay_of=item.replay_of)
        result = execute(self._prepare(item), self.client, self.runlog, model=item.spec.name, meta=meta, cancel=cancel)
        raise_if_unfinished(result.call)
        return result


def run_replay(
    client: ModelServer, runlog: RunLog, specs: Sequence[ModelSpec], judged: Sequence[Judged], *, repeats: int,
    settings: BenchSettings, templates: dict[str, PromptTemplate], retrieve: DraftRetriever | None, out: Path, command: str,
    force: bool = False, events: BenchEvents | None = None,
) -> BenchResult:
    """Run the replays the log does not hold yet and write the bench report (which has the replay
    table) to `out`; as `bench.run.run_bench`, with no judge: the author's verdicts are the measure."""
    events = events or BenchEvents()
    specs = list({s.label: s for s in specs}.values())
    environment = RunMeta(engine=describe_engine(client), machine=machine(), command=command)
    runner = ReplayRunner(client, runlog, templates, settings, retrieve=retrieve, environment=environment)
    jobs = runner.jobs(plan_replay(specs, judged, repeats))
    result = run_items(runner, jobs, specs, name=settings.name, phase="replay", force=force, events=events)
    if not result.interrupted:
        schema = templates["critique"].format
        result.files = build_report(runlog, out, critique_schema=schema, bench=result.name)  # type: ignore[arg-type]
    return result
