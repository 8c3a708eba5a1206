"""What the index knows, file by file: indexed (chunks, when), skipped (why) or failed (the error).

Read from the manifest alone (``scribe.manifest``), which keeps every file's entry and the paths
the last `scribe index` left out, so the report needs no model, no Chroma and no walk over the
notes: `scribe index --report` prints it after a run, and the app's notes tree marks skipped and
failed files from ``index_report(workspace).outcome(path)``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

from scribe.config import Workspace
from scribe.manifest import Manifest

Status = Literal["indexed", "skipped", "failed"]


@dataclass(frozen=True)
class FileOutcome:
    """One path under the notes folders, as the last index run left it.

    ``path`` is workspace-relative (posix); a folder left out whole (hidden, ignored, a link out of
    the workspace) ends in ``/``. ``reason`` is a ``scribe.notes.SkipReason`` for a skipped or
    failed path (None when indexed) and ``detail`` says it in words. ``chunks`` is what the index
    holds for the file: a file that failed to be read again keeps its last indexed chunks.
    ``indexed_at`` is when its chunks were last written (ISO 8601, UTC; None if never, or indexed
    before scribe kept the time); ``warnings`` are what reading it warned about.
    """

    path: str
    status: Status
    reason: str | None = None
    detail: str = ""
    chunks: int = 0
    indexed_at: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Totals:
    indexed: int
    skipped: int
    failed: int
    chunks: int


@dataclass(frozen=True)
class IndexReport:
    """Every path the index knows about, sorted by path. ``exists`` is False before the first index run."""

    root: Path
    files: tuple[FileOutcome, ...]
    exists: bool = True

    def outcome(self, path: Path | str) -> FileOutcome | None:
        """The outcome of a file or folder (absolute, or relative to the workspace), None if unknown."""
        rel = Path(path)
        if rel.is_absolute():
            try:
                rel = rel.relative_to(self.root)
            except ValueError:
                return None
        key = rel.as_posix()
        return self.by_path.get(key) or self.by_path.get(key + "/")

    @cached_property
    def by_path(self) -> dict[str, FileOutcome]:
        return {file.path: file for file in self.files}

    @property
    def totals(self) -> Totals:
        return Totals(
            indexed=sum(f.status == "indexed" for f in self.files),
            skipped=sum(f.status == "skipped" for f in self.files),
            failed=sum(f.status == "failed" for f in self.files),
            chunks=sum(f.chunks for f in self.files),
        )

    def to_dict(self) -> dict[str, object]:
        return {"files": [asdict(f) for f in self.files], "totals": asdict(self.totals)}


def index_report(workspace: Workspace) -> IndexReport:
    """The workspace's report, read from its index's manifest (cheap: one JSON file)."""
    from scribe.index import open_index

    with open_index(workspace) as index:
        if not index.manifest_path.exists():
            return IndexReport(workspace.root, (), exists=False)
        return build_report(index.load_manifest(), workspace.root)


def build_report(manifest: Manifest, root: Path) -> IndexReport:
    """The report for a manifest (pure). A path both indexed and skipped or failed is reported as
    the latter: the last run could not read it again, and the index keeps its old chunks."""
    outcomes = {
        rel: FileOutcome(rel, "indexed", chunks=len(entry.chunk_ids), indexed_at=entry.indexed_at, warnings=tuple(entry.warnings))
        for rel, entry in manifest.files.items()
    }
    for rel, skip in manifest.skipped.items():
        held = manifest.files.get(rel)
        outcomes[rel] = FileOutcome(
            rel, "failed" if skip.failed else "skipped", reason=skip.reason, detail=skip.detail,
            chunks=len(held.chunk_ids) if held is not None else 0,
            indexed_at=held.indexed_at if held is not None else None,
        )
    return IndexReport(root, tuple(outcomes[rel] for rel in sorted(outcomes)))


def report_lines(report: IndexReport) -> list[str]:
    """The report as text, one path a line, then the totals (what `scribe index --report` prints)."""
    if not report.exists:
        return ["no notes index yet; build it with `scribe index`"]
    width = max((len(f.path) for f in report.files), default=0)
    lines = []
    for f in report.files:
        if f.status == "indexed":
            what = f"{f.chunks} chunk{'' if f.chunks == 1 else 's'}" + (f", {_local_time(f.indexed_at)}" if f.indexed_at else "")
            what += "".join(f"; warning: {w}" for w in f.warnings)
        else:
            what = f"{f.reason}: {f.detail}"
            if f.chunks:
                what += f" (the index keeps the {f.chunks} chunks it had)"
        lines.append(f"{f.status:<8} {f.path:<{width}}  {what}")
    t = report.totals
    lines.append(f"{t.indexed} indexed ({t.chunks} chunks), {t.skipped} skipped, {t.failed} failed")
    return lines


def _local_time(iso: str) -> str:
    """An ISO 8601 time as this machine's local time, to the minute."""
    try:
        return dt.datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso
