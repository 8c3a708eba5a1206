"""The `scribe` command: one small function per command, wiring only.

Heavy modules (chromadb, llama_cpp, textual, even the ollama client) are imported inside the
commands that need them, so `scribe --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from scribe.errors import ScribeError

if TYPE_CHECKING:
    from scribe.models import ModelServer

app = typer.Typer(
    name="scribe",
    help=(
        "A local-first writing assistant: draft in the terminal, and ask local models to outline, "
        "critique and expand your drafts, grounded in your own notes. Nothing leaves this machine.\n\n"
        "scribe uses Ollama when it runs (OLLAMA_HOST) and otherwise starts its own "
        "Ollama-compatible engine in the background."
    ),
    invoke_without_command=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)
log_app = typer.Typer(help="The run log: every model call with its latency and output.", invoke_without_command=True)
app.add_typer(log_app, name="log")

_state: dict[str, Any] = {"workspace": None, "debug": False, "open_line": None}

WorkspaceOpt = Annotated[
    Optional[Path],
    typer.Option("--workspace", "-w", help="Workspace folder (default: nearest folder with scribe.toml or .scribe/, else the current one).", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")]
HostOpt = Annotated[Optional[str], typer.Option("--host", help="Model server URL; skips engine selection.", show_default=False)]
EngineOpt = Annotated[Optional[str], typer.Option("--engine", help="auto, ollama or embedded (default from scribe.toml, else auto).", show_default=False)]


def _echo(stream: Any) -> Callable[[str], None]:
    """Print streamed tokens as they come to `stream`, remembering a line left open, so a message
    after an interruption or an error starts on a line of its own."""

    def echo(piece: str) -> None:
        print(piece, end="", flush=True, file=stream)
        if piece:
            _state["open_line"] = None if piece.endswith("\n") else stream

    return echo


def _close_open_line() -> None:
    if _state["open_line"] is not None:
        print(file=_state["open_line"], flush=True)
        _state["open_line"] = None


def _stderr(message: str) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(message)


@app.callback()
def root(
    ctx: typer.Context,
    workspace: WorkspaceOpt = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print scribe's version and exit.")] = False,
) -> None:
    if version:
        from scribe import __version__

        print(f"scribe {__version__}")
        raise typer.Exit()
    _state.update(workspace=workspace, debug=debug, open_line=None)
    if ctx.invoked_subcommand is None:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            # The app needs a terminal; in a pipe or script the help is the useful answer.
            print(ctx.get_help())
            raise typer.Exit()
        from scribe.tui import run_tui

        run_tui(workspace)


@app.command()
def tui(
    workspace_dir: Annotated[Optional[Path], typer.Argument(metavar="WORKSPACE|FILE", help="Workspace folder (default: as for --workspace), or a draft to open in the workspace around it.", show_default=False)] = None,
    draft: Annotated[Optional[Path], typer.Option("--draft", "-d", help="Open this draft first.", show_default=False)] = None,
) -> None:
    """Open the drafting app (the same as `scribe` with no arguments); `scribe tui notes/drafts/x.md`
    opens that draft.

    Keys: **F2** outline, **F3** critique, **F4** expand, **F5** other tasks, **F6** compare two
    models blind, **F7** pick the model, **Esc** cancels a stream, **ctrl+p** command palette,
    **F1** all keys. Drafts autosave a few seconds after you stop typing.
    """
    from scribe.tui import run_tui

    run_tui(workspace_dir or _state["workspace"], draft)


def _workspace():  # type: ignore[no-untyped-def]
    from scribe.config import open_workspace

    return open_workspace(_state["workspace"])


def _client(ws: Any, host: str | None, engine: str | None) -> ModelServer:
    from scribe.connect import resolve_host
    from scribe.models import open_server

    return open_server(resolve_host(ws, engine=engine, host=host, say=_stderr))


def _writer(ws: Any, client: Any) -> str:
    """The configured model, else the best writer the model server has."""
    return ws.settings.model or client.default_writer()


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


serve_app = typer.Typer(invoke_without_command=True, subcommand_metavar="[COMMAND]")
app.add_typer(serve_app, name="serve")


@serve_app.callback()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on; keep it on loopback unless you mean to share.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 picks a free one).")] = 11435,
    model: Annotated[Optional[list[str]], typer.Option("--model", help="Serve another GGUF as NAME=PATH (repeatable).", show_default=False)] = None,
    idle_exit: Annotated[Optional[float], typer.Option(help="Exit after this many seconds without requests.", show_default=False)] = None,
    url_file: Annotated[Optional[Path], typer.Option(help="Write the bound URL to this file once listening.", show_default=False)] = None,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for llama.cpp, decoding and prompts alike (default: $SCRIBE_ENGINE_THREADS, else all cores but one for decoding, so a busy neighbour does not stall it, and all cores for prompts).", show_default=False)] = None,
) -> None:
    """Run scribe's Ollama-compatible engine (llama.cpp; the bundled models under Ollama's names).

    Any Ollama client works against it: `OLLAMA_HOST=http://127.0.0.1:11435 ollama list`.

    The engine that commands start in the background for this workspace (`engine = "auto"` or
    `"embedded"`): `scribe serve status` shows it, `scribe serve stop` stops it.
    """
    if ctx.invoked_subcommand is not None:
        return
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None:
        raise ScribeError("the engine is not installed; install it with: pip install 'scribe[engine]'")
    from scribe.engine import serve as run_engine

    try:
        run_engine(host, port, models=model or [], idle_exit_s=idle_exit, url_file=url_file, threads=threads)
    except OSError as exc:
        raise ScribeError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port") from exc


@serve_app.command("status")
def serve_status(as_json: JsonOpt = False) -> None:
    """Show this workspace's background engine: URL, pid, memory, loaded models, counters, idle exit.

    Exits 0 when it is running and 1 when it is not. A record left by an engine that is gone is
    removed. Asking restarts its idle clock, as any request does.
    """
    from dataclasses import asdict

    from scribe.connect import engine_status

    status = engine_status(_workspace())
    if as_json:
        _print_json(asdict(status))
    else:
        print(_engine_status_line(status))
    if not status.running:
        raise typer.Exit(1)


@serve_app.command("stop")
def serve_stop(as_json: JsonOpt = False) -> None:
    """Stop this workspace's background engine (SIGTERM, then SIGKILL after 10 s) and forget it.

    Only a process that is really a scribe engine is signalled. Exits 0 whether or not one was running.
    """
    from dataclasses import asdict

    from scribe.connect import stop_background_engine

    result = stop_background_engine(_workspace())
    if as_json:
        _print_json(asdict(result))
    else:
        print(result.message)


def _engine_status_line(status: Any) -> str:
    """One line for `scribe serve status` (status: connect.EngineStatus)."""
    if status.answering is False:
        return f"not answering at {status.url} (pid {status.pid}); scribe serve stop stops it"
    if not status.running:
        return "not running (stale record removed)" if status.stale_record_removed else "not running: no background engine for this workspace"
    facts = [f"pid {status.pid}"]
    if status.uptime_s is not None:
        facts.append(f"up {_duration(status.uptime_s)}")
    if status.rss_bytes is not None:
        facts.append(f"RSS {status.rss_bytes / 1e6:.0f} MB")
    parts = [f"running at {status.url} ({', '.join(facts)})"]
    loaded = ", ".join(f"{m.name} until {_clock(m.expires_at)}" for m in status.models)
    parts.append(f"loaded: {loaded}" if loaded else "no model loaded")
    if status.stats:
        requests = sum(v for k, v in status.stats.items() if k.endswith("_requests"))
        tokens = status.stats.get("tokens_generated", 0)
        parts.append(f"{requests} request{'' if requests == 1 else 's'}, {tokens} token{'' if tokens == 1 else 's'} generated, "
                     f"busy {status.stats.get('busy_ns', 0) / 1e9:.1f} s")
    if status.idle_exit_s is not None:
        parts.append(f"exits after {_duration(status.idle_exit_s)} idle (not before {_clock(status.exits_if_idle_at)})")
    return "; ".join(parts)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _clock(iso: str | None) -> str:
    """An ISO timestamp as local wall-clock time (HH:MM:SS), or as given if it does not parse."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(iso or "").astimezone().strftime("%H:%M:%S")
    except ValueError:
        return iso or "?"


@app.command()
def ask(
    prompt: Annotated[str, typer.Argument(help="What to ask the model (with -c/--cid/--run: the follow-up).")],
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model name (default from config; a follow-up: the conversation's).", show_default=False)] = None,
    system: Annotated[Optional[str], typer.Option(help="A system message (a new conversation only).", show_default=False)] = None,
    temperature: Annotated[Optional[float], typer.Option(help="Sampling temperature.", show_default=False)] = None,
    seed: Annotated[Optional[int], typer.Option(help="Sampling seed, for repeatable output.", show_default=False)] = None,
    num_predict: Annotated[Optional[int], typer.Option(help="Most tokens to generate (default 256; a follow-up: the conversation's).", show_default=False)] = None,
    cont: Annotated[bool, typer.Option("--continue", "-c", help="Follow up on the latest conversation (any task's result, or an ask).")] = False,
    cid: Annotated[Optional[str], typer.Option("--cid", help="Follow up on this conversation (its id, or the start of it).", show_default=False)] = None,
    from_turn: Annotated[Optional[int], typer.Option("--from-turn", help="With -c or --cid: fork a new conversation after this turn; the original stays as it was.", show_default=False)] = None,
    run: Annotated[Optional[int], typer.Option("--run", help="Follow up on this run (an id from `scribe log`), forking if it is not its conversation's last turn.", show_default=False)] = None,
    as_json: JsonOpt = False,
    host: HostOpt = None,
    engine: EngineOpt = None,
) -> None:
    """Stream a free-form answer from a model, logged in the run log like every call.

    Every answer, and every task's result, starts a conversation: `scribe ask -c "shorter"` follows
    up on the latest one, with the earlier turns (the task's prompt, draft and sources included) as
    history; `--cid ID` picks one, `--from-turn N` forks after turn N. `scribe log conversations` lists them.
    """
    from dataclasses import asdict

    from scribe.runlog import RunLog

    if from_turn is not None and not (cont or cid):
        raise ScribeError("--from-turn forks a conversation: give it with -c or --cid ID")
    if sum((cont, cid is not None, run is not None)) > 1:
        raise ScribeError("give one of -c, --cid and --run: each names the conversation to follow up on")
    following = cont or cid is not None or run is not None
    if following and system is not None:
        raise ScribeError("--system starts a conversation; a follow-up keeps the conversation's own")
    ws = _workspace()
    client = _client(ws, host, engine)
    options: dict[str, Any] = {k: v for k, v in (("num_predict", num_predict), ("temperature", temperature), ("seed", seed)) if v is not None}
    echo = None if as_json else _echo(sys.stdout)
    with RunLog(ws.ensure_state_dir() / "runs.sqlite") as runlog:
        if following:
            run_id, result = _follow_up(client, runlog, prompt, cont=cont, cid=cid, run=run, from_turn=from_turn,
                                        model=model, options=options, max_num_ctx=ws.settings.max_num_ctx, echo=echo)
        else:
            run_id, result = _ask(client, runlog, prompt, model=model or _writer(ws, client), system=system,
                                  options={"num_predict": 256, **options}, echo=echo)
        logged = runlog.get(run_id)
    assert logged is not None
    if as_json:
        _print_json({"run_id": run_id, "conversation_id": logged.conversation_id, "turn": logged.turn,
                     "model": result.model, "host": result.host, "status": result.status,
                     "error": result.error, "text": result.text, **asdict(result.log_values())})
    else:
        print()
        _stderr(f"[dim]{_summary(run_id, result, logged)}[/dim]")
    if result.status != "ok":
        raise ScribeError(f"run {run_id} {result.status}: {result.error} (partial output kept in the run log)")


def _ask(client: Any, runlog: Any, prompt: str, *, model: str, system: str | None, options: dict[str, Any],
         echo: Callable[[str], None] | None) -> tuple[int, Any]:
    from scribe.calls import run_call
    from scribe.runlog import CallRequest
    from scribe.runmeta import RunMeta

    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    request = CallRequest(task="ask", model=model, messages=messages, options=options, meta=RunMeta(via="cli"))
    return run_call(client, runlog, request, on_token=echo)


def _follow_up(client: Any, runlog: Any, text: str, *, cont: bool, cid: str | None, run: int | None,
               from_turn: int | None, model: str | None, options: dict[str, Any], max_num_ctx: int,
               echo: Callable[[str], None] | None) -> tuple[int, Any]:
    """A follow-up on the conversation that -c (the latest), --cid or --run names."""
    from scribe import conversations
    from scribe.runmeta import RunMeta

    target: str | int | None = run if run is not None else cid
    if cont:
        target = conversations.latest(runlog)
        if target is None:
            raise ScribeError("no conversation to continue yet; ask something first (scribe ask \"...\") or run a task")
    assert target is not None
    return conversations.follow_up(client, runlog, target, text, from_turn=from_turn, model=model, options=options or None,
                                   meta=RunMeta(via="cli"), max_num_ctx=max_num_ctx, on_token=echo)


def _summary(run_id: int, result: Any, run: Any = None) -> str:
    """The line after a call: its run, its conversation (to continue it), the model and its speed."""
    m = result.metrics
    parts = [f"run {run_id}", result.model]
    if m.ttft_ms is not None:
        parts.append(f"TTFT {m.ttft_ms:.0f} ms")
    if m.eval_tps is not None:
        parts.append(f"{m.eval_tps:.1f} tok/s")
    if m.eval_count is not None:
        parts.append(f"{m.eval_count} tokens")
    if run is not None and run.conversation_id:
        parts.append(f"conversation {run.conversation_id}" + (f" turn {run.turn}" if (run.turn or 1) > 1 else ""))
    return " · ".join(parts)


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


@app.command()
def models(as_json: JsonOpt = False, host: HostOpt = None, engine: EngineOpt = None) -> None:
    """List the models the model server has: size, family, whether each chats (writes) or embeds
    (indexes notes), and the context it was trained for, which bounds the num_ctx scribe sizes.

    `--json` gives each model's fields with `chats`, `embeds` and `context_length`."""
    ws = _workspace()
    client = _client(ws, host, engine)
    listed = [(m, _facts(client, m.name)) for m in client.list_models()]
    if as_json:
        _print_json([{**m.__dict__, "chats": f and f.chats, "embeds": f and f.embeds, "context_length": f and f.context_length}
                     for m, f in listed])
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "size", "family", "parameters", "quantization", "does", "context", box=None)
    for m, f in listed:
        does = ", ".join(word for word, able in (("chat", f.chats), ("embed", f.embeds)) if able) if f else "-"
        table.add_row(m.name, f"{m.size / 1e6:.0f} MB", m.family or "-", m.parameter_size or "-", m.quantization or "-",
                      does, f"{f.context_length:,}" if f and f.context_length else "-")
    Console().print(table)
    _stderr(f"[dim]from {client.host}[/dim]")


def _facts(client: ModelServer, name: str) -> Any:
    """What `/api/show` says of a listed model, or None if the server will not say (the listing goes on)."""
    try:
        return client.show(name)
    except ScribeError:
        return None


@app.command()
def pull(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The model, as the server names it, e.g. qwen2.5-coder:1.5b.")],
    as_json: JsonOpt = False,
    host: HostOpt = None,
    engine: EngineOpt = None,
) -> None:
    """Fetch a model onto the model server, with a progress bar (as `ollama pull`).

    Against Ollama it downloads the model. scribe's engine serves the models its installed
    packages bring: it answers at once for one of those, and for another says which package or
    pip extra provides it. `--json` prints only the final status: `{"model", "host", "status",
    "digest"}`.
    """
    ws = _workspace()
    client = _client(ws, host, engine)
    last = _pull_with_bar(client, name, shown=not as_json)
    if last is None or last.status != "success":
        said = f" (last status: {last.status})" if last is not None else ""
        raise ScribeError(f"the pull of '{name}' from {client.host} ended before it succeeded{said}; run it again")
    if as_json:
        _print_json({"model": name, "host": client.host, "status": last.status, "digest": client.digest(name)})
    else:
        _stderr(f"[dim]{_escape(name)} is on {client.host}[/dim]")


def _pull_with_bar(client: ModelServer, name: str, *, shown: bool) -> Any:
    """Run a pull to its end, on stderr: at a terminal a bar for each layer as it comes in, and
    every other status as a line (elsewhere each layer is a line too, with its size). Returns the
    last progress line (None if the server sent none)."""
    from rich.console import Console
    from rich.filesize import decimal
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    console = Console(stderr=True, highlight=False)
    drawn = shown and console.is_terminal
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    last, said = None, None
    with Progress(*columns, console=console, disable=not drawn) as bar:
        layers: dict[str, Any] = {}
        for last in client.pull(name):
            if drawn and last.digest and last.total:
                if last.digest not in layers:
                    layers[last.digest] = bar.add_task(last.status, total=last.total)
                bar.update(layers[last.digest], completed=last.completed or 0)
            elif shown and last.status != said:
                size = f" ({decimal(last.total)})" if last.total else ""
                console.print(f"[dim]{_escape(last.status)}{size}[/dim]")
            said = last.status
    return last


@app.command()
def doctor(as_json: JsonOpt = False, host: HostOpt = None, engine: EngineOpt = None) -> None:
    """Check that scribe can work here: settings, model server, models, embeddings, writable state."""
    from rich.markup import escape

    from scribe.doctor import run_checks

    checks = run_checks(_state["workspace"], host=host, engine=engine, say=_stderr)
    if as_json:
        _print_json([c.__dict__ for c in checks])
    else:
        for check in checks:
            mark = "[green]OK  [/green]" if check.ok else "[red]FAIL[/red]"
            fix = "" if check.ok or not check.fix else f"  [yellow]→ {escape(check.fix)}[/yellow]"
            _stderr(f"{mark} {check.name}: {escape(check.detail)}{fix}")
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


@app.command("index")
def index_notes(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Note folders or files (default: [index] notes in scribe.toml, else notes/, or the whole vault in an Obsidian vault).", show_default=False)] = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Delete the index and build it again from the notes (the notes are never touched).")] = False,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", min=1, help="Chunks per embedding request (default from scribe.toml, else 16).", show_default=False)] = None,
    chroma_url: Annotated[Optional[str], typer.Option("--chroma-url", help="Use the Chroma server at http://HOST:PORT instead of the local store (or SCRIBE_CHROMA_URL).", show_default=False)] = None,
    report: Annotated[bool, typer.Option("--report", help="Then list every file under the notes folders: indexed (chunks, when), skipped (why) or failed (the error), and the totals.")] = False,
    as_json: JsonOpt = False,
    host: HostOpt = None,
    engine: EngineOpt = None,
) -> None:
    """Index the notes for search: only new or changed chunks are embedded; safe to interrupt and re-run.

    Hidden folders (an Obsidian vault's `.obsidian/` and `.trash/`), files matched by `.gitignore` or
    `.scribeignore`, and attachments (images, PDFs, canvases: anything not markdown or text) are
    skipped; `--report` lists them with the reason.
    """
    from rich.console import Console
    from rich.markup import escape

    from scribe.connect import privacy_notice
    from scribe.index import open_index
    from scribe.index_report import build_report, report_lines
    from scribe.linkgraph import dangling_summary
    from scribe.sync import LazyEmbedClient, SyncOptions, sync_notes

    ws = _workspace()
    settings = ws.settings
    roots = paths or [ws.root / folder for folder in settings.index.notes]
    options = SyncOptions(embed_model=settings.embed_model, batch_size=batch_size or settings.index.embed_batch_size,
                          chunk_tokens=settings.index.chunk_tokens, rebuild=rebuild, follow_symlinks=settings.index.follow_symlinks)
    console = Console(stderr=True, highlight=False)
    with open_index(ws, chroma_url) as index, _index_bar(console, shown=console.is_terminal and not as_json) as show_progress:
        notice = privacy_notice(index.location.url) if index.location.url else None
        if notice and settings.warn_remote_host:
            _stderr(notice)
        run = sync_notes(
            index, roots, root=ws.root, client=LazyEmbedClient(lambda: _client(ws, host, engine)), options=options,
            on_progress=show_progress,
            on_warning=lambda message: console.print(f"[yellow]warning:[/yellow] {escape(message)}"),
        )
        files = build_report(index.load_manifest(), ws.root) if report else None
    if as_json:
        _print_json({"run": run.__dict__, **files.to_dict()} if files is not None else run.__dict__)
        return
    if files is not None:
        print("\n".join(report_lines(files)))
    else:
        left_out = ", ".join(f"{n} {what}" for n, what in ((run.files_skipped, "skipped"), (run.files_failed, "failed")) if n)
        print(
            f"{'rebuilt' if run.rebuilt else 'indexed'}: {run.files_scanned} files scanned, {run.files_new} new, "
            f"{run.files_changed} changed, {run.files_removed} removed, {run.chunks_embedded} chunks embedded "
            f"({run.chunks_total} in the index) in {run.total_s:.1f} s"
            + (f"; {run.reembedded} re-embedded with '{settings.embed_model}'" if run.reembedded else "")
            + (f"; {left_out} (see scribe index --report)" if left_out else "")
        )
    for line in dangling_summary(run.dangling_links):
        print(line)


@contextmanager
def _index_bar(console: Any, *, shown: bool) -> Iterator[Callable[[Any], None]]:
    """`scribe index`'s bar on stderr, drawn only when ``shown`` (a terminal, no --json) and gone when the
    run ends; yields the progress callback: chunks embedded of the expected total, elapsed, time left."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from scribe.progress import IndexMeter

    meter = IndexMeter()
    columns = (TextColumn("indexing"), BarColumn(), TextColumn("{task.fields[count]}"), TimeElapsedColumn(), TextColumn("{task.fields[left]}"))
    with Progress(*columns, console=console, transient=True, disable=not shown) as bar:
        task = bar.add_task("index", total=None, count="", left="")

        def show(counts: Any) -> None:  # a scribe.sync.SyncProgress
            reading = meter.read(counts)
            bar.update(task, total=reading.total, completed=reading.done, count=reading.count, left=reading.left)

        yield show


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="Words, a name, an error message or a question.")],
    k: Annotated[int, typer.Option("-k", min=1, help="How many chunks to show.")] = 5,
    tag: Annotated[Optional[list[str]], typer.Option("--tag", help="Only notes with this tag, from the frontmatter or a #tag in the text; 'project' takes 'project/alpha' too (repeat it: all must match).", show_default=False)] = None,
    path: Annotated[Optional[str], typer.Option("--path", help="Only notes whose path matches this glob or folder, e.g. 'sql/*' or notes/kafka.", show_default=False)] = None,
    since: Annotated[Optional[str], typer.Option("--since", help="Only notes whose frontmatter date is on or after YYYY-MM-DD.", show_default=False)] = None,
    mode: Annotated[str, typer.Option("--mode", help="hybrid (vectors and keywords fused), vector or keyword.")] = "hybrid",
    per_file: Annotated[int, typer.Option("--per-file", min=1, help="Most chunks shown from one note.")] = 2,
    chroma_url: Annotated[Optional[str], typer.Option("--chroma-url", help="Search the index in the Chroma server at http://HOST:PORT (or SCRIBE_CHROMA_URL).", show_default=False)] = None,
    as_json: JsonOpt = False,
    host: HostOpt = None,
    engine: EngineOpt = None,
) -> None:
    """Search the notes index: the top chunks with score, path, heading path and a snippet."""
    import datetime as dt

    from rich.console import Console
    from rich.markup import escape

    from scribe.index import open_index
    from scribe.retrieval import MODES, SearchFilters, retrieve

    if mode not in MODES:
        raise ScribeError(f"--mode {mode!r} is not a retrieval mode; use one of: {', '.join(MODES)}")
    try:
        since_date = dt.date.fromisoformat(since).isoformat() if since else None
    except ValueError:
        raise ScribeError(f"--since {since!r} is not a date; write it as YYYY-MM-DD") from None
    ws = _workspace()
    filters = SearchFilters(tags=tuple(tag or ()), path=path, since=since_date)
    with open_index(ws, chroma_url) as index:
        client = None if mode == "keyword" else _client(ws, host, engine)
        sources = retrieve(index, client, query, k=k, filters=filters, mode=mode, per_file=per_file)  # type: ignore[arg-type]
    if sources.notice:
        _stderr(f"[yellow]note:[/yellow] {_escape(sources.notice)}")
    if as_json:
        _print_json([{**s.to_dict(), "snippet": s.snippet(query)} for s in sources])
        return
    console = Console(highlight=False)
    if not sources:
        console.print("no matching notes" + ("; try fewer filters" if filters.active else ""))
    for s in sources:
        console.print(f"[bold]{s.rank}[/bold]  {s.score:.4f}  [cyan]{escape(s.path)}[/cyan]\n   [dim]{escape(s.heading_path)}[/dim]\n   {escape(s.snippet(query))}\n")


@app.command()
def links(
    note: Annotated[str, typer.Argument(help="A note in the index: its path, or its name as a [[link]] gives it (the file name without .md, a partial path or an alias).")],
    as_json: JsonOpt = False,
) -> None:
    """A note's links: the notes it links to, or 'dangling' where no note has that name, and the notes that link to it.

    Read: [[Note]], [[Note#Heading]], [[Note|alias]], ![[embeds]] and markdown links to a relative
    path; links resolve by file name, path or frontmatter aliases, as Obsidian resolves them.
    """
    import os

    from scribe.errors import NotesIndexError
    from scribe.index import open_index
    from scribe.linkgraph import find_note, note_links

    ws = _workspace()
    given = Path(note)
    path = Path(os.path.relpath(given.absolute(), ws.root)).as_posix() if given.is_file() else None
    with open_index(ws) as index:
        if not index.exists():
            raise NotesIndexError(f"there is no notes index in {index.state_dir} yet; build it with `scribe index`")
        found = note_links(index.keyword, find_note(index.keyword, note, path))
    if as_json:
        _print_json({"note": found.path, "links_stored": found.stored, "outgoing": [r.to_dict() for r in found.outgoing],
                     "backlinks": [r.to_dict() for r in found.backlinks]})
        return
    print(found.path)
    if not found.stored:
        print("  (indexed before scribe kept links: run `scribe index` to read them)")
    print(f"links to ({len(found.outgoing)}):")
    for r in found.outgoing:
        print(f"  {r.link.line}: {r.link.markup} -> {r.to or f'dangling: no note named {r.link.target!r}'}")
    print(f"linked from ({len(found.backlinks)}):")
    for r in found.backlinks:
        print(f"  {r.link.source}:{r.link.line}: {r.link.markup}")


DiffOpt = Annotated[bool, typer.Option("--diff", help="Print the run's edits to the draft as a unified diff (`git apply` takes it from the workspace root) instead of the output; the draft is not changed.")]
ModelOpt = Annotated[Optional[list[str]], typer.Option("--model", "-m", help="Model, optionally with options: gemma3:270m@temperature=0.2 (default from config).", show_default=False)]
SourcesOpt = Annotated[int, typer.Option("-k", "--sources", min=0, help="Most note chunks to ground the prompt in (0: none).")]
TagsOpt = Annotated[Optional[list[str]], typer.Option("--tag", help="Ground the prompt only in notes with this tag ('project' takes 'project/alpha' too; repeat it: all must match).", show_default=False)]


@contextmanager
def _task_session(ws: Any, host: str | None, engine: str | None, k: int, tags: list[str] | None = None) -> Iterator[tuple[Any, Any, Any]]:
    """A model client, the run log and retrieval over the notes index (None without an index), kept to notes with `tags`."""
    from scribe.index import open_index
    from scribe.retrieval import SearchFilters, SharedRetrieval, keyword_only_notice
    from scribe.runlog import RunLog

    client = _client(ws, host, engine)
    with open_index(ws) as index, RunLog(ws.ensure_state_dir() / "runs.sqlite") as runlog:
        retrieval = None
        if k > 0 and index.exists():
            retrieval = SharedRetrieval(index, SearchFilters(tags=tuple(tags or ())))
            if notice := keyword_only_notice(index):
                _stderr(f"[yellow]note:[/yellow] {_escape(notice)}")
        elif k > 0:
            _stderr("[yellow]note:[/yellow] no notes index yet, so no sources; build it with: scribe index")
        yield client, runlog, retrieval


def _run_task(task: str, draft_path: Path | None, *, topic: str | None = None, section: str | None = None,
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


@app.command()
def outline(
    draft: Annotated[Optional[Path], typer.Argument(help="The draft to outline (or use --topic).", show_default=False)] = None,
    topic: Annotated[Optional[str], typer.Option("--topic", help="Outline a topic instead of a draft.", show_default=False)] = None,
    sections: Annotated[int, typer.Option(min=1, max=20, help="How many sections to ask for.")] = 5,
    model: ModelOpt = None,
    k: SourcesOpt = 6,
    tag: TagsOpt = None,
    as_json: JsonOpt = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Also write the outline to this file (an existing one is backed up).", show_default=False)] = None,
    host: HostOpt = None,
    engine: EngineOpt = None,
) -> None:
    """A markdown outline (headings and bullets) for a draft or a topic, grounded in your notes."""
    if draft is None and not topic:
        raise ScribeError("give a draft to outline, or --topic \"...\"")
    _run_task("outline", draft, topic=topic, sections=sections, model=model, k=k, as_json=as_json, out=out, host=host, engine=engine, tags=tag)


@app.command()
def expand(
    draft: Annotated[Path, typer.Argument(help="The draft to expand.")],
    section: Annotated[Optional[str], typer.Option("--section", help="The heading of the section to expand (default: the whole draft).", show_default=False)] = None,
    words: Annotated[int, typer.Option(min=20, help="About how many words to write.")] = 250,
    in_place: Annotated[bool, typer.Option("--in-place", help="Write the result into the draft (a timestamped .bak copy is kept).")] = False,
    diff: DiffOpt = False,
    model: ModelOpt = None,
    k: SourcesOpt = 6,
    tag: TagsOpt = None,
    as_json: JsonOpt = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Also write the new text to this file.", show_default=False)] = None,
    host: HostOpt = None,
    engine: EngineOpt = None,
) -> None:
    """New prose for one section of a draft (or the whole draft), grounded in your notes.

    `--in-place` writes it into the draft; `--diff` prints it as a patch instead, and
    `scribe review DRAFT` then takes it change by change.
    """
    from scribe.files import atomic_write, backup
    from scribe.tasks import apply_expansion, load_draft

    if diff and in_place:
        raise ScribeError("--diff prints the edits and --in-place makes them; pick one (or review them: scribe review DRAFT)")
    result = _run_task("expand", draft, section=section, words=words, model=model, k=k, as_json=as_json, out=out, host=host, engine=engine,
                       diff=diff, tags=tag)
    if in_place:
        ws = _workspace()
        current = load_draft(draft, ws.root)
        text = draft.read_text(encoding="utf-8-sig")
        cut_off = result.call.metrics.done_reason == "length"
        updated = apply_expansion(text, current.body, section, result.call.text, cut_off=cut_off)
        kept = backup(draft)
        atomic_write(draft, updated)
        if cut_off:
            _stderr("[yellow]note:[/yellow] the expansion was cut off by the token limit (num_predict), so the draft got it "
                    "only up to its last complete sentence (or marked where it stops); for the rest raise it: --model NAME@num_predict=1024")
        _stderr(f"updated {draft} (previous version kept as {kept.name})")


@app.command()
def critique(
    drafts: Annotated[list[Path], typer.Argument(help="One or more drafts.")],
    model: ModelOpt = None,
    k: SourcesOpt = 6,
    tag: TagsOpt = None,
    as_json: JsonOpt = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="One draft and model: a file for the critique. Several: a folder for one file per draft and model plus summary.json.", show_default=False)] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Batch: how many calls run at once.")] = 2,
    host: Annotated[Optional[list[str]], typer.Option("--host", help="Model server URL; repeat it to spread a batch over several servers.", show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Batch: redo items whose result is already in --out.")] = False,
    diff: DiffOpt = False,
    engine: EngineOpt = None,
) -> None:
    """A structured critique: issues with severity, the exact quote, the problem and a fix.

    With several drafts, models (`--model A --model B`) or hosts it runs as a resumable batch into
    `--out` (default `critiques/`), skipping results already there for the same draft text, model
    and prompt version.

    `--diff` prints the rewrites the issues propose as a patch instead: `scribe critique d.md --diff
    | git apply` takes them all, `scribe review d.md` one by one.
    """
    batch = len(drafts) > 1 or len(model or []) > 1 or len(host or []) > 1 or (out is not None and (out.is_dir() or str(out).endswith("/")))
    if not batch:
        _run_task("critique", drafts[0], model=model, k=k, as_json=as_json, out=out, host=(host or [None])[0], engine=engine, diff=diff, tags=tag)
        return
    if diff:
        raise ScribeError("--diff works on one draft with one model and host; review a batch's critiques with: scribe review DRAFT --run ID")
    _critique_batch(drafts, model=model, k=k, as_json=as_json, out=out or Path("critiques"), jobs=jobs, hosts=host, force=force, engine=engine,
                    tags=tag)


def _critique_batch(drafts: list[Path], *, model: list[str] | None, k: int, as_json: bool, out: Path, jobs: int,
                    hosts: list[str] | None, force: bool, engine: str | None, tags: list[str] | None) -> None:
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


def _progress_bar() -> Any:
    """A Rich progress bar on stderr, drawn only on a terminal and gone when done; a row's
    description names the step."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(stderr=True, highlight=False)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, console=console, transient=True, disable=not console.is_terminal)


@app.command("run")
def run_template(
    template: Annotated[str, typer.Argument(help="A template name from `scribe prompts` (e.g. one you added in prompts/).")],
    draft: Annotated[Optional[Path], typer.Argument(help="The draft it works on.", show_default=False)] = None,
    topic: Annotated[Optional[str], typer.Option("--topic", show_default=False, help="A topic, for templates that take one.")] = None,
    section: Annotated[Optional[str], typer.Option("--section", show_default=False, help="Work on this section only.")] = None,
    model: ModelOpt = None,
    k: SourcesOpt = 6,
    tag: TagsOpt = None,
    as_json: JsonOpt = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Also write the output to this file.", show_default=False)] = None,
    diff: DiffOpt = False,
    host: HostOpt = None,
    engine: EngineOpt = None,
) -> None:
    """Run any task template, including your own from the workspace's prompts/ folder.

    `scribe run rewrite d.md --section "Retries" --diff` prints a tightened section as a patch
    (critique, expand and rewrite runs have one); `scribe review d.md` takes it change by change.
    """
    _run_task(template, draft, topic=topic, section=section, model=model, k=k, as_json=as_json, out=out, host=host, engine=engine,
              diff=diff, tags=tag)


@app.command()
def review(
    draft: Annotated[Path, typer.Argument(help="The draft whose suggested edits to review.")],
    run_id: Annotated[Optional[int], typer.Option("--run", help="Review this run's edits (default: the latest critique, expand or rewrite of the draft).", show_default=False)] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Accept every edit without asking, for scripts; if one no longer fits the draft, none is applied.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the edits and your decisions as JSON. Without --yes and without a terminal it only lists the edits.")] = False,
) -> None:
    """Review a run's suggested edits one by one, like tracked changes: accept, reject or edit each.

    Each edit shows as a word diff (deleted words struck out, new ones green) with the problem it
    fixes; answer **a** accept, **r** reject, **e** edit the new text first, **q** quit (what you
    accepted so far is kept). The accepted edits go into the draft together at the end, with a
    timestamped `.bak` copy beside it, and every decision goes in the run log, where `scribe report`
    counts what you kept per model. An edit whose words are no longer in the draft is skipped.

    - `scribe critique d.md`, then `scribe review d.md`: walk the critique's rewrites
    - `scribe review d.md --yes`: accept them all, as a script would
    - `scribe review d.md --json`: list them (with `--yes`: accept, then print the decisions)
    - `scribe review d.md --run 12`: run 12's edits, not the latest run's (`scribe log` lists runs)
    """
    from scribe.runlog import RunLog
    from scribe.suggestions import accept_all, suggestions_for
    from scribe.tasks import load_draft
    from scribe.terminal_review import apply_decisions, review_json, walk

    ws = _workspace()
    current = load_draft(draft, ws.root)
    ask_for = f"scribe critique {draft}"
    if not ws.runlog_path.is_file():
        raise ScribeError(f"no suggested edits for {current.rel_path} yet; get some with: {ask_for}")
    with RunLog(ws.runlog_path) as runlog:
        found = suggestions_for(runlog, current.rel_path, current.body, run_id=run_id, ask_for=ask_for)
        if as_json and not yes and not sys.stdin.isatty():
            _print_json(review_json(found, [], None))
            return
        pending = found.pending()
        if not pending:
            raise ScribeError(f"every edit run {found.run.id} proposed for {current.rel_path} was reviewed already; for new ones: {ask_for}")
        decided = accept_all(found, current.rel_path, current.body) if yes else walk(found, pending, current, err=as_json)
        kept = apply_decisions(draft, decided)
        for _, decision in decided:
            runlog.add_decision(decision)
    if as_json:
        _print_json(review_json(found, decided, kept))
        return
    taken, stale = sum(1 for _, d in decided if d.kept), sum(1 for _, at in pending if at is None)
    left = len(pending) - len(decided) - stale
    tally = f"{taken} accepted, {len(decided) - taken} rejected" + (f", {stale} stale" if stale else "") + (f", {left} left for later" if left > 0 else "")
    _stderr(f"updated {_escape(str(draft))}: {tally} (previous version kept as {_escape(kept.name)})" if kept
            else f"{_escape(str(draft))} unchanged: {tally}")


@app.command()
def prompts(as_json: JsonOpt = False) -> None:
    """List the task templates: packaged ones and the workspace's prompts/ (which override them)."""
    from rich.console import Console
    from rich.table import Table

    from scribe.prompts import find_templates

    ws = _workspace()
    templates = find_templates(ws.root)
    if as_json:
        _print_json([{"name": t.name, "description": t.description, "path": str(t.path), "version": t.version,
                      "output": t.output, "options": t.options, "variables": list(t.variables)} for t in templates.values()])
        return
    table = Table("name", "output", "version", "description", "file", box=None)
    for t in templates.values():
        table.add_row(t.name, t.output, t.version, t.description, str(t.path))
    Console().print(table)


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
        result = run_bench(client, runlog, config, retrieve=retrieval.using(client) if retrieval else None, out=out,
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
                            settings=settings, templates=templates, retrieve=retrieval.using(client) if retrieval else None,
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


@cache
def _command() -> Callable[..., Any]:
    """The Click command tree, built once a process. Typer rebuilds it from the signatures on every
    call, which costs more than most commands when `main` runs many times in one process (the tests)."""
    return typer.main.get_command(app)


def main() -> None:
    """Entry point: ScribeErrors become one line on stderr and a non-zero exit (tracebacks with --debug)."""
    try:
        _command()()
    except ScribeError as exc:
        _close_open_line()
        if _state["debug"]:
            raise
        from rich.markup import escape

        _stderr(f"[red]error:[/red] {escape(str(exc))}")
        sys.exit(1)
    except SystemExit as exc:
        if exc.code == 130:  # Typer turns Ctrl-C into a silent exit 130 before it gets here
            _close_open_line()
            _stderr("interrupted: what finished is kept; run the same command again to go on")
        raise
    except KeyboardInterrupt:  # a Ctrl-C that Typer did not see (outside the command itself)
        _close_open_line()
        _stderr("interrupted: what finished is kept; run the same command again to go on")
        sys.exit(130)
