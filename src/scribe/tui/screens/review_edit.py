"""The dialog that edits a suggested change before it is accepted (alt+e in a review): the words
it replaces, and its new text to change. ctrl+s (or Enter, when the text is one line) accepts the
text as edited; Esc goes back to the review with nothing changed."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static, TextArea

from scribe.tui.widgets.review import CONTEXT, DELETED


class EditChangeScreen(ModalScreen[str | None]):
    BINDINGS = [
        Binding("ctrl+s", "accept", "Accept as edited", priority=True),
        Binding("enter", "accept_line", "Accept as edited", show=False, priority=True),
        Binding("escape", "cancel", "Back to the review"),
    ]

    def __init__(self, old: str, new: str) -> None:
        super().__init__(classes="dialog-screen")
        self.old = old
        self.new = new

    def compose(self) -> ComposeResult:
        from textual.content import Content

        with Vertical(classes="dialog"):
            yield Label("Edit the change, then accept it", classes="dialog-title")
            yield Static(Content.assemble(("Replaces  ", "bold"), (self.old or "(nothing: an insertion)", DELETED)),
                         classes="dialog-message")
            yield TextArea(self.new, soft_wrap=True, show_line_numbers=False, tab_behavior="focus", id="change-text")
            hint = "ctrl+s accepts" if "\n" in self.new else "enter (or ctrl+s) accepts"
            yield Static(Content.styled(f"{hint} · esc goes back, nothing changed", CONTEXT), classes="dialog-note")

    def on_mount(self) -> None:
        area = self.query_one(TextArea)
        area.styles.height = min(12, max(3, self.new.count("\n") + 3))
        area.move_cursor(area.document.end)
        area.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Enter accepts a one-line text; in a text of several lines it goes to the TextArea (a new line).
        return action != "accept_line" or "\n" not in self.new

    def action_accept(self) -> None:
        self.dismiss(self.query_one(TextArea).text)

    def action_accept_line(self) -> None:
        self.action_accept()

    def action_cancel(self) -> None:
        self.dismiss(None)
