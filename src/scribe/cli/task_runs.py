"""How the task commands run: one task on one draft (streamed, its sources and summary shown, as a
patch or into a file if asked), or critique as a resumable batch over drafts, models and hosts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from scribe.cli.common import _echo, _escape, _print_json, _progress_bar, _stderr, _summary, _task_session, _workspace, _writer
from scribe.errors import ScribeError


def run_task(task: str, draft_path: Path | None, *, topic: str | None = None, section: str | None = None,
             sections: int = 5, words: int = 250, model: list[str] | None, k: int, as_json: bool,
             out: Path | None, host: str | None, engine: str | None, diff: bool = False, tags: list[str] | None = None) -> Any:
    """One task on one draft with one model: stream, show output and sources, log. With `diff`
    stdout gets only the patch of the run's edits to the draft (the stream goes to stderr)."""
    from scribe.files import atomic_write, backup
    from scribe.modelspec import parse_model_spec
    from scribe.prompts import get_template
    from scribe.runmeta import RunMeta
    from scribe.tasks import TaskInput, context_limits, execute, load_draft, prepare

    ws = _workspace()
    given = parse_model_spec(model[0]) if model else None  # a bad --model fails before any server starts
    template = get_template(task, ws.root)
    draft = load_draft(draft_path, ws.root) if draft_path else None
    if diff:
        _check_diffable(task, draft)
    inp = TaskInput(task=task, draft=draft, topic=topic, section=section, sections=sections, words=words, k=k)
    to_stderr = template.output == "json" or diff  # stdout is for the markdown, or the patch
    echo = None
    if not as_json:
        echo = _echo(sys.stderr if to_stderr else sys.stdout)
    patch = None
    with _task_session(ws, host, engine, k, tags) as (client, runlog, retrieval):
        spec = given or parse_model_spec(_writer(ws, client))
        search = retrieval.using(client, draft.rel_path if draft else None) if retrieval else None
        prepared = prepare(template, inp, search, options=spec.options,
                           limits=context_limits(client, spec.name, ws.settings.max_num_ctx))
        result = execute(prepared, client, runlog, model=spec.name, meta=RunMeta(via="cli"), on_token=echo)
        if diff and draft is not None and result.call.status == "ok":
            patch = _run_patch(runlog, result.run_id, draft)
        logged = runlog.get(result.run_id)
    if as_json:
        _print_json({**result.to_dict(), "conversation_id": logged.conversation_id, **({"diff": patch} if diff else {})})
    else:
        print(file=sys.stderr if to_stderr else sys.stdout)
        if patch:
            print(patch, end="")
        elif patch is not None:
            _stderr(f"[dim]run {result.run_id} proposes no edits to {_escape(str(draft_path))}: no diff[/dim]")
        elif template.output == "json" and not diff:
            print(result.output)
        for s in result.sources:
            _stderr(f"[dim][{s.number}] {s.path} — {s.heading_path}{' (cut)' if s.truncated else ''}[/dim]")
        _stderr(f"[dim]{_summary(result.run_id, result.call, logged)}[/dim]")
    if out is not None:
        if out.exists():
            _stderr(f"[dim]kept the previous {out.name} as {backup(out).name}[/dim]")
        atomic_write(out, result.output if result.output.endswith("\n") else result.output + "\n")
    if result.call.status != "ok":
        raise ScribeError(f"run {result.run_id} {result.call.status}: {result.call.error} (partial output kept in the run log)")
    return result


def _check_diffable(task: str, draft: Any) -> None:
    """`--diff` needs a draft and a task whose output is edits to it; said before any model runs."""
    from scribe.suggestions import SUGGESTING

    if task not in SUGGESTING:
        raise ScribeError(f"--diff shows the edits of {', '.join(SUGGESTING)} runs, not of {task}")
    if draft is None:
        raise ScribeError("--diff needs a draft: give its path")


def _run_patch(runlog: Any, run_id: int, draft: Any) -> str:
    """The patch of run `run_id`'s edits to `draft` (a tasks.Draft), paths from the workspace root."""
    from scribe.suggestions import patch_of, read_draft_file

    run = runlog.get(run_id)
    return patch_of(run, draft.body, read_draft_file(draft.path), draft.rel_path, suffix=draft.path.suffix)


def critique_batch(drafts: list[Path], *, model: list[str] | None, k: int, as_json: bool, out: Path, jobs: int,
                   hosts: list[str] | None, force: bool, engine: str | None, tags: list[str] | None) -> None:
    """Critique every draft with every model into `out`, resuming what is there: a bar while it runs, then
    a table (or JSON) of the results and summary.json; any failure is one error at the end."""
    from rich.console import Console
    from rich.table import Table

    from scribe.batch import (
        BatchItem,
        BatchRun,
        HostPool,
        failure,
        load_drafts,
        summary_row,
        write_summary,
    )
    from scribe.modelspec import parse_model_spec
    from scribe.prompts import get_template

    ws = _workspace()
    given = [parse_model_spec(m) for m in model or []]
    loaded, unreadable = load_drafts(drafts, ws.root)
    for problem in unreadable:
        _stderr(f"[yellow]skipped:[/yellow] {_escape(problem)}")
    template = get_template("critique", ws.root)
    with _task_session(ws, (hosts or [None])[0], engine, k, tags) as (client, runlog, retrieval):
        specs = given or [parse_model_spec(_writer(ws, client))]
        items = [BatchItem(d, s) for d in loaded for s in specs]
        with _progress_bar() as bar:
            row = bar.add_task("critique", total=len(items))
            run = BatchRun(template, HostPool(hosts or [client.host]), runlog, out, retrieve_with=retrieval.using if retrieval else None,
                           jobs=jobs, force=force, on_item=lambda _: bar.advance(row), max_num_ctx=ws.settings.max_num_ctx)
            outcomes = run.run(items)
    summary = write_summary(out, outcomes)
    rows = [summary_row(o) for o in outcomes]
    if as_json:
        _print_json({"summary": str(summary), "items": rows})
    else:
        table = Table("draft", "model", "status", "issues", "ungrounded", "TTFT ms", "tok/s", "host", box=None)
        for r in rows:
            table.add_row(r["draft"] or "", r["model"], r["status"], str(r["issues"]), str(r["ungrounded"] if r["ungrounded"] is not None else "-"),
                          f"{r['ttft_ms']:.0f}" if r["ttft_ms"] else "-", f"{r['eval_tps']:.1f}" if r["eval_tps"] else "-", r["host"] or "-")
        Console().print(table)
        _stderr(f"[dim]results in {out}/, summary in {summary}[/dim]")
    if problem := failure(outcomes, interrupted=run.interrupted, unloaded=len(unreadable), out_dir=out):
        raise ScribeError(problem)
