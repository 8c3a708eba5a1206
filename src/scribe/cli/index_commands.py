"""`scribe index`, `scribe search` and `scribe links`: build the notes index and read it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from scribe.cli.common import EngineOpt, HostOpt, JsonOpt, _client, _escape, _print_json, _stderr, _workspace, app
from scribe.errors import ScribeError


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
