"""The index manifest: which note files the index holds, as of which content, under which chunk ids.

The manifest is the index's commit record. A file's entry is written only after its chunks are in
both stores (Chroma and FTS5), and a chunk is deleted from the stores only after the saved manifest
no longer names it. So every chunk id in the manifest on disk is in both stores, whenever the
process dies; the stores may hold extra ids (orphans), which the next run removes.

It also keeps what the last run found about every other path under the notes folders (skipped or
failed, and why), so `scribe index --report` and the app can say what the index knows without
walking the notes again (``scribe.index_report``).

The manifest is one JSON file, rewritten atomically (``scribe.files.atomic_write``). Diffing the files
on disk against it is pure, so the incremental rules are tested with plain values.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scribe.chunking import Chunk
from scribe.errors import NotesIndexError
from scribe.files import atomic_write
from scribe.notes import Skip

# Version 2 added when each file was indexed, its warnings and the paths left out. A version-1
# manifest still loads; its files are re-read once (their vectors kept) for the tags in their bodies.
MANIFEST_VERSION = 2
REBUILD_HINT = "run `scribe index --rebuild` to rebuild the index from your notes"
DISK_FULL_HINT = "the disk is full: free some space, then run `scribe index` again (what was committed is kept)"


@dataclass
class FileEntry:
    """What the index holds for one note file: its size, mtime and hash when indexed, its chunk ids,
    when they were written (ISO 8601, UTC; None in an index from before scribe kept it) and what
    reading it warned about (broken frontmatter, not UTF-8)."""

    size: int
    mtime_ns: int
    content_hash: str
    chunk_ids: list[str]
    indexed_at: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class Manifest:
    """The whole commit record: the embedding model and store every vector came from, and the files.

    ``embed_model`` and ``dimension`` are kept once for the index (not per file) because one index
    never mixes vectors from two models; ``store`` names the Chroma store the ids live in.
    ``skipped``: the paths under the notes folders the last run left out or could not read (a folder
    left out whole ends in ``/``), as of the last run that scanned them.
    """

    embed_model: str | None = None
    dimension: int | None = None
    store: str | None = None
    files: dict[str, FileEntry] = field(default_factory=dict)
    skipped: dict[str, Skip] = field(default_factory=dict)

    def chunk_ids(self) -> set[str]:
        return {chunk_id for entry in self.files.values() for chunk_id in entry.chunk_ids}

    def chunk_count(self) -> int:
        return sum(len(entry.chunk_ids) for entry in self.files.values())


def load_manifest(path: Path) -> Manifest:
    """The manifest at ``path``; an empty one if there is none yet."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Manifest()
    except OSError as exc:
        raise NotesIndexError(f"{path}: cannot read the index manifest ({exc.strerror}); {REBUILD_HINT}") from exc
    try:
        data = json.loads(raw)
        version = data.get("version")
        if version not in (1, MANIFEST_VERSION):
            raise ValueError(f"unknown manifest version {version!r}")
        files = {rel: FileEntry(**entry) for rel, entry in data["files"].items()}
        if version == 1:
            files = {rel: FileEntry(-1, -1, "", entry.chunk_ids) for rel, entry in files.items()}
        return Manifest(
            embed_model=data["embed_model"],
            dimension=data["dimension"],
            store=data["store"],
            files=files,
            skipped={rel: Skip(**skip) for rel, skip in data.get("skipped", {}).items()},
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise NotesIndexError(f"{path}: the index manifest is damaged ({exc}); {REBUILD_HINT}") from exc


def save_manifest(path: Path, manifest: Manifest) -> None:
    """Write the manifest atomically: a reader (or the next run after a kill) sees old or new, never half."""
    data = {
        "version": MANIFEST_VERSION,
        "embed_model": manifest.embed_model,
        "dimension": manifest.dimension,
        "store": manifest.store,
        "files": {rel: _entry_data(e) for rel, e in sorted(manifest.files.items())},
        "skipped": {rel: {"reason": s.reason, "detail": s.detail} for rel, s in sorted(manifest.skipped.items())},
    }
    atomic_write(path, json.dumps(data, separators=(",", ":")))


def _entry_data(entry: FileEntry) -> dict[str, object]:
    data: dict[str, object] = {
        "size": entry.size, "mtime_ns": entry.mtime_ns, "content_hash": entry.content_hash, "chunk_ids": entry.chunk_ids,
        "indexed_at": entry.indexed_at,
    }
    if entry.warnings:
        data["warnings"] = entry.warnings
    return data


# --- diffing (pure) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FileStat:
    """A note file found on disk, before it is read."""

    rel_path: str
    path: Path
    size: int
    mtime_ns: int


@dataclass
class FileDiff:
    """Files on disk against the manifest.

    ``unchanged``: same size and mtime as indexed, so not read at all. ``to_check``: new, or size or
    mtime differ; each is read and hashed, and only a different hash makes it a changed file.
    ``removed``: in the manifest, inside the scanned folders, no longer on disk.
    """

    unchanged: list[str] = field(default_factory=list)
    to_check: list[FileStat] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def diff_files(found: Sequence[FileStat], manifest: Manifest, in_scope: Callable[[str], bool]) -> FileDiff:
    """Compare files found on disk with the manifest; ``in_scope`` says which manifest paths were scanned.

    A path outside the scanned folders is never reported removed: `scribe index notes/sql` must not
    drop the rest of the index.
    """
    diff = FileDiff()
    seen = set()
    for stat in found:
        seen.add(stat.rel_path)
        entry = manifest.files.get(stat.rel_path)
        if entry is not None and entry.size == stat.size and entry.mtime_ns == stat.mtime_ns:
            diff.unchanged.append(stat.rel_path)
        else:
            diff.to_check.append(stat)
    diff.removed = sorted(rel for rel in manifest.files if rel not in seen and in_scope(rel))
    return diff


@dataclass
class ChunkPlan:
    """What to do with one changed file's chunks.

    ``to_embed``: chunks whose id the index does not hold. ``kept``: ids it holds already (same
    path, heading path and text), whose vectors stay and whose metadata is refreshed. ``stale``: ids
    of the old version that the new one no longer has.
    """

    to_embed: list[Chunk]
    kept: list[Chunk]
    stale: list[str]


def plan_chunks(old_ids: Iterable[str], chunks: Sequence[Chunk]) -> ChunkPlan:
    """Split a file's new chunks into those to embed and those to keep, and list the stale old ids."""
    old = set(old_ids)
    new_ids = {chunk.id for chunk in chunks}
    return ChunkPlan(
        to_embed=[chunk for chunk in chunks if chunk.id not in old],
        kept=[chunk for chunk in chunks if chunk.id in old],
        stale=sorted(old - new_ids),
    )
