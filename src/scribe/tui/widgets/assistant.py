"""The assistant panel: the task that runs or ran last, its streamed answer, issues and sources,
and the conversation it began (`widgets/followup.py`: the follow-up box and the turns).

The panel owns the run: `start()` streams it into the panel's `StreamView`, and the view's messages
(`Started`, `Finished`, `Cancelled`, `Failed`) fill in the rest as they bubble through. Once a run
ends, its conversation's turns are read back from the run log, the one record of them. Choosing
an issue or a source posts `IssueChosen` / `SourceChosen` for the screen, which owns the editor;
a follow-up posts `ConversationBox.Asked`, which the screen runs.
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
from scribe.tui.history import conversation_after, latest_conversation, logged_conversation
from scribe.tui.runs import Run
from scribe.tui.widgets.followup import ConversationBox
from scribe.tui.widgets.stream import StreamCall, StreamView

if TYPE_CHECKING:
    from scribe.runlog import RunLog
    from scribe.tui.history import LoggedConversation


class AssistantPanel(Vertical):
    class IssueChosen(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    class SourceChosen(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, *, last_key_at: Callable[[], float], runlog: Callable[[], RunLog], id: str | None = None) -> None:
        super().__init__(id=id)
        self.last_key_at = last_key_at
        self.runlog = runlog
        self.current: Run | None = None  # the run streaming now
        self.last: Run | None = None  # the last run that ended (its issues, sources, expansion)
        self.expansion: Run | None = None  # an expansion ready to insert or replace with
        self.issues: list[Issue] = []  # the critique issues listed now
        self.origin: Run | None = None  # the task that began the conversation shown, if it ran in this session
        self.shown_run: int | None = None  # the run whose answer the view shows
        self._reads = 0  # conversation reads started (the newest one wins)

    def compose(self) -> ComposeResult:
        yield Label("Assistant", id="run-title")
        yield StreamView(id="output-view", last_key_at=self.last_key_at)
        yield Static("", id="expansion-bar")
        yield ConversationBox(id="conversation")
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

    @property
    def conversation(self) -> ConversationBox:
        return self.query_one(ConversationBox)

    # --- the run --------------------------------------------------------------------------------

    def start(self, run: Run, call: StreamCall) -> None:
        """`run` is current from now on (a second task waits); the view starts streaming next."""
        self.current, self.shown_run = run, None
        self.drop_expansion()
        self.set_title(run_title(run))
        if run.follows is None:  # a task: turn 1 of a conversation of its own
            self.origin = run
            self.conversation.clear()
            self.show_issues([])
            self.show_sources([])
        self.call_later(self.view.start, call)

    def show_history(self, draft: str) -> None:
        """Reopen `draft`'s latest conversation from the run log, as a chat app shows the last chat,
        unless the panel shows something newer by the time it is read."""
        self._read_conversation(partial(latest_conversation, draft=draft), "history")

    def reopen(self, conversation_id: str) -> None:
        """Show a conversation from the run log in place of the one shown, to continue it."""
        self._read_conversation(partial(logged_conversation, conversation_id=conversation_id), "reopen")

    def _read_conversation(self, read: Callable[[RunLog], LoggedConversation | None], how: str) -> None:
        """Show the conversation `read` finds in the run log (in a worker: the log may be large);
        `how` is show_logged's. Only the newest read is shown: an older one answering late is dropped."""
        self._reads += 1
        self.run_worker(partial(self._read, read, how, self._reads), thread=True, group="history")

    def _read(self, read: Callable[[RunLog], LoggedConversation | None], how: str, number: int) -> None:
        try:
            found = read(self.runlog())
        except Exception as exc:  # noqa: BLE001 - history is a courtesy: never in the author's way
            unexpected(exc, "reading the run log")
            return
        if found is not None:
            self.call_later(self._show_read, found, how, number)

    async def _show_read(self, found: LoggedConversation, how: str, number: int) -> None:
        if number == self._reads:
            await self.show_logged(found, how)

    async def show_logged(self, found: LoggedConversation, how: str = "turn") -> None:
        """A conversation from the run log: its turns, and the answer of its turn `found.shown`.
        `how`: "history" (the draft's last, on open: unless a run came first), "reopen" (in place
        of the conversation shown), "turn" (another turn of the one shown), "turns" (its turns
        only: a follow-up failed, and the view says why)."""
        if self.current is not None or (how == "history" and self.last is not None):
            return
        result = found.shown
        self.conversation.show(found.id, found.turns, shown=result.run_id)
        if how == "turns":
            return
        if how != "turn":
            self.last = None
            if self.origin is None or self.origin.result is None or self.origin.result.run_id != found.turns[0].run_id:
                self.origin = None  # not begun in this session: its follow-ups work on the whole draft
            self.drop_expansion()
            self.show_sources([])
        if self.shown_run == result.run_id:
            return
        self.shown_run = result.run_id
        label = result.task.capitalize() if result.turn == 1 else f"Follow-up · turn {result.turn}"
        self.set_title(f"{label} · run {result.run_id} · {result.started_at[:16].replace('T', ' ')}")
        await self.view.end(result.markdown)
        cut = " · cut off before its end" if result.cut_off else ""
        self.view.show_metrics(Text(f"{result.model} · from the run log (scribe log show {result.run_id}){cut}", "dim"))
        if result.critique is not None or how != "turn":
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
        call, what = result.call, "follow-up" if run.follows is not None else run.task
        self.set_title(run_title(run))
        if result.critique is not None:
            self.show_issues(result.critique.issues)
        if call.status == "failed":
            self.notify(f"{call.error}; the partial output is kept", severity="error", title=f"{what} failed")
        elif call.status == "cancelled":
            self.notify(f"cancelled; the partial output is kept (run {result.run_id})", title=what)
        if run.task == "expand" and call.text.strip():
            self.expansion = run
            self.show_expansion_bar(True, cut_off=run.cut_off, looped=run.looped)
        self._ended(run)
        self.shown_run = result.run_id
        self._read_conversation(partial(conversation_after, run_id=result.run_id), "turn")

    @on(StreamView.Failed)
    def _failed(self, event: StreamView.Failed) -> None:
        run = self.current
        if run is not None:
            what = "follow-up" if run.follows is not None else run.task
            self.notify(event.error, severity="error", title=f"{what} failed", timeout=10)
            self._ended(run)
            if run.follows is not None:  # the author's words back in the box, to send again
                self.conversation.not_asked()
                self._read_conversation(partial(conversation_after, run_id=run.follows), "turns")

    @on(ConversationBox.TurnChosen)
    def _turn_chosen(self, event: ConversationBox.TurnChosen) -> None:
        event.stop()
        conversation = self.conversation.conversation_id
        if self.current is None and conversation is not None:
            self._read_conversation(partial(logged_conversation, conversation_id=conversation, shown=event.turn.run_id), "turn")

    def _ended(self, run: Run) -> None:
        self.last = run
        self.current = None

    # --- what it shows --------------------------------------------------------------------------

    def set_title(self, title: str) -> None:
        self.query_one("#run-title", Label).update(title)

    def show_expansion_bar(self, shown: bool, *, cut_off: bool = False, looped: bool = False) -> None:
        """The keys that use the expansion; an unfinished one says how much of it goes in."""
        bar = self.query_one("#expansion-bar", Static)
        keys = "[b]ctrl+o[/b] insert below · [b]ctrl+r[/b] replace the section (one undo step)"
        cut = ("\n[i]stopped when the model began repeating itself: it goes in up to where the loop began[/i]" if looped
               else "\n[i]cut off before the end: it goes in trimmed to its last complete sentence[/i]" if cut_off else "")
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


def run_title(run: Run) -> str:
    """The panel's title for a run: the task and its text, or the follow-up's turn; its run id once logged."""
    title = f"Follow-up · turn {run.turn}" if run.follows is not None else f"{run.task.capitalize()} · {run.scope.label}"
    if run.result is None:
        return title
    return f"{title} · run {run.result.run_id}" + (" · cut off" if run.follows is not None and run.cut_off else "")
