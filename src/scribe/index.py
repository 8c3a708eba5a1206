"""The notes index: where its parts live in `.scribe/`, the writer's lock, and keeping it consistent.

Three parts make the index: Chroma (vectors, ``scribe.vectors``), SQLite FTS5 (words and chunk
text, ``scribe.fts``) and the manifest (the commit record, ``scribe.manifest``). ``scribe.sync``
brings them in step with the notes; ``scribe.retrieval`` reads them.

Commit order, so a kill at any instant leaves an index that answers queries and a manifest the next
run completes from:

1. before touching the stores, ``index.pending`` records that a run is writing, and which files;
2. chunks go into Chroma, then FTS5; only then does the manifest take the file's entry;
3. the manifest is saved atomically now and then, and chunks it no longer names are deleted only
   after such a save.

So the saved manifest never names a chunk missing from a store. A run that finds ``index.pending``
(the last one did not finish) first reconciles: ids in a store but not in the manifest are deleted,
and the files that were being written are re-checked.

Switching embed models re-embeds every chunk into a staged Chroma collection beside the index's
(``scribe.sync``). The manifest save naming the new model and dimension is the switch; from then
until the staged collection has replaced the index's (drop, then rename) the manifest's vectors are
the staged ones. ``index.pending`` is written before the first staged vector, so after a kill
anywhere in between the next run finishes the switch or resumes the re-embed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scribe.config import Workspace
from scribe.errors import NotesIndexError
from scribe.fts import KeywordStore
from scribe.files import atomic_write
from scribe.manifest import FileEntry, Manifest, load_manifest
from scribe.vectors import StoreLocation, VectorStore

LOCK_WAIT_S = 3.0


class NotesIndex:
    """One workspace's index. Stores are opened on first use: a run with nothing to do never loads Chroma.

    ``embed_model`` is the configured embedding model: queries are embedded with it, so a search
    uses the vectors only when they come from it (``scribe.retrieval``).
    """

    def __init__(self, state_dir: Path, location: StoreLocation, embed_model: str) -> None:
        self.state_dir = state_dir
        self.location = location
        self.embed_model = embed_model
        self._keyword: KeywordStore | None = None
        self._vectors: VectorStore | None = None
        self._staged: VectorStore | None = None

    @property
    def manifest_path(self) -> Path:
        return self.state_dir / "manifest.json"

    @property
    def keyword_path(self) -> Path:
        return self.state_dir / "fts.sqlite"

    @property
    def lock_path(self) -> Path:
        return self.state_dir / "index.lock"

    @property
    def pending_path(self) -> Path:
        return self.state_dir / "index.pending"

    def exists(self) -> bool:
        return self.manifest_path.exists() or self.keyword_path.exists()

    @property
    def keyword(self) -> KeywordStore:
        if self._keyword is None:
            self._keyword = KeywordStore(self.keyword_path)
        return self._keyword

    @property
    def vectors(self) -> VectorStore:
        if self._vectors is None:
            self._vectors = VectorStore(self.location)
        return self._vectors

    @property
    def staged_vectors(self) -> VectorStore:
        """The collection a re-embed with another model fills before it becomes ``vectors``."""
        if self._staged is None:
            self._staged = VectorStore(self.location, self.location.staged_collection)
        return self._staged

    def promote_staged(self) -> None:
        """Make the staged collection the index's: drop the old one, then rename the staged one.

        A kill between the two leaves only the staged collection, which the next run renames.
        """
        staged = self.staged_vectors
        self.vectors.drop_collection()
        staged.rename(self.location.collection)
        self._vectors, self._staged = staged, None

    def drop_staged(self) -> None:
        self.staged_vectors.drop_collection()
        self._staged = None

    def load_manifest(self) -> Manifest:
        return load_manifest(self.manifest_path)

    def close(self) -> None:
        if self._keyword is not None:
            self._keyword.close()
            self._keyword = None
        self._vectors = None
        self._staged = None

    def __enter__(self) -> NotesIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def writer_lock(self, wait_s: float = LOCK_WAIT_S) -> Iterator[None]:
        """Hold ``.scribe/index.lock``: one process writes the index, a second one gives up with a message.

        Chroma's local store is not safe for two writing processes, and two runs would fight over the
        manifest.
        """
        from filelock import FileLock, Timeout

        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise NotesIndexError(f"{self.state_dir}: cannot create scribe's state folder ({exc.strerror}); make the workspace writable") from exc
        lock = FileLock(str(self.lock_path))
        try:
            lock.acquire(timeout=wait_s)
        except Timeout:  # an OSError too, so caught first
            raise NotesIndexError(
                f"another `scribe index` is updating the index in {self.state_dir} (it holds {self.lock_path.name}); "
                "wait for it to finish, then run this again"
            ) from None
        except OSError as exc:
            raise NotesIndexError(f"{self.lock_path}: cannot take the index lock ({exc.strerror}); make the workspace writable") from exc
        try:
            yield
        finally:
            lock.release()

    def wipe(self) -> None:
        """Delete the whole index (vectors, keyword index, manifest); the notes are never touched."""
        self.close()
        if self.location.url is None:
            from scribe.vectors import wipe_local_store

            wipe_local_store(self.location)
        else:
            self.vectors.drop_collection()
            self.drop_staged()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.keyword_path}{suffix}").unlink(missing_ok=True)
        self.manifest_path.unlink(missing_ok=True)
        self.pending_path.unlink(missing_ok=True)
        self.close()

    # --- the in-progress marker ------------------------------------------------------------------

    def read_pending(self) -> list[str] | None:
        """The files the last unfinished run was writing, or None if the last run finished."""
        try:
            data = json.loads(self.pending_path.read_text(encoding="utf-8"))
            return [str(p) for p in data["paths"]]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return []  # a torn marker still says a run did not finish

    def mark_pending(self, paths: list[str]) -> None:
        atomic_write(self.pending_path, json.dumps({"pid": os.getpid(), "paths": sorted(paths)}))

    def clear_pending(self) -> None:
        self.pending_path.unlink(missing_ok=True)

    # --- consistency -----------------------------------------------------------------------------

    def reconcile(self, manifest: Manifest, pending: list[str]) -> int:
        """Bring the stores back to the manifest after an unfinished run; returns the orphans removed.

        Ids in a store that the manifest does not name are deleted. Files that were being written,
        and files whose chunks a store lost, get their entry invalidated so this run re-reads them;
        the chunk ids both stores still hold are kept, so their vectors are not recomputed.
        """
        vector_ids = self.vectors.ids()
        keyword_ids = self.keyword.chunk_ids()
        held = vector_ids & keyword_ids
        redo = set(pending)
        for rel, entry in manifest.files.items():
            if rel in redo or not held.issuperset(entry.chunk_ids):
                manifest.files[rel] = FileEntry(
                    size=-1, mtime_ns=-1, content_hash="", chunk_ids=[i for i in entry.chunk_ids if i in held]
                )
        known = manifest.chunk_ids()
        vector_orphans = sorted(vector_ids - known)
        keyword_orphans = keyword_ids - known
        self.vectors.delete(vector_orphans)
        self.keyword.delete(keyword_orphans, self.keyword.file_paths() - set(manifest.files))
        return len(set(vector_orphans) | keyword_orphans)


def open_index(workspace: Workspace, chroma_url: str | None = None) -> NotesIndex:
    """The workspace's index, in the local store or the Chroma server at ``chroma_url`` (else the config's)."""
    url = chroma_url or workspace.settings.index.chroma_url
    state_dir = workspace.state_dir  # not created here: searching must not turn a folder into a workspace
    if url:
        url = _check_url(url)
        location = StoreLocation(url=url, workspace_key=str(workspace.root))
    else:
        location = StoreLocation(path=state_dir / "chroma")
    return NotesIndex(state_dir, location, workspace.settings.embed_model)


def _check_url(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip().rstrip("/"))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NotesIndexError(f"--chroma-url {url!r} is not an http://HOST:PORT address; pass e.g. http://127.0.0.1:8000")
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 8000}"
