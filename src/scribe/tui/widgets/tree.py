"""The notes and drafts tree: the workspace's note folders, markdown and text files only."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from pathlib import Path

from textual.widgets import DirectoryTree, Tree

from scribe.tui.documents import is_note_file

SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "venv", "site-packages"})
LOAD_WAIT_S = 5.0  # a folder's listing is read in a worker; one this slow is left closed


class NotesTree(DirectoryTree):
    """The tree of notes. A name too long for the column shows whole in the tree's tooltip while
    its row is highlighted, and alt+right widens the column (`MainScreen.action_tree_width`)."""

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
        where it lives (after a restart the drafts folder is open again)."""
        self.run_worker(self._reveal(path.resolve()), group="reveal", exclusive=True, exit_on_error=False)

    async def _reveal(self, path: Path) -> None:
        node = self.root
        while True:
            deadline = time.monotonic() + LOAD_WAIT_S
            while not node.children and time.monotonic() < deadline:  # folders load lazily
                await asyncio.sleep(0.05)
            child = next((c for c in node.children if c.data is not None and path.is_relative_to(c.data.path.resolve())), None)
            if child is None:
                return
            if child.data is not None and child.data.path.resolve() == path:
                self.move_cursor(child)
                return
            child.expand()
            node = child
