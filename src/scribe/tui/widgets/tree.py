"""The notes and drafts tree: the workspace's note folders, markdown and text files only."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

from textual.timer import Timer
from textual.widgets import DirectoryTree, Tree
from textual.widgets.tree import TreeNode
from textual.widgets._directory_tree import DirEntry

from scribe.tui.documents import is_note_file

SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "venv", "site-packages"})
LOAD_WAIT_S = 5.0  # a folder's listing is read in a worker; one this slow is left closed


class NotesTree(DirectoryTree):
    """The tree of notes. A name too long for the column shows whole in the tree's tooltip while
    its row is highlighted, and alt+right widens the column (`MainScreen.action_tree_width`)."""

    _revealing: Timer | None = None

    def __init__(self, path: Path, *, remember: Callable[[set[Path]], None] | None = None, id: str | None = None) -> None:
        super().__init__(path, id=id)
        self.open_folders: set[Path] = set()
        self.remember = remember  # told the open folders as they change, to open them after a restart

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:  # type: ignore[type-arg]
        data = event.node.data
        self.tooltip = data.path.name if data is not None else None

    def _on_tree_node_expanded(self, event: Tree.NodeExpanded[DirEntry]) -> None:
        """Queue an opened folder's listing without waiting for it. Textual's own handler waits
        until the whole load queue is empty; the loader is cancelled when the app quits, so a folder
        opened just before ctrl+q (the reveal at start-up) kept the app alive, blank, for good."""
        event.stop()
        event.prevent_default()
        entry = event.node.data
        if entry is None:
            return
        if self._safe_is_dir(entry.path):
            self._add_to_load_queue(event.node)
            if event.node is not self.root:
                self.open_folders.add(entry.path.resolve())
                if self.remember is not None:
                    self.remember(self.open_folders)
        else:
            self.post_message(self.FileSelected(event.node, entry.path))

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

    def on_tree_node_collapsed(self, event: Tree.NodeCollapsed[DirEntry]) -> None:
        if event.node.data is not None:
            self.open_folders.discard(event.node.data.path.resolve())
            if self.remember is not None:
                self.remember(self.open_folders)

    def reveal(self, path: Path, folders: Iterable[Path] = ()) -> None:
        """Open `folders` (the ones open when the app last closed) and the folders down to `path`,
        and put the cursor on `path`, so the open file is shown where it lives. Folders load
        lazily, so a timer opens each level once its listing is there; a timer, not a worker,
        because a timer stops with the widget (a polling worker held up the app's exit)."""
        if self._revealing is not None:
            self._revealing.stop()
        target = path.resolve()
        remembered = {f.resolve() for f in folders}
        self.open_folders |= remembered  # still remembered if the app closes before they are open
        wanted = remembered | set(target.parents)
        deadline = time.monotonic() + LOAD_WAIT_S

        def opening(node: TreeNode[DirEntry]) -> bool:
            return node.data is not None and node.allow_expand and node.data.path.resolve() in wanted

        found, start = False, self.cursor_node

        def step() -> None:
            nonlocal deadline, found
            pending = False
            stack = [self.root]
            while stack:
                node = stack.pop()
                if node.is_expanded or node is self.root:
                    pending = pending or not node.children  # its listing is still loading (or it is empty)
                    stack.extend(node.children)
                elif opening(node):
                    node.expand()
                    deadline = time.monotonic() + LOAD_WAIT_S
                    pending = True
                if not found and node.data is not None and node.data.path.resolve() == target:
                    found = True
                    if self.cursor_node is start:  # the author has not moved it meanwhile
                        self.move_cursor(node)
            if (not pending or time.monotonic() > deadline) and self._revealing is not None:
                self._revealing.stop()

        self._revealing = self.set_interval(0.05, step)
