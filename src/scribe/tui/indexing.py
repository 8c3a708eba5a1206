"""The notes index as the status line shows it, kept in step in the background.

`refresh()` reads the index's status (notes, chunks, stale files); F8 re-indexes, showing chunks
embedded of the expected total and the time left (``scribe.progress``); new or changed notes are
picked up without a restart by a quiet incremental re-index, at most once a minute and never while
a model is writing. All of it runs in worker threads of the status bar, which shows the result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from scribe.errors import ScribeError
from scribe.progress import IndexMeter
from scribe.tui.crashlog import unexpected

if TYPE_CHECKING:
    from scribe.tui.index_link import IndexLink, IndexProgress
    from scribe.tui.widgets.status import StatusBar

AUTO_INDEX_EVERY_S = 60.0


class Indexing:
    """`roots` are the indexed folders; `auto` allows the background re-index; `busy()` is true
    while a model is writing (a re-index then waits for the next look)."""

    def __init__(self, status: StatusBar, index: Callable[[], IndexLink], roots: list[Path], *,
                 auto: bool, busy: Callable[[], bool]) -> None:
        self.status = status
        self.index = index
        self.roots = [r.resolve() for r in roots]
        self.auto = auto
        self.busy = busy
        self._auto_indexed_at = 0.0

    def refresh(self) -> None:
        self.status.run_worker(self._read_status, thread=True, group="index-status", exclusive=True)

    def saved(self, path: Path) -> None:
        """A file was saved: if it is a note, the status (and a background re-index) picks it up."""
        if any(path.resolve().is_relative_to(r) for r in self.roots):
            self.refresh()

    def running(self) -> bool:
        return any(w.group == "reindex" and w.is_running for w in self.status.workers)

    def reindex(self) -> None:
        """F8: bring the index in step now, with progress, and say what was done."""
        if self.running():
            self.status.notify("the index is being updated already", severity="warning")
            return
        self._start(quiet=False)

    def _read_status(self) -> None:
        try:
            status = self.index().status()
        except Exception as exc:  # noqa: BLE001 - a status line must never take the app down
            unexpected(exc, "index status")
            self.status.call_later(self.status.set_index, "index: error")
            return
        self.status.call_later(self.status.set_index, status.label)
        if status.state == "ready" and status.stale and self.auto:
            self.status.call_later(self._auto_reindex)

    def _auto_reindex(self) -> None:
        now = time.monotonic()
        if self.busy() or self.running() or now - self._auto_indexed_at < AUTO_INDEX_EVERY_S:
            return
        self._auto_indexed_at = now
        self._start(quiet=True)

    def _start(self, *, quiet: bool) -> None:
        self.status.show_indexing(None)
        self.status.run_worker(lambda: self._sync(quiet), thread=True, group="reindex", exclusive=True)

    def _sync(self, quiet: bool) -> None:
        meter = IndexMeter()

        def progress(p: IndexProgress) -> None:
            self.status.call_later(self.status.show_indexing, meter.read(p))

        try:
            summary = self.index().sync(progress)
        except ScribeError as exc:
            self.status.notify(str(exc), severity="error", title="Re-index", timeout=8)
        except Exception as exc:  # noqa: BLE001
            self.status.notify(unexpected(exc, "re-index"), severity="error", title="Re-index", timeout=8)
        else:
            if not quiet:
                self.status.notify(summary, title="Re-index", timeout=8)
        self.status.call_later(self.status.end_indexing)
        self.status.call_later(self.refresh)
