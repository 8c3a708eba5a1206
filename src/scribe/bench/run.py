"""A bench from start to end: plan, resume, warm-up, run, judge, report.

The steps and their order live here rather than in the CLI, so the command only parses options and
draws progress (`BenchEvents`), and any other front end runs the same bench.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scribe.bench.executor import Outcome, split_finished
from scribe.bench.judge import judge_bench
from scribe.bench.machine import machine
from scribe.bench.report import ReportFiles, build_report
from scribe.bench.runner import BenchItem, BenchRunner, BenchSettings, plan
from scribe.models import ModelServer
from scribe.modelspec import ModelSpec
from scribe.prompts import PromptTemplate, get_template
from scribe.runlog import RunLog
from scribe.runmeta import EngineInfo, RunMeta
from scribe.tasks import Draft, DraftRetriever, TaskResult


@dataclass(frozen=True)
class BenchConfig:
    """What one bench runs: every spec × task × draft × repeat, optionally judged."""

    specs: Sequence[ModelSpec]
    tasks: Sequence[str]
    drafts: Sequence[Draft]
    repeats: int
    settings: BenchSettings
    templates: dict[str, PromptTemplate]  # load_templates: the tasks', the judge's and critique's
    judge: ModelSpec | None = None
    force: bool = False


@dataclass(frozen=True)
class BenchEvents:
    """Where a bench is, for a progress display: a phase ("warm-up", "bench", "judge") begins with
    its number of steps (None: not known yet, or one step), and each finished step advances it."""

    phase: Callable[[str, int | None], None] = lambda _name, _total: None
    advance: Callable[[], None] = lambda: None


@dataclass
class BenchResult:
    name: str
    todo: int  # items this run had to do (the rest were in the log already)
    done: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)  # "draft × task × config: error", one per item
    interrupted: bool = False
    files: ReportFiles | None = None  # None when interrupted: the report waits for the rerun


def load_templates(tasks: Sequence[str], *, judging: bool, root: Path | None) -> dict[str, PromptTemplate]:
    """Every template a bench needs, loaded before any model server starts so a bad one fails fast:
    the tasks', the judge's when judging, and critique's, whose schema the report checks against."""
    names = [*tasks, *([f"judge-{t}" for t in tasks] + ["judge-pairwise"] if judging else []), "critique"]
    return {name: get_template(name, root) for name in dict.fromkeys(names)}


def describe_engine(client: ModelServer) -> EngineInfo:
    """Which model server answered, and its version, for the report's "how to rerun" section."""
    import httpx

    try:
        ours = httpx.get(f"{client.host}/scribe/stats", timeout=5).status_code == 200
    except httpx.HTTPError:
        ours = False
    return EngineInfo("scribe engine" if ours else "Ollama", client.version(), client.host)


def run_items(runner: BenchRunner, jobs: Sequence[Any], specs: Sequence[ModelSpec], *, name: str, phase: str,
              force: bool, events: BenchEvents) -> BenchResult:
    """The items not finished already, run after a warm-up of each configuration (none when nothing is
    left to run), counted as the bench and the replay both report them."""
    finished = runner.finished()
    todo, _ = split_finished(jobs, finished, force=force)
    if todo:
        events.phase("warm-up", None)
        runner.warm_up(specs)
    events.phase(phase, len(todo))

    def advance(outcome: Outcome[BenchItem, TaskResult]) -> None:
        if outcome.status != "skipped":
            events.advance()

    execution = runner.run(jobs, finished=finished, force=force, on_outcome=advance)
    return BenchResult(name, len(todo), done=execution.count("done"), skipped=execution.count("skipped"),
                       interrupted=execution.interrupted,
                       failed=[f"{o.item.draft.rel_path} × {o.item.task} × {o.item.spec.label}: {o.error}"
                               for o in execution.outcomes if o.status == "failed"])


def run_bench(
    client: ModelServer, runlog: RunLog, config: BenchConfig, *, retrieve: DraftRetriever | None, out: Path, command: str,
    events: BenchEvents = BenchEvents(),
) -> BenchResult:
    """Run what the log does not hold yet, judge it, and write the report to `out`.

    One warm-up call per model comes first, and only when there is something to run, so a finished
    bench reruns nothing. Ctrl-C returns at once with `interrupted` set: no judging, no report."""
    specs = list({s.label: s for s in config.specs}.values())
    environment = RunMeta(engine=describe_engine(client), machine=machine(), command=command)
    runner = BenchRunner(client, runlog, config.templates, config.settings, retrieve=retrieve, environment=environment)
    jobs = runner.jobs(plan(specs, config.tasks, config.drafts, config.repeats))
    result = run_items(runner, jobs, specs, name=config.settings.name, phase="bench", force=config.force, events=events)
    if config.judge is not None and not result.interrupted:
        events.phase("judge", None)
        result.interrupted = not judge_bench(
            client, runlog, config.judge, config.templates, config.drafts, result.name, force=config.force,
            on_total=lambda n: events.phase("judge", n), on_call=events.advance)
    if not result.interrupted:
        schema = config.templates["critique"].format
        result.files = build_report(runlog, out, critique_schema=schema, bench=result.name)  # type: ignore[arg-type]
    return result
