"""Small modal dialogs: pick one of several, confirm, resolve a file conflict, name a new draft."""

from __future__ import annotations

from rich.console import RenderableType
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option


class ChoiceScreen(ModalScreen[str | None]):
    """Choose one option (by id); Esc dismisses with None."""

    BINDINGS = [Binding("escape", "dismiss_none", "Close")]

    def __init__(self, title: str, options: list[tuple[str, str]], *, highlight: str | None = None,
                 note: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.options = options
        self.highlight = highlight
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            if self.note:
                yield Static(self.note, classes="dialog-note")
            yield OptionList(*[Option(label, id=key) for key, label in self.options], id="choices")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        ids = [key for key, _ in self.options]
        if self.highlight in ids:
            options.highlighted = ids.index(self.highlight)
        options.focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class ButtonsScreen(ModalScreen[str]):
    """A message with buttons; each button dismisses with its id, also by its key (shown in its label)."""

    BINDINGS = [Binding("escape", "choose('cancel')", "Cancel")]

    def __init__(self, title: str, message: str, buttons: list[tuple[str, str, str, str]], *,
                 detail: RenderableType | None = None) -> None:
        """`buttons`: (id, label, variant, key); `detail` (a diff, say) scrolls under the message."""
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.message = message
        self.buttons = buttons
        self.detail = detail
        self._keys = {key: ident for ident, _, _, key in buttons}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.message, classes="dialog-message")
            if self.detail is not None:
                with VerticalScroll(classes="dialog-detail"):
                    yield Static(self.detail)
            with Horizontal(classes="dialog-buttons"):
                for ident, label, variant, key in self.buttons:
                    yield Button(f"{label} ({key})", id=ident, variant=variant)  # type: ignore[arg-type]

    def on_mount(self) -> None:
        self.query(Button).first().focus()

    def on_key(self, event) -> None:  # type: ignore[no-untyped-def]
        key = self._keys.get(event.key)
        if key is not None:
            event.stop()
            self.dismiss(key)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "cancel")

    def action_choose(self, key: str) -> None:
        self.dismiss(key)


def conflict_screen(name: str, *, quitting: bool = False) -> ButtonsScreen:
    message = (
        f"{name} was changed on disk by another program since scribe opened it.\n\n"
        "Keep mine: write the editor's text (their version is kept as a .bak beside the file).\n"
        "Load theirs: take the disk version into the editor (yours is kept as a .mine.bak, "
        "and one undo brings it back).\n"
        + ("Cancel: stay in scribe; nothing is written." if quitting else "Decide later: keep editing; autosave waits until you decide (ctrl+s).")
    )
    return ButtonsScreen(
        "File changed on disk",
        message,
        [("mine", "Keep mine", "primary", "k"), ("theirs", "Load theirs", "default", "l"),
         ("cancel", "Cancel" if quitting else "Decide later", "default", "c" if quitting else "d")],
    )


def recovery_screen(name: str, written_at: str, diff: str) -> ButtonsScreen:
    """After a crash: the edits the journal kept that the file does not have. Esc keeps both, so
    nothing is lost by closing the question."""
    from rich.syntax import Syntax

    message = (
        f"scribe closed before saving your last edits to {name} (kept at {written_at.replace('T', ' ')}).\n\n"
        "Recover: put them back in the editor (one undo shows the file as it is on disk).\n"
        "Keep both: leave the file as it is and write the edits beside it as a .recovered file.\n"
        "Discard: forget them."
    )
    return ButtonsScreen(
        "Recover unsaved edits?", message,
        [("recover", "Recover", "primary", "r"), ("both", "Keep both", "default", "k"), ("discard", "Discard", "error", "d")],
        detail=Syntax(diff, "diff", theme="ansi_dark", word_wrap=True),
    )


def confirm_screen(title: str, message: str, yes: str, no: str = "Stay") -> ButtonsScreen:
    return ButtonsScreen(title, message, [("yes", yes, "error", "y"), ("cancel", no, "primary", "n")])


class NameScreen(ModalScreen[str | None]):
    """Ask for a short text (a new draft's title)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, placeholder: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Input(placeholder=self.placeholder, id="name")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
