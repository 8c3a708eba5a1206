"""The notes and drafts tree: the workspace's note folders, markdown and text files only."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from textual.timer import Timer
from textual.widgets import DirectoryTree, Tree

from scribe.tui.documents import is_note_file

SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "venv", "site-packages"})
LOAD_WAIT_S = 5.0  # a folder's listing is read in a worker; one this slow is left closed


class NotesTree(DirectoryTree):
    """The tree of notes. A name too long for the column shows whole in the tree's tooltip while
    its row is highlighted, and alt+right widens the column (`MainScreen.action_tree_width`)."""

    _revealing: Timer | None = None

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:  # type: ignore[type-arg]
        data = event.node.data
        self.tooltip = data.path.name if data is not None else None

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        kept = []
        for path in paths:
            if path.name.startswith(".") or path.name in SKIPPED_DIRS:
                continue
            try:
                if path.is_dir() or is_note_file(path):
                    kept.append(path)
            except OSError:
                continue
        return kept

    def reveal(self, path: Path) -> None:
        """Open the folders down to `path` and put the cursor on it, so the open file is shown
        where it lives (after a restart the drafts folder is open again). Folders load lazily, so
        a timer goes one level down each time the level's listing is there; a timer, not a worker,
        because a timer stops with the widget (a polling worker held up the app's exit)."""
        if self._revealing is not None:
            self._revealing.stop()
        target, node, deadline = path.resolve(), self.root, time.monotonic() + LOAD_WAIT_S

        def step() -> None:
            nonlocal node, deadline
            if not node.children:
                if time.monotonic() > deadline and self._revealing is not None:
                    self._revealing.stop()
                return
            child = next((c for c in node.children if c.data is not None and target.is_relative_to(c.data.path.resolve())), None)
            if child is None or child.data is None or child.data.path.resolve() == target:
                if child is not None:
                    self.move_cursor(child)
                if self._revealing is not None:
                    self._revealing.stop()
                return
            child.expand()
            node, deadline = child, time.monotonic() + LOAD_WAIT_S

        self._revealing = self.set_interval(0.05, step)
