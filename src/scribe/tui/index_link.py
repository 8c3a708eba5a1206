"""The TUI's one door to the notes index: its status, a retriever for the writing tasks, a re-index.

Everything here calls the core (`scribe.index`, `scribe.retrieval`, `scribe.sync`, `scribe.manifest`);
the TUI only decides when. `IndexLink` is the seam: tests and a workspace without an index use
`NoIndex`, which makes every task run without sources.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from scribe.config import Workspace
from scribe.errors import ScribeError
from scribe.grounding import Hit
from scribe.index_report import IndexReport
from scribe.tasks import Retriever


@dataclass(frozen=True)
class IndexStatus:
    """What the footer shows: notes and chunks indexed, and files new/changed/removed since."""

    state: str  # "ready" | "missing" | "unavailable" | "error"
    notes: int = 0
    chunks: int = 0
    stale: int = 0
    detail: str = ""

    @property
    def label(self) -> str:
        if self.state == "ready":
            stale = f" · {self.stale} stale" if self.stale else ""
            return f"index: {self.notes} notes · {self.chunks} chunks{stale}"
        if self.state == "missing":
            return "index: not built (F8)"
        if self.state == "error":
            return "index: error"
        return "index: off"


@dataclass(frozen=True)
class IndexProgress:
    """A re-index's counts, as ``scribe.sync.SyncProgress`` reports them (``scribe.progress`` reads them)."""

    files_total: int
    files_done: int
    chunks_embedded: int
    chunks_found: int
    bytes_read: int
    bytes_total: int


class IndexLink(Protocol):
    def status(self) -> IndexStatus: ...

    def retriever(self, draft: str | None = None) -> Retriever | None:
        """A retriever for the writing tasks, or None when there is no index to search; `draft`
        (workspace-relative) lets the notes linked with it rank higher."""
        ...

    def sync(self, on_progress: Callable[[IndexProgress], None]) -> str:
        """Bring the index in step with the notes; returns a one-line summary."""
        ...

    def report(self) -> IndexReport | None:
        """What the last index run made of each file (the notes tree marks the skipped and failed
        ones); None when there is no index."""
        ...


class NoIndex:
    """No notes index: tasks run on the draft alone."""

    def status(self) -> IndexStatus:
        return IndexStatus("unavailable")

    def retriever(self, draft: str | None = None) -> Retriever | None:
        return None

    def sync(self, on_progress: Callable[[IndexProgress], None]) -> str:
        raise ScribeError("there is no notes index in this session; tasks run on the draft alone")

    def report(self) -> IndexReport | None:
        return None


class StaticIndex(NoIndex):
    """A fixed retriever (for tests and demos): hits come from the given function."""

    def __init__(self, retrieve: Retriever) -> None:
        self._retrieve = retrieve

    def status(self) -> IndexStatus:
        return IndexStatus("ready", detail="static")

    def retriever(self, draft: str | None = None) -> Retriever | None:
        return self._retrieve


class WorkspaceIndex:
    """The workspace's real index (`.scribe/` or the configured Chroma server)."""

    def __init__(self, workspace: Workspace, client: Callable[[], object]) -> None:
        self.workspace = workspace
        self._client = client  # a ModelClient factory: connecting may start the engine
        self._report: tuple[int, IndexReport] | None = None  # the manifest's mtime, and the report read from it

    def _roots(self) -> list[Path]:
        return [self.workspace.root / folder for folder in self.workspace.settings.index.notes]

    def status(self) -> IndexStatus:
        from scribe.index import open_index
        from scribe.manifest import FileStat, diff_files
        from scribe.notes import discover_notes

        try:
            with open_index(self.workspace) as index:
                if not index.exists():
                    return IndexStatus("missing")
                manifest = index.load_manifest()
            roots = [r for r in self._roots() if r.exists()]
            found = []
            for path in discover_notes(roots, root=self.workspace.root, follow_symlinks=self.workspace.settings.index.follow_symlinks):
                try:
                    st = path.stat()
                except OSError:
                    continue
                rel = path.absolute().relative_to(self.workspace.root.absolute()).as_posix()
                found.append(FileStat(rel, path, st.st_size, st.st_mtime_ns))
            scopes = [r.absolute().relative_to(self.workspace.root.absolute()).as_posix() for r in roots]
            diff = diff_files(found, manifest, lambda rel: any(s == "." or rel.startswith(s + "/") for s in scopes))
        except ScribeError as exc:
            return IndexStatus("error", detail=str(exc))
        except (OSError, ValueError) as exc:
            return IndexStatus("error", detail=f"cannot read the index ({exc})")
        return IndexStatus(
            "ready", notes=len(manifest.files), chunks=manifest.chunk_count(),
            stale=len(diff.to_check) + len(diff.removed),
        )

    def retriever(self, draft: str | None = None) -> Retriever | None:
        from scribe.index import open_index
        from scribe.retrieval import retrieve

        with open_index(self.workspace) as probe:
            if not probe.exists():
                return None

        def search(query: str, k: int) -> Sequence[Hit]:
            with open_index(self.workspace) as index:
                return retrieve(index, self._client(), query, k=k, draft=draft)  # type: ignore[arg-type,return-value]

        return search

    def report(self) -> IndexReport | None:
        """Read again only when the manifest changed: it can be large, and the tree asks often."""
        from scribe.index import open_index
        from scribe.index_report import build_report

        with open_index(self.workspace) as index:
            try:
                stamp = index.manifest_path.stat().st_mtime_ns
            except OSError:
                return None
            if self._report is None or self._report[0] != stamp:
                self._report = (stamp, build_report(index.load_manifest(), self.workspace.root))
        return self._report[1]

    def sync(self, on_progress: Callable[[IndexProgress], None]) -> str:
        from scribe.index import open_index
        from scribe.sync import LazyEmbedClient, SyncOptions, sync_notes

        settings = self.workspace.settings
        options = SyncOptions(embed_model=settings.embed_model, batch_size=settings.index.embed_batch_size,
                              chunk_tokens=settings.index.chunk_tokens, follow_symlinks=settings.index.follow_symlinks)
        roots = [r for r in self._roots() if r.exists()]
        if not roots:
            raise ScribeError(f"no notes folder to index ({', '.join(settings.index.notes)}); create it or set index.notes in scribe.toml")
        with open_index(self.workspace) as index:
            report = sync_notes(
                index, roots, root=self.workspace.root, client=LazyEmbedClient(self._client),  # type: ignore[arg-type]
                options=options,
                on_progress=lambda p: on_progress(IndexProgress(p.files_total, p.files_done, p.chunks_embedded,
                                                                p.chunks_found, p.bytes_read, p.bytes_total)),
            )
        return (f"indexed: {report.files_scanned} files, {report.files_new} new, {report.files_changed} changed, "
                f"{report.files_removed} removed, {report.chunks_embedded} chunks embedded in {report.total_s:.1f} s"
                + (f" ({report.reembedded} re-embedded with '{settings.embed_model}')" if report.reembedded else ""))
