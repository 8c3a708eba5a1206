"""The status line above the key footer: file and save state, model, index status and progress."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static


class StatusBar(Horizontal):
    def compose(self) -> ComposeResult:
        yield Static("no file", id="file-status")
        yield Static("", id="model-status")
        yield ProgressBar(id="index-progress", show_eta=False)
        yield Static("index: …", id="index-status")

    def on_mount(self) -> None:
        self.query_one(ProgressBar).display = False

    def set_file(self, text: str | Text) -> None:
        self.query_one("#file-status", Static).update(text)

    def set_model(self, text: str) -> None:
        self.query_one("#model-status", Static).update(text)

    def set_index(self, text: str) -> None:
        self.query_one("#index-status", Static).update(text)

    def set_progress(self, done: int | None, total: int | None = None) -> None:
        bar = self.query_one(ProgressBar)
        if done is None:
            bar.display = False
            return
        bar.display = True
        bar.update(total=total, progress=done)
