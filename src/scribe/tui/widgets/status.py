"""The status line above the key footer: file and save state, model, index status and progress."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

if TYPE_CHECKING:
    from scribe.progress import Reading


class StatusBar(Horizontal):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = ""
        self.primed = False  # a warm-up has the tasks' shared prompt start evaluated (scribe.tui.warming)
        self.pulling: str | None = None  # a model pull's progress, shown after the model
        self.index_text = "index: …"
        self.indexing_text: str | None = None  # a re-index's progress, shown in place of the index status

    def compose(self) -> ComposeResult:
        yield Static("no file", id="file-status")
        yield Static("", id="model-status")
        yield ProgressBar(id="index-progress", show_eta=False)
        yield Static(self.index_text, id="index-status")

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

    def show_pull(self, text: str | None) -> None:
        """A pull's progress ('pulling qwen2.5-coder:1.5b 40%'); None when it ends."""
        self.pulling = text
        self._show_model()

    def _show_model(self) -> None:
        primed = " · outline/critique primed" if self.primed else ""
        pulling = f" · {self.pulling}" if self.pulling else ""
        self.query_one("#model-status", Static).update(f"model: {self.model}{primed}{pulling}")

    def set_index(self, text: str) -> None:
        """The index status; while a re-index runs it is kept for when it ends."""
        self.index_text = text
        self._show_index()

    def show_indexing(self, reading: Reading | None) -> None:
        """A re-index runs: 'indexing 120/480 chunks · ~2m left' and the bar; None before its first count."""
        bar = self.query_one(ProgressBar)
        bar.display = True
        if reading is None:
            self.indexing_text = "indexing…"
            bar.update(total=None, progress=0)
        else:
            left = f" · ~{reading.left}" if reading.left else ""
            self.indexing_text = f"indexing {reading.count}{left}"
            bar.update(total=reading.total, progress=reading.done)
        self._show_index()

    def end_indexing(self) -> None:
        self.indexing_text = None
        self.query_one(ProgressBar).display = False
        self._show_index()

    def _show_index(self) -> None:
        self.query_one("#index-status", Static).update(self.index_text if self.indexing_text is None else self.indexing_text)
