"""The notes and drafts tree: the workspace's note folders, markdown and text files only."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from textual.widgets import DirectoryTree, Tree

from scribe.tui.documents import is_note_file

SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "venv", "site-packages"})


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
