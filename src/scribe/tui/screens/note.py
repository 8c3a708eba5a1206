"""A cited or related note, read-only, opened at the heading its chunk came from."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, TextArea

from scribe.chunking import HEADING_SEPARATOR, find_section
from scribe.tui.documents import DraftFile, EditorText
from scribe.tui.widgets.editor import add_scribe_themes, theme_for

if TYPE_CHECKING:
    from scribe.grounding import Hit


def heading_offset(snap: EditorText, heading_path: str) -> int:
    """Editor offset of the deepest heading of `heading_path` found in the note (else the body start)."""
    for heading in reversed([h for h in heading_path.split(HEADING_SEPARATOR) if h.strip()]):
        span = find_section(snap.body, heading)
        if span is not None:
            return snap.body_start + span[0]
    return snap.body_start


class NoteScreen(ModalScreen[str | None]):
    """Esc closes; `e` opens the note in the editor (dismisses with "edit")."""

    BINDINGS = [Binding("escape,q", "dismiss(None)", "Close"), Binding("e", "dismiss('edit')", "Edit this note")]

    def __init__(self, path: Path, rel_path: str, text: str, heading_path: str) -> None:
        super().__init__(classes="dialog-screen")
        self.path = path
        self.rel_path = rel_path
        self.text = text
        self.heading_path = heading_path

    @classmethod
    def of_source(cls, root: Path, source: Hit) -> NoteScreen:
        """The note a source (or a related hit) came from, as it is on disk now; ScribeError if it cannot be read."""
        path = root / source.path
        return cls(path, source.path, DraftFile.open(path).saved_text, source.heading_path)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog note-dialog"):
            yield Label(f"{self.rel_path}  ·  {self.heading_path}", classes="dialog-title")
            yield Label("[b]esc[/b] or [b]q[/b] closes · [b]e[/b] opens the note in the editor", classes="dialog-note")
            yield TextArea(self.text, language="markdown", read_only=True, soft_wrap=True, id="note-text")

    def on_mount(self) -> None:
        area = self.query_one(TextArea)
        add_scribe_themes(area)
        area.theme = theme_for(self.app.current_theme.dark)
        snap = EditorText.from_lines(list(area.document.lines), self.path)
        row, _ = snap.location(heading_offset(snap, self.heading_path))
        area.focus()
        area.select_line(row)
        # The heading goes at the top once the text is laid out (before that the scroll is clamped).
        self.call_after_refresh(lambda: area.scroll_to(y=area.wrapped_document.location_to_offset((row, 0)).y, animate=False))
