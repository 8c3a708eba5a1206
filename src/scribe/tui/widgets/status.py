"""The status line above the key footer: file and save state, model, index status and progress."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static


class StatusBar(Horizontal):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = ""
        self.primed = False  # a warm-up has the tasks' shared prompt start evaluated (scribe.tui.warming)

    def compose(self) -> ComposeResult:
        yield Static("no file", id="file-status")
        yield Static("", id="model-status")
        yield ProgressBar(id="index-progress", show_eta=False)
        yield Static("index: …", id="index-status")

    def on_mount(self) -> None:
        self.query_one(ProgressBar).display = False

    def set_file(self, text: str | Text) -> None:
        self.query_one("#file-status", Static).update(text)

    def set_model(self, model: str) -> None:
        self.model, self.primed = model, False
        self._show_model()

    def set_primed(self, primed: bool) -> None:
        self.primed = primed
        self._show_model()

    def _show_model(self) -> None:
        primed = " · outline/critique primed" if self.primed else ""
        self.query_one("#model-status", Static).update(f"model: {self.model}{primed}")

    def set_index(self, text: str) -> None:
        self.query_one("#index-status", Static).update(text)

    def set_progress(self, done: int | None, total: int | None = None) -> None:
        bar = self.query_one(ProgressBar)
        if done is None:
            bar.display = False
            return
        bar.display = True
        bar.update(total=total, progress=done)
