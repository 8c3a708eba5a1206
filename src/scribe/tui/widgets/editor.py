"""The draft editor: a markdown TextArea that speaks in character offsets of the whole file.

While a review is open (`scribe.tui.reviewing`) it also marks spans in place (the suggested
changes) and reports each change to its text exactly, so the marks can follow the typing.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.style import Style
from textual.widgets import TextArea
from textual.widgets.text_area import Edit, EditResult, Selection, TextAreaTheme

from scribe.tui.documents import EditorText

PLACEHOLDER = "Choose a draft in the tree, or press ctrl+n for a new one."
MARK, CURRENT_MARK = "review.change", "review.current"  # highlight names of a suggested change
MARK_STYLES = {  # in each theme: every pending change underlined, the current one also lit
    "scribe-dark": {MARK: Style(underline=True, bgcolor="#3a3324"), CURRENT_MARK: Style(underline=True, bold=True, bgcolor="#6b5327")},
    "scribe-light": {MARK: Style(underline=True, bgcolor="#f3e6c8"), CURRENT_MARK: Style(underline=True, bold=True, bgcolor="#e9c77f")},
}
Mark = tuple[int, int, bool]  # editor offsets start, end; whether it is the current change
EditListener = Callable[[tuple[int, int, int] | None], None]  # (start, end, new length) in the text before; None: unknown


def add_scribe_themes(area: TextArea) -> None:
    """Syntax colours for the app's dark and light themes; the base colours come from scribe.tcss."""
    for name, builtin in (("scribe-dark", "vscode_dark"), ("scribe-light", "github_light")):
        source = TextAreaTheme.get_builtin_theme(builtin)
        styles = {**(source.syntax_styles if source else {}), **MARK_STYLES[name]}
        area.register_theme(TextAreaTheme(name=name, syntax_styles=styles))


def theme_for(dark: bool) -> str:
    return "scribe-dark" if dark else "scribe-light"


class DraftEditor(TextArea):
    """A TextArea with markdown highlighting and soft wrap, plus offset-based helpers."""

    @classmethod
    def _merge_bindings(cls):  # type: ignore[no-untyped-def]
        # TextArea binds f6/f7 (select line / select all); the app uses them for Compare and Model.
        bindings = super()._merge_bindings()
        for key in ("f6", "f7"):
            bindings.key_to_bindings.pop(key, None)
        return bindings

    def __init__(self, *, id: str | None = None) -> None:
        self.marks: list[Mark] = []  # set before TextArea's init, which builds the highlights
        self.edit_listener: EditListener | None = None
        self._holding_marks = False  # an edit is under way: the marks' offsets are the old text's
        super().__init__(
            "", language="markdown", soft_wrap=True, show_line_numbers=False, tab_behavior="focus",
            id=id, placeholder=PLACEHOLDER, read_only=True,
        )
        self.path: Path | None = None
        add_scribe_themes(self)

    def snapshot(self) -> EditorText:
        """The text as LF-joined lines (offsets the core's body offsets map onto)."""
        return EditorText.from_lines(list(self.document.lines), self.path)

    def cursor_offset(self, snap: EditorText) -> int:
        return snap.offset(self.cursor_location)

    def selected_offsets(self, snap: EditorText) -> tuple[int, int] | None:
        start, end = sorted((self.selection.start, self.selection.end))
        if start == end:
            return None
        return snap.offset(start), snap.offset(end)

    def select_offsets(self, snap: EditorText, start: int, end: int) -> None:
        self.selection = Selection(snap.location(start), snap.location(end))
        self.scroll_cursor_visible(center=True)

    def replace_offsets(self, snap: EditorText, text: str, start: int, end: int) -> None:
        """Replace [start, end) with `text` as one undoable edit, and select what was put in."""
        self.history.checkpoint()
        result = self.replace(text, snap.location(start), snap.location(end), maintain_selection_offset=False)
        self.history.checkpoint()
        self.selection = Selection(snap.location(start), result.end_location)
        self.scroll_cursor_visible(center=True)

    # --- marks, and the changes they follow --------------------------------------------------------

    def lf_offset(self, location: tuple[int, int]) -> int:
        """The offset of a location in the LF-joined text (`snapshot().text`)."""
        row, column = location
        lines = self.document.lines
        row = max(0, min(row, len(lines) - 1))
        return sum(len(line) + 1 for line in lines[:row]) + min(column, len(lines[row]))

    def edit(self, edit: Edit) -> EditResult:
        """Every change to the text (typing, paste, an accepted change) goes through here: while
        someone listens, tell them exactly what changed, before the text is drawn again."""
        if self.edit_listener is None:
            return super().edit(edit)
        start, end = sorted((self.lf_offset(edit.from_location), self.lf_offset(edit.to_location)))
        self._holding_marks = True
        try:
            result = super().edit(edit)
        finally:
            self._holding_marks = False
        if self.edit_listener is not None:
            self.edit_listener((start, end, self.lf_offset(result.end_location) - start))
        return result

    def undo(self) -> None:
        self._unknown_change(super().undo)

    def redo(self) -> None:
        self._unknown_change(super().redo)

    def load_text(self, text: str) -> None:
        self._unknown_change(lambda: super(DraftEditor, self).load_text(text))

    def _unknown_change(self, change: Callable[[], None]) -> None:
        if self.edit_listener is None:
            change()
            return
        self._holding_marks = True
        try:
            change()
        finally:
            self._holding_marks = False
        if self.edit_listener is not None:
            self.edit_listener(None)

    def set_marks(self, marks: Sequence[Mark]) -> None:
        """Show these spans as suggested changes (replacing the ones shown)."""
        self.marks = list(marks)
        highlights = self._highlights
        for row in list(highlights):
            highlights[row] = [h for h in highlights[row] if not h[2].startswith("review.")]
        self._add_marks()
        self._line_cache.clear()
        self.refresh()

    def _build_highlight_map(self) -> None:
        super()._build_highlight_map()
        if self.marks and not self._holding_marks:
            self._add_marks()

    def _add_marks(self) -> None:
        """The marks as highlights (per row, UTF-8 byte columns, as the syntax's are kept)."""
        lines = self.document.lines
        starts = [0]
        for line in lines:
            starts.append(starts[-1] + len(line) + 1)

        def place(offset: int) -> tuple[int, int]:
            row = max(0, min(bisect_right(starts, offset) - 1, len(lines) - 1))
            column = min(offset - starts[row], len(lines[row]))
            return row, len(lines[row][:column].encode())

        for start, end, current in self.marks:
            name = CURRENT_MARK if current else MARK
            if start == end:  # an insertion: mark the character before it (after it at the start)
                start, end = (start - 1, start) if start > 0 else (start, start + 1)
            (top, first), (bottom, last) = place(start), place(end)
            if top == bottom:
                if last > first:
                    self._highlights[top].append((first, last, name))
                continue
            self._highlights[top].append((first, None, name))
            for row in range(top + 1, bottom):
                self._highlights[row].append((0, None, name))
            if last:
                self._highlights[bottom].append((0, last, name))
