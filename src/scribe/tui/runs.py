"""A task on the draft, as data (no Textual here): which text it works on, the core's input for
it, and where its answer goes back into the draft once the author may have typed meanwhile."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from scribe.errors import ScribeError
from scribe.loops import LOOPING
from scribe.splice import (
    Splice,
    insert_after,
    replace_body,
    replace_section,
    replace_selection,
    trim_unfinished,
)
from scribe.tui.documents import EditorText, Scope

if TYPE_CHECKING:
    from scribe.grounding import NumberedSource
    from scribe.tasks import Draft, TaskInput, TaskResult


@dataclass(frozen=True)
class FollowUpPrompt:
    """A follow-up ready to send: the history (its size is shown while the model reads it), the
    sources of the conversation's first turn, the run it follows and the author's words."""

    messages: list[dict[str, str]]
    sources: list[NumberedSource]
    after: int
    text: str


@dataclass
class Run:
    """One task or follow-up in flight (or ended): what was asked, on what, and its result. A
    follow-up keeps its conversation's task, scope and text, so the answer to "shorter" on an
    expansion goes into the draft where the expansion would have."""

    task: str
    scope: Scope
    original: str  # the scoped text as it was when asked (to find it again after edits)
    model: str
    result: TaskResult | None = None
    sources: list[NumberedSource] | None = None
    follows: int | None = None  # a follow-up: the run it continues (None: a task, turn 1 of its own conversation)
    turn: int = 1  # its place in the conversation

    @property
    def cut_off(self) -> bool:
        """The answer stopped before the model finished it (the token limit, a cancel, a dropped
        stream, a loop), so its last sentence may be half written."""
        call = self.result.call if self.result is not None else None
        return call is not None and (call.status != "ok" or call.metrics.done_reason in ("length", LOOPING))

    @property
    def looped(self) -> bool:
        """It was stopped for repeating itself: what goes in ends where the loop began."""
        return self.result is not None and self.result.call.metrics.done_reason == LOOPING

    def locate(self, snap: EditorText) -> tuple[int, int] | None:
        """Where the run's scoped text stands now (the author may have typed meanwhile)."""
        start, end = self.scope.start, self.scope.end
        if snap.text[start:end] == self.original:
            return start, end
        found = snap.text.find(self.original)
        return (found, found + len(self.original)) if found >= 0 and self.original else None


def follow_up_run(origin: Run | None, after: int, turn: int, model: str, snap: EditorText) -> Run:
    """The run of a follow-up after run `after`: on the text of `origin`, the conversation's first
    turn if it ran in this session, else (a conversation reopened from the run log) on the draft."""
    if origin is None:
        scope = snap.draft_scope()
        return Run("followup", scope, snap.text[scope.start : scope.end], model, follows=after, turn=turn)
    return Run(origin.task, origin.scope, origin.original, model, sources=origin.sources, follows=after, turn=turn)


def choose_scope(task: str, kind: str, snap: EditorText, selected: tuple[int, int] | None, cursor: int) -> Scope:
    """The text a task works on. `kind` "auto": the selection if there is one, else the section at
    the cursor for expand and rewrite and the whole draft for the others. Raises ScribeError saying
    what to do when the asked scope is not there."""
    if kind == "auto":
        if selected is not None:
            kind = "selection"
        elif task in ("expand", "rewrite"):
            kind = "section" if snap.section_at(cursor) else "draft"
        else:
            kind = "draft"
    if kind == "selection":
        if selected is None:
            raise ScribeError("select some text first (shift+arrows)")
        return Scope("selection", *selected)
    if kind == "section":
        scope = snap.section_at(cursor)
        if scope is None:
            raise ScribeError("the cursor is not under a heading; move it into a section")
        return scope
    return snap.draft_scope()


def draft_of(snap: EditorText, rel_path: str | None) -> Draft:
    from scribe.tasks import Draft

    return Draft(snap.title, snap.body, snap.path, rel_path)


def task_input(task: str, scope: Scope, snap: EditorText, rel_path: str | None) -> TaskInput:
    """The core's TaskInput for a scope. Expand gets the whole draft with `section` named (the
    template shows the outline around it); other tasks, and selections, get just the scoped text."""
    from scribe.tasks import Draft, TaskInput

    if scope.kind == "draft" or (task == "expand" and scope.kind == "section"):
        return TaskInput(task, draft_of(snap, rel_path), section=scope.heading if scope.kind == "section" else None)
    return TaskInput(task, Draft(snap.title, snap.text[scope.start : scope.end], snap.path, rel_path))


def expansion_splice(run: Run, output: str, how: str, snap: EditorText, cursor: int) -> Splice:
    """Where an expansion goes: "insert" below the text it expanded (at the cursor if that text is
    gone), "replace" in its place (`scribe.splice`, the CLI's rules), an answer that was cut off
    only up to its last complete sentence, one that looped only up to its loop. Raises ScribeError
    when the text to replace is no longer in the draft."""
    output = trim_unfinished(output, cut_off=run.cut_off, done_reason=LOOPING if run.looped else None)
    span = run.locate(snap)
    if how == "insert":
        return insert_after(snap.text, span[1] if span else cursor, output)
    if span is None:
        raise ScribeError("the section changed since it was expanded; use insert (ctrl+o), or expand again")
    if run.scope.kind == "section" and run.scope.heading is not None:
        return replace_section(snap.text, *span, run.scope.heading, output)
    if run.scope.kind == "selection":
        return replace_selection(*span, output)
    return replace_body(*span, output)


def quote_location(run: Run | None, snap: EditorText, quote: str) -> tuple[int, int] | None:
    """Editor offsets of a critique's quote: first inside the text the critique was about, as it
    stands now, then anywhere in the body; None when the draft does not hold it."""
    from scribe.critique import quote_span

    located = run.locate(snap) if run is not None else None
    if located is not None:
        inner = quote_span(snap.text[located[0] : located[1]], quote)
        if inner:
            return inner[0] + located[0], inner[1] + located[0]
    inner = quote_span(snap.body, quote)
    return snap.body_span_to_editor(inner) if inner else None
