"""The conversation under a result in the assistant panel: the follow-up box and the turns so far.

The author types a follow-up and presses Enter: `Asked` goes up to the screen, which runs it (the
panel streams the answer like a task's). The turns list shows the conversation compactly (the
author's words, the start of each answer, a cut-off turn marked); Enter on a turn shows its answer
(`TurnChosen`), and `f` forks from it: the next follow-up goes after that turn, into a new
conversation (`scribe.conversations`), and the original stays as it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

if TYPE_CHECKING:
    from scribe.conversations import Turn

ASKED_WIDTH = 60  # characters of the author's words in a turn's line (the line ends in "…" where the panel does)
JSON_TASKS = ("outline", "critique")  # their first turn's answer is JSON: the line names the task instead
FORK_HELP = "fork from this turn: your next follow-up starts a new conversation here; the original stays"


def shorten(text: str, width: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def turn_line(turn: Turn) -> Text:
    """One turn in a line: its number, the author's words (or the task's name), a mark on an answer
    that was cut off, and the answer's start."""
    line = Text.assemble((f"{turn.turn} ", "bold"))
    if turn.asked == turn.task:
        line.append(turn.task.capitalize(), "bold")
    else:
        line.append(f"› {shorten(turn.asked, ASKED_WIDTH)}")
    if turn.cut_off:
        line.append(" ✂ cut off", "yellow")
    if turn.output_text.strip() and not (turn.turn == 1 and turn.task in JSON_TASKS):
        line.append(f" — {shorten(turn.output_text, 2 * ASKED_WIDTH)}", "dim")
    return line


def pending_line(number: int, text: str) -> Text:
    """A follow-up on its way, until the run log has it as a turn."""
    return Text.assemble((f"{number} ", "bold"), f"› {shorten(text, ASKED_WIDTH)}", (" — answering…", "italic dim"))


class TurnList(OptionList):
    BINDINGS = [Binding("f", "fork", "Fork from here", tooltip=FORK_HELP)]

    def action_fork(self) -> None:
        if self.highlighted is not None:
            self.post_message(ConversationBox.ForkChosen(self.highlighted))


class FollowUpInput(Input):
    BINDINGS = [Binding("escape", "unfork", "Don't fork", show=False)]

    def action_unfork(self) -> None:
        box = self.parent
        if not isinstance(box, ConversationBox) or box.fork_from is None:
            raise SkipAction()  # Esc is the screen's then: cancel a stream, leave a review
        box.unfork()


class ConversationBox(Vertical):
    class Asked(Message):
        """A follow-up to run after the turn of run `after`."""

        def __init__(self, text: str, after: int, forking: bool) -> None:
            super().__init__()
            self.text = text
            self.after = after
            self.forking = forking

    class TurnChosen(Message):
        def __init__(self, turn: Turn) -> None:
            super().__init__()
            self.turn = turn

    class ForkChosen(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.conversation_id: str | None = None
        self.turns: list[Turn] = []
        self.fork_from: Turn | None = None  # the turn the next follow-up forks from
        self._asked: tuple[str, Turn | None] = ("", None)  # the follow-up on its way, and the turn it forks from

    def compose(self) -> ComposeResult:
        yield FollowUpInput(id="follow-up")
        yield Label("", id="turns-label", classes="list-label")
        yield TurnList(id="turns")

    def on_mount(self) -> None:
        self.clear()

    @property
    def input(self) -> FollowUpInput:
        return self.query_one(FollowUpInput)

    @property
    def last(self) -> Turn | None:
        return self.turns[-1] if self.turns else None

    def clear(self) -> None:
        """No conversation: nothing to follow up (a task is about to start, or nothing ran yet)."""
        self.conversation_id, self.turns, self.fork_from = None, [], None
        self.display = False
        self.refresh_bindings()  # the footer's follow-up keys apply only with a conversation shown

    def show(self, conversation_id: str, turns: list[Turn], shown: int | None = None) -> None:
        """The conversation's turns, the one whose answer the panel shows (run id `shown`) highlighted."""
        self.conversation_id, self.turns = conversation_id, list(turns)
        if self.fork_from is not None and self.fork_from not in self.turns:
            self.fork_from = None
        ids = [t.run_id for t in self.turns]
        self._list(self.turns, highlight=ids.index(shown) if shown in ids else len(ids) - 1)
        self.display = bool(self.turns)
        self._show_state()
        self.refresh_bindings()

    def asking(self, text: str) -> None:
        """A follow-up is on its way: listed after the turn it follows until the run log has it."""
        after = self.fork_from or self.last
        if after is None:
            return
        kept = self.turns[: self.turns.index(after) + 1]
        self._list(kept, pending=pending_line(after.turn + 1, text), highlight=len(kept) - 1)
        self._asked = (text, self.fork_from)
        self.input.value = ""
        self.fork_from = None
        self._show_state()

    def _list(self, turns: list[Turn], *, pending: Text | None = None, highlight: int | None = None) -> None:
        options = self.query_one(TurnList)
        options.clear_options()
        options.add_options([Option(turn_line(turn), id=f"turn-{turn.run_id}") for turn in turns])
        if pending is not None:
            options.add_option(Option(pending, id="turn-pending", disabled=True))
        options.highlighted = highlight if options.option_count else None

    def not_asked(self) -> None:
        """The follow-up failed without an answer: the turns as they were (until the run log is read
        again: a refused call is logged, as a cut-off turn) and the author's words back in the box."""
        text, self.fork_from = self._asked
        self.show(self.conversation_id or "", self.turns)
        self.input.value = text

    def fork(self, index: int) -> None:
        """The next follow-up goes after turn `index` (0-based), forking unless it is the last."""
        if not 0 <= index < len(self.turns):
            return
        self.fork_from = self.turns[index] if index < len(self.turns) - 1 else None
        self._show_state()
        self.input.focus()

    def unfork(self) -> None:
        self.fork_from = None
        self._show_state()

    def _show_state(self) -> None:
        last, fork = self.last, self.fork_from
        label = self.query_one("#turns-label", Label)
        count = f"{len(self.turns)} turn{'s' if len(self.turns) != 1 else ''}"
        label.update(f"Conversation {self.conversation_id} · {count} · f forks")
        if fork is not None:
            self.input.placeholder = f"Fork from turn {fork.turn}: type a follow-up (esc: don't fork)"
        elif last is not None and last.cut_off:
            self.input.placeholder = f"Follow up on turn {last.turn} (it was cut off) — enter sends"
        else:
            self.input.placeholder = "Follow up — e.g. shorter; why? — enter sends"
        self.input.set_class(fork is not None, "forking")

    @on(Input.Submitted, "#follow-up")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        after = self.fork_from or self.last
        if event.value.strip() and after is not None:
            self.post_message(self.Asked(event.value.strip(), after.run_id, self.fork_from is not None))

    @on(OptionList.OptionSelected, "#turns")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if 0 <= event.option_index < len(self.turns):
            self.post_message(self.TurnChosen(self.turns[event.option_index]))

    @on(ForkChosen)
    def _fork_chosen(self, event: ForkChosen) -> None:
        event.stop()
        self.fork(event.index)
