"""`scribe serve`: run the engine in the foreground, or show (`status`) and stop (`stop`) this
workspace's background engine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from scribe.cli.common import JsonOpt, _print_json, _workspace, serve_app
from scribe.errors import ScribeError


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
