"""`scribe bench` (models side by side over drafts, or `--replay` of the suggestions the author
judged) and `scribe report`, built from the run log alone."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from scribe.cli.common import (
    EngineOpt,
    HostOpt,
    JsonOpt,
    ModelOpt,
    SourcesOpt,
    _escape,
    _print_json,
    _progress_bar,
    _stderr,
    _task_session,
    _workspace,
    _writer,
    app,
)
from scribe.errors import ScribeError


@app.command()
def bench(
    model: ModelOpt = None,
    task: Annotated[list[str] | None, typer.Option("--task", "-t", help="outline, critique or expand (repeatable; default: all three); with --replay, critique, expand or rewrite (default: every judged one).", show_default=False)] = None,
    drafts: Annotated[Path, typer.Option("--drafts", help="Folder of markdown drafts to run every task on.")] = Path("notes/drafts"),
    repeats: Annotated[Optional[int], typer.Option("--repeats", "-n", min=1, help="Runs of each model × task × draft (default 2; with --replay, 1).", show_default=False)] = None,
    judge: Annotated[str | None, typer.Option("--judge", help="Model (with options) that scores every output and compares each pair of configurations in both orders.", show_default=False)] = None,
    options_file: Annotated[Path | None, typer.Option("--options-file", help="JSON or TOML mapping of model options for every configuration, e.g. {\"num_predict\": 96}.", show_default=False)] = None,
    out: Annotated[Path, typer.Option("--out", help="Report folder; its name names the bench, so a rerun resumes it.")] = Path("reports/bench"),
    sections: Annotated[int, typer.Option(min=1, max=20, help="Sections an outline asks for.")] = 5,
    words: Annotated[int, typer.Option(min=20, help="Words an expansion asks for.")] = 150,
    k: SourcesOpt = 6,
    force: Annotated[bool, typer.Option("--force", help="Redo items already in the run log for this bench.")] = False,
    replay: Annotated[bool, typer.Option("--replay", help="Instead of --drafts: rerun the critiques, expansions and rewrites whose suggestions you judged in review, and report how often each model proposes edits where you kept one (--task: only these).")] = False,
    as_json: JsonOpt = False,
    host: HostOpt = None,
    engine: EngineOpt = None,
) -> None:
    """Benchmark models side by side: every model × task × draft × repeat, then a report in `--out`.

    `--model A --model B` (options allowed: `gemma3:270m@temperature=0.2`). One warm-up call per
    model times its load apart; items run in an interleaved order; every call is in the run log,
    so Ctrl-C keeps what finished and the same command resumes.

    `--replay` runs the models on the drafts whose suggestions you accepted or rejected (`scribe
    review`, the app's review mode), each with the task and section that was judged, and prints
    "Proposes what the author kept": how often a model edits where you accepted an edit, and where
    you rejected one.
    """
    import shlex

    from scribe.bench.run import BenchConfig, BenchEvents, load_templates, run_bench
    from scribe.bench.runner import (
        BenchSettings,
        check_tasks,
        find_drafts,
        load_options_file,
    )
    from scribe.modelspec import parse_model_spec

    ws = _workspace()
    given = [parse_model_spec(m) for m in model or []]
    settings = BenchSettings(out.name, sections=sections, words=words, k=k, options=load_options_file(options_file) if options_file else {},
                             max_num_ctx=ws.settings.max_num_ctx)
    if replay:
        if judge:
            raise ScribeError("--judge does not go with --replay: a replay is measured by your own verdicts in review")
        _bench_replay(ws, given, task or [], repeats or 1, settings, out=out, force=force, as_json=as_json, host=host, engine=engine)
        return
    repeats = repeats or 2
    tasks = check_tasks(task or [])
    judge_spec = parse_model_spec(judge) if judge else None
    loaded = find_drafts(drafts, ws.root)
    templates = load_templates(tasks, judging=judge_spec is not None, root=ws.root)
    with _task_session(ws, host, engine, k) as (client, runlog, retrieval), _progress_bar() as bar:
        row = bar.add_task("bench", total=None)
        config = BenchConfig(given or [parse_model_spec(_writer(ws, client))], tasks, loaded, repeats, settings, templates,
                             judge=judge_spec, force=force)
        events = BenchEvents(phase=lambda name, total: bar.update(row, description=name, total=total, completed=0),
                             advance=lambda: bar.advance(row))
        result = run_bench(client, runlog, config, retrieve=partial(retrieval.using, client) if retrieval else None, out=out,
                           command="scribe " + shlex.join(sys.argv[1:]), events=events)
        files = result.files
        if files is None:  # Ctrl-C: no judging, no report
            raise ScribeError(f"interrupted: {result.done} new results kept in {runlog.path}; run the same command again to resume")
    if as_json:
        _print_json({"bench": result.name, "done": result.done, "skipped": result.skipped, "failed": result.failed,
                     "files": [str(p) for p in files.paths]})
    else:
        for rec in files.model.recommendations:
            print(rec.text)
        _stderr(f"[dim]{result.done} runs, {result.skipped} already done; report in {out}/report.html"
                f"{' (' + files.charts_note + ')' if files.charts_note else ''}[/dim]")
    if result.failed:
        raise ScribeError(f"{len(result.failed)} of {result.todo} runs failed: " + "; ".join(result.failed[:3]))


def _bench_replay(ws: Any, given: list[Any], tasks: list[str], repeats: int, settings: Any, *, out: Path, force: bool,
                  as_json: bool, host: str | None, engine: str | None) -> None:
    """`bench --replay`: the judged runs come from the run log, checked before any model server starts."""
    import shlex
    from dataclasses import asdict

    from scribe.bench.replay import NO_JUDGED, judged_in_log
    from scribe.bench.replay_run import run_replay
    from scribe.bench.run import BenchEvents, load_templates
    from scribe.modelspec import parse_model_spec
    from scribe.runlog import RunLog
    from scribe.suggestions import SUGGESTING

    unknown = [t for t in tasks if t not in SUGGESTING]
    if unknown:
        raise ScribeError(f"--task {unknown[0]!r}: a replay reruns tasks that propose edits: {', '.join(SUGGESTING)}")
    judged = []
    if ws.runlog_path.is_file():
        with RunLog(ws.runlog_path) as log:
            judged = [j for j in judged_in_log(log).values() if not tasks or j.run.task in tasks]
    if not judged:
        raise ScribeError(NO_JUDGED if not tasks else NO_JUDGED.replace("judged", f"judged {' or '.join(tasks)}", 1))
    templates = load_templates([t for t in SUGGESTING if any(j.run.task == t for j in judged)], judging=False, root=ws.root)
    with _task_session(ws, host, engine, settings.k) as (client, runlog, retrieval), _progress_bar() as bar:
        row = bar.add_task("replay", total=None)
        events = BenchEvents(phase=lambda name, total: bar.update(row, description=name, total=total, completed=0),
                             advance=lambda: bar.advance(row))
        result = run_replay(client, runlog, given or [parse_model_spec(_writer(ws, client))], judged, repeats=repeats,
                            settings=settings, templates=templates, retrieve=partial(retrieval.using, client) if retrieval else None,
                            out=out, command="scribe " + shlex.join(sys.argv[1:]), force=force, events=events)
        files = result.files
        if files is None:  # Ctrl-C: no report
            raise ScribeError(f"interrupted: {result.done} new results kept in {runlog.path}; run the same command again to resume")
    rows = files.model.replay
    if as_json:
        _print_json({"bench": result.name, "done": result.done, "skipped": result.skipped, "failed": result.failed,
                     "files": [str(p) for p in files.paths], "replay": [asdict(r) for r in rows]})
    else:
        _print_replay(rows)
        _stderr(f"[dim]{len(judged)} judged runs; {result.done} runs, {result.skipped} already done; report in {out}/report.html[/dim]")
    if result.failed:
        raise ScribeError(f"{len(result.failed)} of {result.todo} runs failed: " + "; ".join(result.failed[:3]))


def _print_replay(rows: list[Any]) -> None:
    """The replay table: of the spans the author judged, how many each configuration edits too."""
    from rich.console import Console
    from rich.table import Table

    def hit(n: int, total: int, rate: Any) -> str:
        return f"{n}/{total}" + (f" {rate.estimate:.0%} [{rate.low:.0%}, {rate.high:.0%}]" if rate is not None else "")

    table = Table("configuration", "task", "judged drafts", "accepted spans hit", "rejected spans hit (lower is better)",
                  title="Proposes what the author kept", box=None)
    for r in rows:
        table.add_row(_escape(r.config), r.task, str(r.drafts), _escape(hit(r.accepted_hit, r.accepted, r.accepted_rate)),
                      _escape(hit(r.rejected_hit, r.rejected, r.rejected_rate)))
    Console().print(table)


@app.command()
def report(
    out: Annotated[Path, typer.Option("--out", help="Folder for report.md, report.html, runs.csv and summary.json.")] = Path("reports/latest"),
    since: Annotated[Optional[str], typer.Option("--since", help="Only runs started on or after YYYY-MM-DD.", show_default=False)] = None,
    model: Annotated[Optional[list[str]], typer.Option("--model", "-m", help="Only this model or configuration (repeatable).", show_default=False)] = None,
    bench_name: Annotated[Optional[str], typer.Option("--bench", help="Only the runs of this bench (the name of its --out folder).", show_default=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Build a report from the run log alone, so app, batch and bench runs all count.

    Latency per model and task, four kinds of quality kept apart (deterministic checks, LLM judge,
    your blind picks from the app's compare mode, and the suggested edits you kept in review), ratings
    with intervals, charts, and what it takes to rerun: machine, engine, model digests, options,
    prompt versions and seeds.
    """
    import datetime as dt

    from scribe.bench.report import build_report
    from scribe.prompts import get_template
    from scribe.runlog import RunLog

    try:
        since_date = dt.date.fromisoformat(since).isoformat() if since else None
    except ValueError:
        raise ScribeError(f"--since {since!r} is not a date; write it as YYYY-MM-DD") from None
    ws = _workspace()
    if not ws.runlog_path.is_file():
        raise ScribeError(f"{ws.runlog_path}: no run log yet; run a task or `scribe bench` first")
    schema = get_template("critique", ws.root).format
    with RunLog(ws.runlog_path) as runlog:
        files = build_report(runlog, out, critique_schema=schema, since=since_date, models=model, bench=bench_name)  # type: ignore[arg-type]
    if as_json:
        _print_json({"files": [str(p) for p in files.paths], "runs": files.model.provenance.runs,
                     "recommendations": [r.text for r in files.model.recommendations]})
        return
    for rec in files.model.recommendations:
        print(rec.text)
    _stderr(f"[dim]{files.model.provenance.runs} runs; report in {out}/report.html{' (' + files.charts_note + ')' if files.charts_note else ''}[/dim]")
