"""The draft editor: a markdown TextArea that speaks in character offsets of the whole file."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import TextArea
from textual.widgets.text_area import Selection, TextAreaTheme

from scribe.tui.documents import EditorText

PLACEHOLDER = "Choose a draft in the tree, or press ctrl+n for a new one."


def add_scribe_themes(area: TextArea) -> None:
    """Syntax colours for the app's dark and light themes; the base colours come from scribe.tcss."""
    for name, builtin in (("scribe-dark", "vscode_dark"), ("scribe-light", "github_light")):
        source = TextAreaTheme.get_builtin_theme(builtin)
        area.register_theme(TextAreaTheme(name=name, syntax_styles=dict(source.syntax_styles) if source else {}))


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
