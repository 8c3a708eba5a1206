"""What every `scribe` command shares: the Typer apps and their common options, the root callback,
how a command opens the workspace, a model server and a task's session, and how output is printed.

Heavy modules (chromadb, llama_cpp, textual, even the ollama client) are imported inside the
functions that need them, so `scribe --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from scribe.loops import LOOPING

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
serve_app = typer.Typer(invoke_without_command=True, subcommand_metavar="[COMMAND]")
app.add_typer(serve_app, name="serve")

_state: dict[str, Any] = {"workspace": None, "debug": False, "open_line": None}

WorkspaceOpt = Annotated[
    Optional[Path],
    typer.Option("--workspace", "-w", help="Workspace folder (default: nearest folder with scribe.toml or .scribe/, else the current one).", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")]
HostOpt = Annotated[Optional[str], typer.Option("--host", help="Model server URL; skips engine selection.", show_default=False)]
EngineOpt = Annotated[Optional[str], typer.Option("--engine", help="auto, ollama or embedded (default from scribe.toml, else auto).", show_default=False)]
ModelOpt = Annotated[Optional[list[str]], typer.Option("--model", "-m", help="Model, optionally with options: gemma3:270m@temperature=0.2 (default from config).", show_default=False)]
SourcesOpt = Annotated[int, typer.Option("-k", "--sources", min=0, help="Most note chunks to ground the prompt in (0: none).")]


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


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


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
    if m.done_reason == LOOPING:
        parts.append("stopped: the model began repeating itself")
    if run is not None and run.conversation_id:
        parts.append(f"conversation {run.conversation_id}" + (f" turn {run.turn}" if (run.turn or 1) > 1 else ""))
    return " · ".join(parts)


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
