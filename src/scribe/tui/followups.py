"""Follow-ups on the drafting screen: continue the conversation in the assistant panel, list the
draft's conversations and reopen one, fork from an earlier turn.

The panel's `ConversationBox` takes the author's words; this runs them through the core
(`scribe.conversations.follow_up`, via `Services`), streaming into the panel like a task, so Esc
cancels a follow-up as it does a task and the cut-off turn stays in the run log, marked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.text import Text
from textual.binding import Binding

from scribe.errors import ScribeError
from scribe.tui.crashlog import unexpected
from scribe.tui.runs import follow_up_run
from scribe.tui.screens.dialogs import ChoiceScreen
from scribe.tui.widgets.followup import TurnList
from scribe.tui.widgets.stream import StreamCall

if TYPE_CHECKING:
    from textual.screen import Screen

    from scribe.conversations import ConversationSummary
    from scribe.tui.session import Session
    from scribe.tui.widgets.assistant import AssistantPanel
    from scribe.tui.widgets.editor import DraftEditor
    from scribe.tui.widgets.followup import ConversationBox

FOLLOW_UP_BINDINGS = [
    Binding("ctrl+f", "follow_up", "Follow up", priority=True,
            tooltip="type a follow-up on the answer shown (enter sends; the earlier turns go with it)"),
    Binding("ctrl+g", "conversations", "Conversations", priority=True,
            tooltip="this draft's conversations: reopen one to read or continue it"),
]
LISTED = 50  # conversations in the list, newest first


def summary_label(summary: ConversationSummary, *, shown: bool) -> Text:
    """A conversation in the list: id, first task, turns, where it forked from, then its first words."""
    line = Text(summary.id, "bold")
    line.append(f" · {summary.task.capitalize()} · {summary.turns} turn{'s' if summary.turns != 1 else ''}")
    if summary.forked_from is not None:
        line.append(f" · fork of {summary.forked_from[0]} at turn {summary.forked_from[1]}", "italic")
    line.append(f" · {summary.last_at[:16].replace('T', ' ')}", "dim")
    if shown:
        line.append(" · shown now", "bold")
    if summary.first_words:
        line.append(f"\n  {summary.first_words}", "dim")
    return line


class FollowUps:
    """`screen` shows the list and runs the reads; `changed` refreshes the keys that apply."""

    def __init__(self, screen: Screen[None], session: Session, panel: AssistantPanel, editor: DraftEditor,
                 *, changed: Callable[[], object]) -> None:
        self.screen = screen
        self.session = session
        self.panel = panel
        self.editor = editor
        self.changed = changed

    @property
    def box(self) -> ConversationBox:
        return self.panel.conversation

    def allows(self, action: str) -> bool:
        """Whether `action` applies now: a conversation is shown and nothing runs (the footer and
        the palette offer only these)."""
        if self.panel.current is not None or not self.box.display:
            return False
        return action != "fork" or len(self.box.turns) > 1

    def focus(self) -> None:
        self.box.input.focus()

    def fork(self) -> None:
        """Fork from the turn highlighted in the panel's list (the palette's way to what `f` does there)."""
        highlighted = self.box.query_one(TurnList).highlighted
        self.box.fork(highlighted if highlighted is not None else len(self.box.turns) - 1)

    def ask(self, text: str, after: int, forking: bool) -> None:
        """Run the follow-up `text` after run `after`, streaming into the panel."""
        if self.panel.current is not None:
            self.screen.notify("the model is still answering; Esc cancels it", severity="warning")
            return
        previous = next((t for t in self.box.turns if t.run_id == after), None)
        if previous is None:
            return
        model = self.session.model or previous.model  # the model chosen now, as in a chat app
        services, options = self.session.services, self.session.task_options or None
        run = follow_up_run(self.panel.origin, after, previous.turn + 1, model, self.editor.snapshot())
        sources = list(run.sources or [])
        call = StreamCall(
            "follow-up", model, False,
            prepare=lambda: services.follow_up_prompt(after, text, sources),
            execute=lambda prompt, on_token, cancel: services.follow_up(prompt, model=model, options=options,
                                                                       on_token=on_token, cancel=cancel),
        )
        self.box.asking(text)
        self.panel.start(run, call)
        self.changed()
        if forking:
            self.screen.notify("forking: the original conversation stays as it was", title="Follow-up")

    def choose(self) -> None:
        """List the open draft's conversations (read in a worker); the one picked reopens in the panel."""
        if self.editor.path is not None:
            draft = self.session.rel(self.editor.path)
            self.screen.run_worker(lambda: self._list(draft), thread=True, group="conversations", exclusive=True)

    def _list(self, draft: str) -> None:
        from scribe.conversations import conversations

        try:
            found = conversations(self.session.services.runlog(), draft, limit=LISTED)
        except ScribeError as exc:
            self.screen.app.call_from_thread(self.screen.notify, str(exc), severity="error", title="Conversations")
            return
        except Exception as exc:  # noqa: BLE001 - a bug must not take the author's draft down with it
            self.screen.app.call_from_thread(self.screen.notify, unexpected(exc, "listing conversations"), severity="error")
            return
        self.screen.app.call_from_thread(self._offer, draft, found)

    def _offer(self, draft: str, found: list[ConversationSummary]) -> None:
        if not found:
            self.screen.notify(f"no conversations about {draft} yet: run a task (F2-F5) to begin one", title="Conversations")
            return
        shown = self.box.conversation_id
        options = [(s.id, summary_label(s, shown=s.id == shown)) for s in found]
        note = f"{draft}, newest first. Enter reopens one in the panel; there, f on a turn forks from it."
        self.screen.app.push_screen(ChoiceScreen("Conversations", options, highlight=shown, note=note),  # type: ignore[arg-type]
                                    lambda chosen: chosen and chosen != shown and self.panel.reopen(chosen))
