"""The draft's conversations, read back from the run log: after a restart the panel reopens the last
one (its turns, its last answer) instead of "Nothing asked yet", and any of them can be reopened
from the list. `scribe.conversations` is the one reader of conversations; this shapes what it reads
for the panel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from scribe import critique as critiques
from scribe import outline as outlines

if TYPE_CHECKING:
    from scribe.conversations import Turn
    from scribe.critique import Critique
    from scribe.runlog import RunLog, RunRecord



@dataclass(frozen=True)
class LoggedResult:
    run_id: int
    task: str
    model: str
    started_at: str
    markdown: str  # as the panel showed it when the run ended
    critique: Critique | None
    turn: int = 1
    cut_off: bool = False  # cancelled, failed, or left running by a crash: the answer stops short


@dataclass(frozen=True)
class LoggedConversation:
    id: str
    turns: list[Turn]
    shown: LoggedResult  # the answer the panel shows: the last turn's, unless another was chosen


def latest_conversation(runlog: RunLog, draft: str) -> LoggedConversation | None:
    """The conversation about `draft` (its workspace-relative path) with the newest turn; bench and
    judge runs are the benchmark's, not the author's, and are not conversations of the draft."""
    from scribe.conversations import latest

    found = latest(runlog, draft)
    return logged_conversation(runlog, found) if found is not None else None


def conversation_after(runlog: RunLog, run_id: int) -> LoggedConversation | None:
    """The conversation run `run_id` has just added a turn to (a fork's own id for a fork's first turn)."""
    run = runlog.get(run_id)
    if run is None or run.conversation_id is None:
        return None
    return logged_conversation(runlog, run.conversation_id, shown=run_id)


def logged_conversation(runlog: RunLog, conversation_id: str, shown: int | None = None) -> LoggedConversation:
    """The conversation's turns and the answer of run `shown` (else its last turn's)."""
    from scribe.conversations import turns

    found = turns(runlog, conversation_id)
    record = runlog.get(shown if shown is not None else found[-1].run_id)
    assert record is not None  # its turns were just read
    return LoggedConversation(conversation_id, found, logged_result(record, runlog.draft_text(record.meta.draft_hash) or ""))


def logged_result(run: RunRecord, draft_text: str) -> LoggedResult:
    """A run as the panel shows a result: a critique's or an outline's JSON as markdown (the
    critique's quotes checked against the draft it was about), other answers' text as it came."""
    critique = None
    if run.task == "critique":
        critique = critiques.read_critique(run.output_text, draft_text, run.done_reason)
        markdown = critiques.render_markdown(critique)
    elif run.task == "outline":
        markdown = outlines.render_markdown(outlines.parse_outline(run.output_text) or outlines.unparsed(run.output_text))
    else:
        markdown = run.output_text
    return LoggedResult(run.id, run.task, run.model, run.started_at, markdown, critique,
                        turn=run.turn or 1, cut_off=run.status != "ok")
