"""The assistant panel: the task that runs or ran last, its streamed answer, issues and sources.

The panel owns the run: `start()` streams it into the panel's `StreamView`, and the view's messages
(`Started`, `Finished`, `Cancelled`, `Failed`) fill in the rest as they bubble through. Choosing
an issue or a source posts `IssueChosen` / `SourceChosen` for the screen, which owns the editor.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from scribe.critique import Issue
from scribe.tui.crashlog import unexpected
from scribe.tui.runs import Run
from scribe.tui.widgets.stream import StreamCall, StreamView

if TYPE_CHECKING:
    from scribe.runlog import RunLog
    from scribe.tui.history import LoggedResult


class AssistantPanel(Vertical):
    class IssueChosen(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    class SourceChosen(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, *, last_key_at: Callable[[], float], id: str | None = None) -> None:
        super().__init__(id=id)
        self.last_key_at = last_key_at
        self.current: Run | None = None  # the run streaming now
        self.last: Run | None = None  # the last run that ended (its issues, sources, expansion)
        self.expansion: Run | None = None  # an expansion ready to insert or replace with
        self.issues: list[Issue] = []  # the critique issues listed now

    def compose(self) -> ComposeResult:
        yield Label("Assistant", id="run-title")
        yield StreamView(id="output-view", last_key_at=self.last_key_at)
        yield Static("", id="expansion-bar")
        yield Label("Issues", id="issues-label", classes="list-label")
        yield OptionList(id="issues")
        yield Label("Sources", id="sources-label", classes="list-label")
        yield OptionList(id="sources")

    def on_mount(self) -> None:
        self.view.show_metrics(Text("idle", "dim"))
        self.show_issues([])
        self.show_sources([])
        self.show_expansion_bar(False)

    @property
    def view(self) -> StreamView:
        return self.query_one(StreamView)

    # --- the run --------------------------------------------------------------------------------

    def start(self, run: Run, call: StreamCall) -> None:
        """`run` is current from now on (a second task waits); the view starts streaming next."""
        self.current = run
        self.drop_expansion()
        self.set_title(f"{run.task.capitalize()} · {run.scope.label}")
        self.show_issues([])
        self.show_sources([])
        self.call_later(self.view.start, call)

    def show_history(self, runlog: Callable[[], RunLog], draft: str) -> None:
        """Show `draft`'s latest result from the run log (read in a worker: the log may be large)."""
        self.run_worker(partial(self._read_history, runlog, draft), thread=True, group="history", exclusive=True)

    def _read_history(self, runlog: Callable[[], RunLog], draft: str) -> None:
        from scribe.tui.history import latest_result

        try:
            found = latest_result(runlog(), draft)
        except Exception as exc:  # noqa: BLE001 - history is a courtesy: never in the author's way
            unexpected(exc, "reading the run log")
            return
        if found is not None:
            self.call_later(self.show_logged, found)

    async def show_logged(self, result: LoggedResult) -> None:
        """The draft's latest result from the run log, unless something newer is on the panel."""
        if self.current is not None or self.last is not None:
            return
        self.set_title(f"{result.task.capitalize()} · run {result.run_id} · {result.started_at[:16].replace('T', ' ')}")
        await self.view.end(result.markdown)
        self.view.show_metrics(Text(f"{result.model} · from the run log (scribe log show {result.run_id})", "dim"))
        self.show_issues(result.critique.issues if result.critique is not None else [])

    def cancel(self) -> None:
        if self.current is not None:
            self.view.cancel()

    def drop_expansion(self) -> None:
        self.expansion = None
        self.show_expansion_bar(False)

    @on(StreamView.Started)
    def _started(self, event: StreamView.Started) -> None:
        if self.current is not None:
            self.current.sources = event.prepared.sources
        self.show_sources(event.prepared.sources)

    @on(StreamView.Finished)  # Cancelled is a Finished too (no selector: posted from a worker thread, these have no sender to match)
    def _finished(self, event: StreamView.Finished) -> None:
        run, result = self.current, event.result
        if run is None:
            return
        run.result = result
        call = result.call
        self.set_title(f"{run.task.capitalize()} · {run.scope.label} · run {result.run_id}")
        if result.critique is not None:
            self.show_issues(result.critique.issues)
        if call.status == "failed":
            self.notify(f"{call.error}; the partial output is kept", severity="error", title=f"{run.task} failed")
        elif call.status == "cancelled":
            self.notify(f"cancelled; the partial output is kept (run {result.run_id})", title=run.task)
        if run.task == "expand" and call.text.strip():
            self.expansion = run
            self.show_expansion_bar(True, cut_off=run.cut_off)
        self._ended(run)

    @on(StreamView.Failed)
    def _failed(self, event: StreamView.Failed) -> None:
        if self.current is not None:
            self.notify(event.error, severity="error", title=f"{self.current.task} failed", timeout=10)
            self._ended(self.current)

    def _ended(self, run: Run) -> None:
        self.last = run
        self.current = None

    # --- what it shows --------------------------------------------------------------------------

    def set_title(self, title: str) -> None:
        self.query_one("#run-title", Label).update(title)

    def show_expansion_bar(self, shown: bool, *, cut_off: bool = False) -> None:
        """The keys that use the expansion; a cut-off one says that only its complete sentences go in."""
        bar = self.query_one("#expansion-bar", Static)
        keys = "[b]ctrl+o[/b] insert below · [b]ctrl+r[/b] replace the section (one undo step)"
        cut = "\n[i]cut off before the end: it goes in trimmed to its last complete sentence[/i]" if cut_off else ""
        bar.update(keys + cut if shown else "")
        bar.display = shown

    def show_issues(self, issues: list[Issue]) -> None:
        """The issues as the critique's markdown numbers them (`critique.reading_order`), so option i
        is issue i + 1 there, and `IssueChosen(i)` is `self.issues[i]`."""
        self.issues = list(issues)
        options = self.query_one("#issues", OptionList)
        options.clear_options()
        for i, issue in enumerate(issues):
            quote = " ".join(issue.quote.split())
            if len(quote) > 60:
                quote = quote[:57] + "…"
            line = Text(f"{i + 1}. ", "bold")
            line.append(f"{issue.severity:<6} ", {"high": "bold red", "medium": "yellow", "low": "green"}.get(issue.severity, ""))
            line.append(f"“{quote}”", "" if issue.grounded else "dim strike")
            if issue.problem:
                line.append(f" — {issue.problem}", "dim")
            options.add_option(Option(line, id=f"issue-{i}"))
        shown = bool(issues)
        options.highlighted = 0 if shown else None  # Enter right after Tab acts on the first one
        options.display = shown
        self.query_one("#issues-label", Label).display = shown
        self.query_one("#issues-label", Label).update(f"Issues ({len(issues)}) — enter selects the quote in the draft")

    def show_sources(self, sources: list[Any]) -> None:
        options = self.query_one("#sources", OptionList)
        options.clear_options()
        for i, source in enumerate(sources):
            line = Text()
            line.append(f"[{source.number}] ", "bold")
            line.append(source.path, "underline")
            if source.heading_path:
                line.append(f"  {source.heading_path}", "dim")
            options.add_option(Option(line, id=f"source-{i}"))
        shown = bool(sources)
        options.highlighted = 0 if shown else None
        options.display = shown
        self.query_one("#sources-label", Label).display = shown
        self.query_one("#sources-label", Label).update(f"Sources ({len(sources)}) — enter opens the note")

    @on(OptionList.OptionSelected, "#issues")
    def _issue(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.IssueChosen(event.option_index))

    @on(OptionList.OptionSelected, "#sources")
    def _source(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.SourceChosen(event.option_index))
