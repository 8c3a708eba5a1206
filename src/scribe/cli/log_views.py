"""`scribe log`: the run log's views: recent calls, one run in full (`show`), the conversations
(`conversations`) and one conversation turn by turn (`--conversation`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from scribe.cli.common import JsonOpt, _escape, _print_json, _stderr, _workspace, log_app
from scribe.errors import ScribeError


@log_app.callback()
def log_list(
    ctx: typer.Context,
    n: Annotated[int, typer.Option("-n", help="How many runs to show.")] = 20,
    model: Annotated[Optional[str], typer.Option(help="Only this model.", show_default=False)] = None,
    task: Annotated[Optional[str], typer.Option(help="Only this task.", show_default=False)] = None,
    conversation: Annotated[Optional[str], typer.Option("--conversation", help="Show this conversation turn by turn instead (its id, or the start of it).", show_default=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """List recent model calls, newest first. `scribe log show ID` prints one in full,
    `scribe log conversations` lists the conversations, `--conversation ID` shows one."""
    if ctx.invoked_subcommand is not None:
        return
    from scribe.runlog import RunLog

    ws = _workspace()
    if conversation is not None:
        _show_conversation(ws, conversation, as_json)
        return
    with RunLog(ws.runlog_path) as runlog:
        runs = runlog.recent(n, model=model, task=task)
    if as_json:
        _print_json([run.to_dict() for run in runs])
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "started (UTC)", "task", "model", "status", "TTFT ms", "tok/s", "tokens", box=None)
    for run in runs:
        table.add_row(
            str(run.id), run.started_at[:19].replace("T", " "), run.task, run.model, run.status,
            f"{run.ttft_ms:.0f}" if run.ttft_ms is not None else "-",
            f"{run.eval_tps:.1f}" if run.eval_tps is not None else "-",
            str(run.eval_count) if run.eval_count is not None else "-",
        )
    Console().print(table if runs else "no runs logged yet; try: scribe ask \"hello\"")


def _show_conversation(ws: Any, conversation_id: str, as_json: bool) -> None:
    """One conversation, turn by turn: what was asked and what came back."""
    from dataclasses import asdict

    from scribe import conversations
    from scribe.runlog import RunLog

    with RunLog(ws.runlog_path) as runlog:
        turns = conversations.turns(runlog, conversation_id)
    if as_json:
        _print_json([asdict(turn) for turn in turns])
        return
    for turn in turns:
        state = turn.status + (" (cut off)" if turn.cut_off else "")
        print(f"── turn {turn.turn} · run {turn.run_id} · {turn.task} · {turn.model} · {state} · {turn.started_at[:19].replace('T', ' ')}")
        if turn.asked != turn.task:
            print("> " + turn.asked.replace("\n", "\n> "))
        print(turn.output_text.rstrip() + "\n")
    last = turns[-1]
    _stderr(f"[dim]continue with: scribe ask --cid {last.conversation_id} \"...\"[/dim]")


@log_app.command("conversations")
def log_conversations(
    draft: Annotated[Optional[Path], typer.Option("--draft", "-d", help="Only conversations about this draft.", show_default=False)] = None,
    n: Annotated[int, typer.Option("-n", help="How many conversations to show.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """List conversations, the newest activity first: every task's result and every ask starts one,
    and `scribe ask -c`, `--cid ID` or the app's follow-ups add turns. Bench runs are left out."""
    import os
    from dataclasses import asdict

    from scribe import conversations
    from scribe.runlog import RunLog

    ws = _workspace()
    about = Path(os.path.relpath(draft.absolute(), ws.root.absolute())).as_posix() if draft else None
    with RunLog(ws.runlog_path) as runlog:
        found = conversations.conversations(runlog, draft=about, limit=n)
    if as_json:
        _print_json([asdict(c) for c in found])
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None)
    table.add_column("id", no_wrap=True, min_width=12)  # the id is what the author copies: never cut
    for name in ("turns", "task", "model", "draft"):
        table.add_column(name)
    table.add_column("last (UTC)", no_wrap=True)
    table.add_column("begins", ratio=1)
    for c in found:
        fork = f", fork of {c.forked_from[0]} turn {c.forked_from[1]}" if c.forked_from else ""
        table.add_row(c.id, str(c.turns), c.task + fork, c.model, c.draft_path or "-",
                      c.last_at[5:16].replace("T", " "), _escape(c.first_words))
    Console().print(table if found else "no conversations yet; try: scribe ask \"hello\", then scribe ask -c \"and then?\"")


@log_app.command("show")
def log_show(
    run_id: Annotated[int, typer.Argument(help="The run's id, from `scribe log`.")],
    as_json: JsonOpt = False,
) -> None:
    """Print one run: metrics, options, prompt and output."""
    from scribe.runlog import RunLog

    ws = _workspace()
    with RunLog(ws.runlog_path) as runlog:
        run = runlog.get(run_id)
    if run is None:
        raise ScribeError(f"no run {run_id} in {ws.runlog_path}; list runs with: scribe log")
    if as_json:
        _print_json(run.to_dict())
        return
    fields = [
        ("run", run.id), ("started", run.started_at), ("task", run.task), ("model", run.model),
        ("digest", run.model_digest), ("host", run.host), ("status", run.status), ("error", run.error),
        ("conversation", f"{run.conversation_id} turn {run.turn}" if run.conversation_id else None),
        ("prompt", f"{run.prompt_name} {run.prompt_version}" if run.prompt_name else None),
        ("options", json.dumps(run.options) if run.options else None),
        ("TTFT (client)", f"{run.ttft_ms:.1f} ms" if run.ttft_ms is not None else None),
        ("load", _ms(run.load_duration_ns)), ("prompt eval", _count_ms(run.prompt_eval_count, run.prompt_eval_duration_ns, run.prompt_tps)),
        ("eval", _count_ms(run.eval_count, run.eval_duration_ns, run.eval_tps)), ("total", _ms(run.total_duration_ns)),
        ("done reason", run.done_reason),
    ]
    for label, value in fields:
        if value is not None:
            print(f"{label:>14}: {value}")
    for i, source in enumerate(run.sources, start=1):
        print(f"{'source':>14}: [{i}] {source.get('path', '')} {source.get('heading', '')}".rstrip())
    print("\n--- input ---\n" + run.input_text)
    print("\n--- output ---\n" + run.output_text)


def _ms(ns: int | None) -> str | None:
    return None if ns is None else f"{ns / 1e6:.1f} ms"


def _count_ms(count: int | None, ns: int | None, tps: float | None) -> str | None:
    if count is None:
        return None
    rate = f", {tps:.1f} tok/s" if tps else ""
    return f"{count} tokens in {ns / 1e6 if ns else 0:.1f} ms{rate}"
