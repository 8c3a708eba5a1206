"""`scribe index`: bring the index in step with the notes, embedding only what is new.

Files whose size and mtime match the manifest are not read; the others are hashed, and only a
different hash makes a file changed. A changed file's chunks whose ids the index already holds keep
their vectors (their metadata is refreshed); only new chunk ids are embedded, in batches through the
client layer. The commit order that makes this safe to kill is described in ``scribe.index``.

When ``embed_model`` no longer names the model the vectors came from (or the model now returns
vectors of another dimension), every chunk is re-embedded from the text the keyword store holds, the
notes are not read again, and the index switches over once all are done (``_Sync._reembed``).
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import datetime as dt
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from scribe.chunking import Chunk, chunk_markdown
from scribe.errors import NotesIndexError
from scribe.fts import ChunkRow, FileRecord, iso_date
from scribe.index import LOCK_WAIT_S, NotesIndex
from scribe.linkgraph import dangling, dangling_line
from scribe.links import Link, NoteName, parse_links
from scribe.manifest import REBUILD_HINT, ChunkPlan, FileEntry, FileStat, Manifest, diff_files, plan_chunks, save_manifest
from scribe.notes import Note, Skip, discover_notes, parse_note

# A note over this size is almost certainly not prose (a log, a dump); embedding it would take hours.
MAX_NOTE_BYTES = 1_000_000
# How often the manifest is saved mid-run: the most work a kill can lose.
SAVE_EVERY_S = 2.0
# Skips worth a warning as they happen; the rest (attachments, hidden folders...) are expected in a
# vault and listed by `scribe index --report`.
WARNED_SKIPS = frozenset({"symlink", "too_large", "unreadable"})
_INT64 = 2**63

MetadataValue = str | int | float | bool | list[str]


class EmbedClient(Protocol):
    """What indexing needs from a model server; ``scribe.models.ModelServer`` is one."""

    def embed(self, model: str, texts: Sequence[str], *, batch_size: int = 64) -> list[list[float]]: ...


class LazyEmbedClient:
    """Connects on the first embed, so a run with nothing new to embed never starts a model server."""

    def __init__(self, connect: Callable[[], EmbedClient]) -> None:
        self._connect = connect
        self._client: EmbedClient | None = None

    def embed(self, model: str, texts: Sequence[str], *, batch_size: int = 64) -> list[list[float]]:
        if self._client is None:
            self._client = self._connect()
        return self._client.embed(model, texts, batch_size=batch_size)


@dataclass(frozen=True)
class SyncOptions:
    embed_model: str
    batch_size: int = 16
    chunk_tokens: int = 350
    rebuild: bool = False
    follow_symlinks: bool = False  # links out of the workspace (`notes.discover_notes`)


@dataclass(frozen=True)
class SyncProgress:
    """Counts for a progress display (``scribe.progress`` reads them): the chunks a run will embed are
    known only once every changed file is read, so it reports the chunks found and bytes read so far."""

    files_total: int
    files_done: int
    chunks_embedded: int
    chunks_found: int  # to embed: new chunks in the files read so far, and any to re-embed
    bytes_read: int  # of the files that may have changed (new, or size or mtime differ)
    bytes_total: int


@dataclass
class SyncReport:
    """What a run did, for the summary line, `--json` and the benchmark (times in seconds).

    ``reembedded``: chunks embedded again because the embed model or its dimension changed (they
    count in ``chunks_embedded`` too). ``files_skipped``: paths left out (a hidden or ignored folder
    counts once); ``files_failed``: notes that could not be read.
    """

    files_scanned: int = 0
    files_unchanged: int = 0
    files_new: int = 0
    files_changed: int = 0
    files_removed: int = 0
    files_skipped: int = 0
    files_failed: int = 0
    chunks_embedded: int = 0
    chunks_kept: int = 0
    chunks_removed: int = 0
    chunks_total: int = 0
    orphans_removed: int = 0
    rebuilt: bool = False
    reembedded: int = 0
    warnings: list[str] = field(default_factory=list)
    dangling_links: list[str] = field(default_factory=list)  # in the whole index, one line each (`linkgraph.dangling_line`)
    parse_s: float = 0.0
    embed_s: float = 0.0
    store_s: float = 0.0
    total_s: float = 0.0


def sync_notes(
    index: NotesIndex,
    paths: Sequence[Path],
    *,
    root: Path,
    client: EmbedClient,
    options: SyncOptions,
    on_progress: Callable[[SyncProgress], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    lock_wait_s: float = LOCK_WAIT_S,
) -> SyncReport:
    """Index the notes under ``paths`` (folders or files; relative ones to the cwd) into ``index``.

    Paths in the index are relative to the workspace ``root``. Files under ``paths`` that are gone
    are removed; the rest of the index is left alone.
    """
    for path in paths:  # before the lock, which creates .scribe/: a mistyped path must not make a workspace
        if not path.exists():
            raise NotesIndexError(
                f"{path.absolute()}: no such file or folder; pass notes folders or files that exist, or set [index] notes in scribe.toml"
            )
    with index.writer_lock(lock_wait_s):
        return _Sync(index, root, client, options, on_progress, on_warning).run(paths)


@dataclass
class _Work:
    """A changed file, parsed and chunked, waiting for its new chunks' vectors."""

    rel: str
    note: Note
    chunks: list[Chunk]
    plan: ChunkPlan


class _Sync:
    def __init__(
        self,
        index: NotesIndex,
        root: Path,
        client: EmbedClient,
        options: SyncOptions,
        on_progress: Callable[[SyncProgress], None] | None,
        on_warning: Callable[[str], None] | None,
    ) -> None:
        self.index = index
        self.root = root.absolute()
        self.client = client
        self.options = options
        self.on_progress = on_progress
        self.on_warning = on_warning
        self.report = SyncReport()
        self.manifest = Manifest()  # loaded in run(), after --rebuild has wiped a damaged one
        self.queue: list[_Work] = []
        self.queued_chunks = 0
        self.in_flight: set[str] = set()
        self.marked = False
        self.manifest_dirty = False
        self.deferred_ids: list[str] = []
        self.deferred_paths: list[str] = []
        self.skipped: dict[str, Skip] = {}  # this run's, by workspace-relative path
        self.stores_open = False
        self.last_save = time.perf_counter()
        self.files_total = 0
        self.files_done = 0
        self.chunks_found = 0
        self.bytes_read = 0
        self.bytes_total = 0

    # --- the run ---------------------------------------------------------------------------------

    def run(self, paths: Sequence[Path]) -> SyncReport:
        started = time.perf_counter()
        if self.options.rebuild:
            self.index.wipe()
            self.report.rebuilt = True
        self.manifest = self.index.load_manifest()
        self._check_manifest()
        pending = self.index.read_pending()
        try:
            # A keyword store that lost rows (or cannot be opened: that raises with the fix) is
            # repaired by the same reconcile; counting its rows is cheap, unlike loading Chroma.
            out_of_step = self.index.keyword.chunk_count() != self.manifest.chunk_count()
            switching = self.manifest.embed_model not in (None, self.options.embed_model)
            if pending is not None or not self.index.manifest_path.exists() or out_of_step or switching:
                self._open_stores(reconciling=True)
                self._settle_staged()
                self.report.orphans_removed = self.index.reconcile(self.manifest, pending or [])
                self.marked = pending is not None
                self.manifest_dirty = True
                held = self.index.vectors.embedding_model()[0]
                if held is None:  # no vectors (any more), so no model or dimension to keep to
                    self.manifest.embed_model = self.manifest.dimension = None
                elif held != self.options.embed_model:
                    self._reembed(f"embed model changed from '{held}' to '{self.options.embed_model}'")
            t = time.perf_counter()
            self._read_unlinked()
            found, in_scope = self._scan(paths)
            diff = diff_files(found, self.manifest, in_scope)
            self.report.parse_s += time.perf_counter() - t
            self.report.files_scanned = len(found)
            self.report.files_unchanged = len(diff.unchanged)
            self.files_total, self.files_done = len(found), len(diff.unchanged)
            self.bytes_total = sum(stat.size for stat in diff.to_check)
            self._progress()
            for stat in diff.to_check:
                self._check_file(stat)
            self._flush()
            for rel in diff.removed:
                self._remove(rel)
            self._record_skips(in_scope)
            if self.manifest_dirty or self.deferred_ids or self.deferred_paths:
                self._save()
            if self.marked:
                self.index.clear_pending()
        except BaseException:
            # Ctrl-C, a model server gone, a full disk: keep what is committed (every entry in memory
            # has its chunks in both stores); index.pending makes the next run clean up the rest.
            if self.manifest_dirty:
                with contextlib.suppress(Exception):
                    self._save_manifest()
            raise
        self.report.chunks_total = self.manifest.chunk_count()
        self.report.dangling_links = [dangling_line(link) for link in dangling(self.index.keyword)]
        self.report.total_s = time.perf_counter() - started
        return self.report

    def _read_unlinked(self) -> None:
        """Files indexed before the keyword store kept links are read again: their links are stored and
        their chunks kept (the same ids), so nothing is embedded again."""
        for rel in self.index.keyword.unlinked_paths() & self.manifest.files.keys():
            entry = self.manifest.files[rel]
            entry.size, entry.mtime_ns, entry.content_hash = -1, -1, ""

    def _check_manifest(self) -> None:
        label = self.index.location.label
        if self.manifest.store is not None and self.manifest.store != label:
            raise NotesIndexError(
                f"the index in {self.index.state_dir} was built in Chroma store '{self.manifest.store}', not '{label}'; "
                "run `scribe index --rebuild` to build it there"
            )

    def _open_stores(self, *, reconciling: bool = False) -> None:
        if self.stores_open:
            return
        model, _ = self.index.vectors.embedding_model()
        if not reconciling and model not in (None, self.options.embed_model):  # switching models starts with a reconcile
            raise _model_switch(str(model), self.options.embed_model)
        if not reconciling and not self.index.vectors.exists and self.manifest.chunk_count():
            raise NotesIndexError(
                f"{self.index.location.describe()} no longer holds this index's vectors; "
                "run `scribe index --rebuild` to rebuild the index from your notes"
            )
        self.index.keyword.chunk_count()  # open (and check) the keyword store now, not mid-write
        self.stores_open = True

    def _settle_staged(self) -> None:
        """Finish what a killed re-embed left: a staged collection the saved manifest names replaces the
        index's. One it does not name is kept only if this run resumes it: it holds the configured model
        and the index's vectors are another model's; otherwise it is dropped."""
        staged = self.index.staged_vectors
        if not staged.exists:
            return
        model, dimension = staged.embedding_model()
        if (model, dimension) == (self.manifest.embed_model, self.manifest.dimension):
            self.index.promote_staged()
        elif model != self.options.embed_model or self.index.vectors.embedding_model()[0] in (None, model):
            self.index.drop_staged()

    def _reembed(self, reason: str) -> None:
        """Re-embed every chunk the manifest names with ``embed_model``, then switch the index to the new vectors.

        The new vectors fill a staged collection beside the index's (texts from the keyword store,
        metadata copied from the old vectors), so no search compares one model's query vector with
        another's vectors: until the switch, retrieval sees the old model and is keyword-only. The
        switch is the manifest save naming the new model and dimension; then the staged collection
        replaces the index's. ``index.pending`` is marked first, so after a kill the next run
        promotes a staged collection the manifest names, or resumes filling it (ids it holds are
        not embedded again).
        """
        self._open_stores()
        self._mark([])
        staged = self.index.staged_vectors
        ids = sorted(self.manifest.chunk_ids())
        done = staged.ids()
        staged.delete(sorted(done - set(ids)))
        todo = [chunk_id for chunk_id in ids if chunk_id not in done]
        self.chunks_found += len(todo)
        self._warn(f"{reason}: re-embedding {len(todo)} chunks; search is keyword-only until this finishes")
        size = self.options.batch_size
        for start in range(0, len(todo), size):
            batch = todo[start : start + size]
            texts, metadatas = self.index.keyword.chunks(batch), self.index.vectors.metadatas(batch)
            if len(texts) < len(batch) or len(metadatas) < len(batch):
                raise NotesIndexError(f"the index lost chunks while they were re-embedded; {REBUILD_HINT}")
            vectors = self._embed_batch([texts[chunk_id].text for chunk_id in batch])
            if not staged.exists:
                staged.create(self.options.embed_model, len(vectors[0]))
            staged.upsert(batch, vectors, [metadatas[chunk_id] for chunk_id in batch])
            self.report.reembedded += len(batch)
        self.manifest.embed_model, self.manifest.dimension = self.options.embed_model, staged.embedding_model()[1]
        self._save()  # the switch
        if staged.exists:
            self.index.promote_staged()
        else:  # nothing to re-embed: the old collection holds no chunk the manifest names
            self.index.vectors.drop_collection()

    # --- finding and reading files ---------------------------------------------------------------

    def _scan(self, paths: Sequence[Path]) -> tuple[list[FileStat], Callable[[str], bool]]:
        roots = [path.absolute() for path in paths]
        scopes = [(_relative(path, self.root), path.is_dir()) for path in roots]

        def in_scope(rel: str) -> bool:
            return any(rel == s or (is_dir and (s == "." or rel.startswith(s + "/"))) for s, is_dir in scopes)

        found = []
        def skipped(path: Path, skip: Skip) -> None:
            self._skip(_relative(path, self.root) + ("/" if path.is_dir() else ""), skip)

        for path in discover_notes(roots, root=self.root, follow_symlinks=self.options.follow_symlinks, on_skip=skipped):
            rel = _relative(path, self.root)
            try:
                stat = path.stat()
            except OSError as exc:
                self._skip(rel, Skip("unreadable", f"cannot read ({exc.strerror})"))
                continue
            if stat.st_size > MAX_NOTE_BYTES:
                self._skip(rel, Skip("too_large", f"{stat.st_size / 1e6:.1f} MB is over the {MAX_NOTE_BYTES / 1e6:.0f} MB scribe indexes for a note"))
                continue
            found.append(FileStat(rel, path, stat.st_size, stat.st_mtime_ns))
        return found, in_scope

    def _check_file(self, stat: FileStat) -> None:
        t = time.perf_counter()
        work = self._read(stat)
        self.report.parse_s += time.perf_counter() - t
        self.bytes_read += stat.size
        if work is None:
            self._file_done()
            return
        self.chunks_found += len(work.plan.to_embed)
        self._progress()  # the expected total shows before the first embed, which may wait on a model loading
        self.queue.append(work)
        self.queued_chunks += len(work.plan.to_embed)
        if self.queued_chunks >= self.options.batch_size:
            self._flush()

    def _read(self, stat: FileStat) -> _Work | None:
        """Parse and chunk a file that may have changed; None when there is nothing to embed or write."""
        try:
            note = parse_note(stat.path, root=self.root)
        except OSError as exc:
            self._skip(stat.rel_path, Skip("unreadable", f"cannot read ({exc.strerror})"))
            return None
        entry = self.manifest.files.get(stat.rel_path)
        if note is None:  # empty, whitespace-only or binary: not a note (any more)
            self._skip(stat.rel_path, Skip("empty", "empty, or only white space"))
            if entry is not None:
                self._remove(stat.rel_path)
            return None
        for warning in note.warnings:
            self._warn(warning)
        if entry is not None and entry.content_hash == note.content_hash:
            entry.size, entry.mtime_ns = note.size, note.mtime_ns  # touched, not changed
            self.manifest_dirty = True
            self.report.files_unchanged += 1
            return None
        chunks = chunk_markdown(note.body, path=stat.rel_path, title=note.title, budget=self.options.chunk_tokens)
        if entry is None:
            self.report.files_new += 1
        else:
            self.report.files_changed += 1
        return _Work(stat.rel_path, note, chunks, plan_chunks(entry.chunk_ids if entry is not None else [], chunks))

    # --- writing ---------------------------------------------------------------------------------

    def _flush(self) -> None:
        """Embed the queued files' new chunks, write them to both stores, then commit their entries."""
        if not self.queue:
            return
        new = [(work, chunk) for work in self.queue for chunk in work.plan.to_embed]
        vectors = self._embed([chunk.text for _, chunk in new])
        t = time.perf_counter()
        self._open_stores()
        store = self.index.vectors
        if vectors and not store.exists:
            store.create(self.options.embed_model, len(vectors[0]))
        self._mark([work.rel for work in self.queue])
        store.upsert([c.id for _, c in new], vectors, [chunk_metadata(w.note, c) for w, c in new])
        kept = [(work, chunk) for work in self.queue for chunk in work.plan.kept]
        store.replace_metadata([c.id for _, c in kept], [chunk_metadata(w.note, c) for w, c in kept])
        self.index.keyword.write([(file_record(w.rel, w.note), [chunk_row(c) for c in w.chunks]) for w in self.queue],
                                 [note_links(w.rel, w.note, w.chunks) for w in self.queue])
        indexed_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        for work in self.queue:
            self.manifest.files[work.rel] = FileEntry(
                size=work.note.size, mtime_ns=work.note.mtime_ns, content_hash=work.note.content_hash,
                chunk_ids=[chunk.id for chunk in work.chunks], indexed_at=indexed_at, warnings=list(work.note.warnings),
            )
            self.deferred_ids.extend(work.plan.stale)
            self.report.chunks_kept += len(work.plan.kept)
            self.report.chunks_removed += len(work.plan.stale)
        self.manifest_dirty = True
        done = len(self.queue)
        self.queue.clear()
        self.queued_chunks = 0
        self.report.store_s += time.perf_counter() - t
        self._file_done(done)
        if time.perf_counter() - self.last_save >= SAVE_EVERY_S:
            self._save()

    def _embed(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        size = self.options.batch_size
        for start in range(0, len(texts), size):
            batch = self._embed_batch(texts[start : start + size])
            self._check_dimension(batch)
            vectors.extend(batch)
        return vectors

    def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        t = time.perf_counter()
        vectors = self.client.embed(self.options.embed_model, texts, batch_size=self.options.batch_size)
        self.report.embed_s += time.perf_counter() - t
        self.report.chunks_embedded += len(vectors)
        self._progress()
        return vectors

    def _check_dimension(self, vectors: list[list[float]]) -> None:
        """The model now returns another dimension than the index holds (the server's model was
        swapped under the same name): re-embed what is committed, so these vectors fit."""
        if not vectors:
            return
        dimension = len(vectors[0])
        held = self.manifest.dimension or self.index.vectors.embedding_model()[1]
        if held is not None and held != dimension:
            model = self.options.embed_model
            self._reembed(f"'{model}' now returns {dimension}-dimension vectors, not the {held}-dimension ones the index holds")
        self.manifest.embed_model, self.manifest.dimension = self.options.embed_model, dimension

    def _remove(self, rel: str) -> None:
        entry = self.manifest.files.pop(rel)
        self.deferred_ids.extend(entry.chunk_ids)
        self.deferred_paths.append(rel)
        self.report.files_removed += 1
        self.report.chunks_removed += len(entry.chunk_ids)
        self.manifest_dirty = True

    def _mark(self, paths: list[str]) -> None:
        """Record that the stores are about to change, and for which files, before changing them."""
        self.in_flight.update(paths)
        self.index.mark_pending(sorted(self.in_flight))
        self.marked = True

    def _save(self) -> None:
        """Save the manifest, then delete the chunks it no longer names (never the other way round)."""
        t = time.perf_counter()
        self._save_manifest()
        self.in_flight.clear()
        if self.deferred_ids or self.deferred_paths:
            self._open_stores()
            if not self.marked:
                self._mark([])
            self.index.vectors.delete(self.deferred_ids)
            self.index.keyword.delete(self.deferred_ids, self.deferred_paths)
            self.deferred_ids, self.deferred_paths = [], []
        self.last_save = time.perf_counter()
        self.report.store_s += self.last_save - t

    def _save_manifest(self) -> None:
        self.manifest.store = self.index.location.label
        if self.manifest.embed_model is None:
            self.manifest.embed_model = self.options.embed_model
        save_manifest(self.index.manifest_path, self.manifest)
        self.manifest_dirty = False

    # --- reporting -------------------------------------------------------------------------------

    def _skip(self, rel: str, skip: Skip) -> None:
        self.skipped[rel] = skip
        if skip.failed:
            self.report.files_failed += 1
        else:
            self.report.files_skipped += 1
        if skip.reason in WARNED_SKIPS:
            self._warn(f"{rel}: {skip.detail}; skipped")

    def _record_skips(self, in_scope: Callable[[str], bool]) -> None:
        """Keep this run's skips in the manifest in place of the last ones under the paths it scanned."""
        skipped = {rel: skip for rel, skip in self.manifest.skipped.items() if not in_scope(rel)} | self.skipped
        if skipped != self.manifest.skipped:
            self.manifest.skipped = skipped
            self.manifest_dirty = True

    def _warn(self, message: str) -> None:
        self.report.warnings.append(message)
        if self.on_warning is not None:
            self.on_warning(message)

    def _file_done(self, n: int = 1) -> None:
        self.files_done += n
        self._progress()

    def _progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(SyncProgress(self.files_total, self.files_done, self.report.chunks_embedded,
                                          self.chunks_found, self.bytes_read, self.bytes_total))


def _model_switch(held: str, wanted: str) -> NotesIndexError:
    return NotesIndexError(
        f"the index holds vectors from embed model '{held}' but embed_model is now '{wanted}'; "
        f"run `scribe index --rebuild` to re-embed every note with '{wanted}' (vectors from two models cannot be mixed)"
    )


def _relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` as posix text (string work: this runs for every file, every run)."""
    text, prefix = str(path), str(root).rstrip(os.sep) + os.sep
    if text.startswith(prefix):
        return text[len(prefix) :].replace(os.sep, "/")
    return Path(os.path.relpath(path, root)).as_posix()


# --- records for the stores (pure) ---------------------------------------------------------------


def chunk_metadata(note: Note, chunk: Chunk) -> dict[str, MetadataValue]:
    """A chunk's Chroma metadata: every frontmatter field Chroma can hold, then the chunk's own fields.

    Chroma takes str/int/float/bool or a non-empty list of one type and rejects keys starting with
    ``chroma:``: those keys, empty lists and non-finite floats are dropped, and integers beyond 64
    bits kept as text. The chunk's own fields (path, title, heading path...) win over frontmatter.
    """
    metadata: dict[str, MetadataValue] = {}
    for key, value in note.metadata.items():
        if key.startswith("chroma:") or (isinstance(value, list) and not value):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            continue
        if isinstance(value, int) and not isinstance(value, bool) and not -_INT64 <= value < _INT64:
            value = str(value)
        metadata[key] = value
    for key in ("tags", "tag", "aliases", "alias"):
        metadata.pop(key, None)
    if note.tags:
        metadata["tags"] = list(note.tags)
    if note.aliases:
        metadata["aliases"] = list(note.aliases)
    for key, text in (("date", note.date), ("status", note.status)):
        metadata.pop(key, None)
        if text:
            metadata[key] = text
    metadata.update(
        path=chunk.path, title=note.title, heading_path=chunk.heading_path,
        ordinal=chunk.ordinal, token_count=chunk.token_count,
    )
    return metadata


def file_record(rel: str, note: Note) -> FileRecord:
    return FileRecord(path=rel, title=note.title, tags=list(note.tags), date=iso_date(note.date))


def note_links(rel: str, note: Note, chunks: Sequence[Chunk]) -> tuple[NoteName, list[Link]]:
    """A note's name for link resolution and its links, each with the chunk holding it: the chunk
    whose own span contains it or, for a link on a heading line, the first chunk after it."""
    ends = [chunk.end for chunk in chunks]
    links = []
    for link in parse_links(note.body, source=rel, first_line=_first_body_line(note.path, note.body)):
        at = bisect.bisect_right(ends, link.start)
        chunk_id = chunks[min(at, len(chunks) - 1)].id if chunks else None
        links.append(dataclasses.replace(link, chunk_id=chunk_id))
    return NoteName(rel, tuple(note.aliases)), links


def _first_body_line(path: Path, body: str) -> int:
    """The line of the file a note's body starts on, so links are numbered as an editor shows the file.

    The body is the end of the file's text (newlines normalised as ``scribe.notes`` does); 1 when the
    file cannot be read again.
    """
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    except OSError:
        return 1
    return text.count("\n", 0, max(0, len(text) - len(body))) + 1


def chunk_row(chunk: Chunk) -> ChunkRow:
    return ChunkRow(id=chunk.id, heading_path=chunk.heading_path, ordinal=chunk.ordinal, text=chunk.text)
