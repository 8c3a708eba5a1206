"""The notes and drafts tree: the workspace's note folders, markdown and text files only.

Files and folders the last index run skipped or could not read are marked (`scribe.index_report`):
skipped ones dim, failed ones in the error colour, and the tooltip of the highlighted one says why.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text
from textual.timer import Timer
from textual.widgets import DirectoryTree, Tree
from textual.widgets.tree import TreeNode
from textual.widgets._directory_tree import DirEntry

from scribe.tui.crashlog import unexpected
from scribe.tui.documents import is_note_file

if TYPE_CHECKING:
    from scribe.index_report import FileOutcome, IndexReport

SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "venv", "site-packages"})
LOAD_WAIT_S = 5.0  # a folder's listing is read in a worker; one this slow is left closed
MIN_WIDTH, MAX_WIDTH = 20, 80  # columns
REPORT_CHECK_S = 5.0  # how often the index report is looked at (it is read again only when it changed)


class NotesTree(DirectoryTree):
    """The tree of notes. A name too long for the column shows whole in the tree's tooltip while
    its row is highlighted, and alt+right widens the column (`MainScreen.action_tree_width`)."""

    COMPONENT_CLASSES = DirectoryTree.COMPONENT_CLASSES | {"notes-tree--skipped", "notes-tree--failed"}
    DEFAULT_CSS = """
    NotesTree > .notes-tree--skipped { text-style: dim italic; }
    NotesTree > .notes-tree--failed { color: $error; }
    """

    _revealing: Timer | None = None

    def __init__(self, path: Path, *, remember: Callable[[set[Path]], None] | None = None,
                 report: Callable[[], IndexReport | None] = lambda: None, id: str | None = None) -> None:
        super().__init__(path, id=id)
        self.open_folders: set[Path] = set()
        self.remember = remember  # told the open folders as they change, to open them after a restart
        self.report = report  # the index's report (called in a worker thread)
        self.marks: dict[Path, FileOutcome] = {}  # the files and folders the index skipped or failed
        self._report_failed = False  # said once in the crash log, not every few seconds

    def on_mount(self) -> None:
        self.set_interval(REPORT_CHECK_S, self.read_report)
        self.call_after_refresh(self.read_report)

    def read_report(self) -> None:
        self.run_worker(self._read_report, thread=True, group="index-report", exclusive=True, exit_on_error=False)

    def _read_report(self) -> None:
        try:
            report = self.report()
        except Exception as exc:  # noqa: BLE001 - marks are a courtesy: a broken index must not break the tree
            if not self._report_failed:
                self._report_failed = True
                unexpected(exc, "reading the index report")
            return
        marks = {} if report is None else {report.root / f.path.rstrip("/"): f for f in report.files if f.status != "indexed"}
        if marks != self.marks:
            self.call_later(self.show_marks, marks)

    def show_marks(self, marks: dict[Path, FileOutcome]) -> None:
        """Mark these paths, and draw again the rows whose mark came or went."""
        changed = self.marks.keys() | marks.keys()
        self.marks = marks
        stack = [self.root]
        while stack:
            node = stack.pop()
            stack.extend(node.children)
            if node.data is not None and node.data.path in changed:
                node.refresh()

    def outcome(self, path: Path) -> FileOutcome | None:
        """Why the index left `path` out, if it did."""
        return self.marks.get(path)

    def render_label(self, node: TreeNode[DirEntry], base_style: Style, style: Style) -> Text:
        label = super().render_label(node, base_style, style)
        outcome = self.outcome(node.data.path) if node.data is not None else None
        if outcome is not None:
            label.stylize(self.get_component_rich_style("notes-tree--failed" if outcome.status == "failed" else "notes-tree--skipped", partial=True))
        return label

    def set_width(self, columns: int) -> int:
        """Make the column `columns` wide, within bounds; the width it got."""
        width = max(MIN_WIDTH, min(MAX_WIDTH, columns))
        self.styles.width = width
        return width

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:  # type: ignore[type-arg]
        data = event.node.data
        outcome = self.outcome(data.path) if data is not None else None
        why = f"\n{outcome.status} by the index: {outcome.detail or outcome.reason}" if outcome is not None else ""
        self.tooltip = data.path.name + why if data is not None else None

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
