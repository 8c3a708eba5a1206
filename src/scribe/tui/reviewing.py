"""Review mode: a finished critique, expansion or rewrite offers its suggested edits as tracked
changes in the draft, and the author accepts, rejects or edits them one by one.

The state is `scribe.tui.review.Review` (pure); this wires it to the widgets. The editor marks the
pending changes in place and reports each change to its text, so they follow the typing; the panel
shows the current one (`widgets/review.py`). An accepted change goes into the editor as one
replace, one undo step, like typing: autosave, the journal and conflict checks see it as they see
any edit. Each verdict is a row in the run log (`RunLog.add_decision`), linked to the run that
proposed it.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from textual.binding import Binding

from scribe.errors import ScribeError
from scribe.tui.review import (
    DROPPED,
    PENDING,
    REWRITING_TASKS,
    STALE,
    Item,
    Review,
    combined,
    run_hunks,
)
from scribe.tui.widgets.review import ReviewView

if TYPE_CHECKING:
    from scribe.runlog import RunLog
    from scribe.tui.runs import Run
    from scribe.tui.widgets.assistant import AssistantPanel
    from scribe.tui.widgets.editor import DraftEditor

log = logging.getLogger("scribe.tui")

# Priority: the editor would type the letter of an alt key (a terminal sends alt+a as Esc, "a").
REVIEW_BINDINGS = [
    Binding("alt+a", "review('accept')", "Accept", priority=True, tooltip="accept the current change (one undo step)"),
    Binding("alt+r", "review('reject')", "Reject", priority=True, tooltip="reject the current change (a stale one: set it aside)"),
    Binding("alt+e", "review('edit')", "Edit+accept", priority=True, tooltip="edit the change's new text, then accept it"),
    Binding("alt+n", "review('next')", "Next", priority=True, tooltip="the next change"),
    Binding("alt+p", "review('previous')", "Prev", priority=True, tooltip="the previous change"),
    Binding("alt+shift+a", "review('accept_all')", "Accept all", priority=True,
            tooltip="accept every pending change (stale ones are skipped; one undo step)"),
    Binding("alt+shift+r", "review('reject_all')", "Reject all", priority=True, tooltip="reject every pending change"),
    Binding("escape", "review('leave')", "Leave review",
            tooltip="leave the review: the pending changes are dropped, the draft stays as it is"),
]
STEPS = ("accept", "reject", "edit", "next", "previous", "accept_all", "reject_all", "leave")


class Reviewing:
    """`runlog` is where decisions go; `rel` names the draft as the run log does; `changed` runs
    when the keys that apply change (the screen refreshes its footer)."""

    def __init__(self, editor: DraftEditor, panel: AssistantPanel, *, runlog: Callable[[], RunLog],
                 rel: Callable[[Path], str], changed: Callable[[], object]) -> None:
        self.editor = editor
        self.panel = panel
        self.runlog = runlog
        self.rel = rel
        self.changed = changed
        self.review: Review | None = None
        self.view = ReviewView(id="review")
        self._allowed: tuple[bool, ...] = ()

    @property
    def active(self) -> bool:
        return self.review is not None

    def allows(self, step: str) -> bool:
        """Whether `step` applies now (the footer and the palette offer only these)."""
        review = self.review
        if review is None:
            return False
        item = review.current
        if step in ("accept", "edit"):
            return item is not None and item.state == PENDING
        if step == "reject":
            return item is not None  # a stale change is set aside
        if step in ("accept_all", "reject_all"):
            return review.count(PENDING) > 0
        if step == "leave":
            return self.panel.current is None  # while a task runs, Esc cancels it first
        return True

    # --- starting and leaving --------------------------------------------------------------------

    def offer(self, run: Run) -> None:
        """A run ended: review what it suggests, if anything (it replaces a review under way)."""
        result = run.result
        if result is None or self.editor.path is None:
            return
        if run.task in REWRITING_TASKS and result.call.status == "ok" and run.cut_off:
            if run.task == "rewrite":
                self.editor.notify("the rewrite was cut off before its end, so it is not offered as changes; "
                                   "rewrite a smaller part", severity="warning", title="Rewrite")
            return
        snap = self.editor.snapshot()
        hunks = run_hunks(run, snap, self.editor.cursor_offset(snap))
        if not hunks:
            if run.task == "rewrite" and result.call.status == "ok":
                self.editor.notify("the rewrite changes nothing", title="Rewrite")
            return
        if self.review is not None and self.review.count(PENDING):
            self.editor.notify(f"the {self.review.label.lower()}'s pending changes were dropped for the new ones", title="Review")
        self.start(Review.of(result.run_id, self.rel(self.editor.path), snap.text, hunks, run.task.capitalize()))

    def start(self, review: Review) -> None:
        self.review = review
        if not self.view.is_attached:
            self.panel.mount(self.view, after=self.panel.query_one("#run-title"))
        self.view.display = True
        self.editor.edit_listener = self._edited
        self._show()

    def leave(self, note: str | None = None) -> None:
        """Out of review: the pending changes are dropped, the draft stays as it is."""
        if self.review is None:
            return
        self.review = None
        self.editor.edit_listener = None
        self.editor.set_marks([])
        self.view.display = False
        self.view.clear()
        self._refresh_keys()
        if note:
            self.editor.notify(note, title="Review")

    # --- the keys ----------------------------------------------------------------------------------

    def step(self, step: str) -> None:
        review = self.review
        if review is None or step not in STEPS:
            return
        text = self.editor.snapshot().text
        if text != review.text:  # a change the editor did not report: never apply at old offsets
            review.follow(text, None)
        try:
            if step in ("next", "previous"):
                review.move(1 if step == "next" else -1)
                self._show(to_current=True)
            elif step == "accept":
                item = review.decide("accept")
                self._apply(item.hunk.start, item.hunk.end, item.hunk.new)
                self._decided([item])
            elif step == "reject":
                current = review.current
                if current is not None and current.state == STALE:
                    review.drop()
                    self._decided([])
                else:
                    self._decided([review.decide("reject")])
            elif step == "edit":
                self._ask_edit(review)
            elif step in ("accept_all", "reject_all"):
                items = review.decide_all("accept" if step == "accept_all" else "reject")
                if step == "accept_all" and items:
                    self._apply(*combined(review.text, [item.hunk for item in items]))
                self._decided(items)
            else:
                pending = review.count(PENDING)
                self.leave(f"left the review; {pending} pending change{'s' if pending != 1 else ''} dropped" if pending else "left the review")
        except ScribeError as exc:
            self.editor.notify(str(exc), severity="warning", title="Review")

    def _ask_edit(self, review: Review) -> None:
        from scribe.tui.screens.review_edit import EditChangeScreen

        item = review.current
        if item is None or item.state != PENDING:
            raise ScribeError("this change is stale: its words are no longer in the draft")

        def edited(text: str | None) -> None:
            if text is None or self.review is not review or review.current is not item or item.state != PENDING:
                return
            review.decide("edit", text)  # an unchanged text is an accept
            self._apply(item.hunk.start, item.hunk.end, item.edited if item.edited is not None else item.hunk.new)
            self._decided([item])

        self.editor.app.push_screen(EditChangeScreen(item.hunk.old, item.hunk.new), edited)

    def _apply(self, start: int, end: int, text: str) -> None:
        """Into the editor as one replace (one undo step); the open changes follow it."""
        snap = self.editor.snapshot()
        self.editor.replace_offsets(snap, text, start, end)
        self.editor.move_cursor(self.editor.snapshot().location(start + len(text)))

    def _decided(self, items: list[Item]) -> None:
        review = self.review
        if review is None:
            return
        self._log(review, items)
        if review.finished:
            self.leave(summary(review))
            return
        review.settle()
        self._show(to_current=True)

    def _log(self, review: Review, items: list[Item]) -> None:
        from scribe.runlog import Decision

        if not items:
            return
        try:
            runlog = self.runlog()
            for item in items:
                runlog.add_decision(Decision(review.run_id, item.hunk.id, review.draft, item.hunk.old, item.hunk.new,
                                             item.state, item.edited, source="tui"))
        except (ScribeError, sqlite3.Error, OSError) as exc:
            log.warning("cannot log a review decision: %s", exc)
            self.editor.notify(f"the decision is not in the run log ({exc})", severity="warning", title="Review")

    # --- following the text ------------------------------------------------------------------------

    def _edited(self, change: tuple[int, int, int] | None) -> None:
        review = self.review
        if review is None:
            return
        path = self.editor.path
        if path is None or self.rel(path) != review.draft:
            self.leave()  # another file is in the editor: its suggestions were for the one before
            return
        review.follow(self.editor.snapshot().text, change)
        self._show()

    def _show(self, *, to_current: bool = False) -> None:
        review = self.review
        if review is None:
            return
        self.editor.set_marks(review.marks())
        self.view.show(review)
        item = review.current
        if to_current and item is not None:
            self.editor.move_cursor(self.editor.snapshot().location(item.hunk.start))
            self.editor.scroll_cursor_visible(center=True)
        self._refresh_keys()

    def _refresh_keys(self) -> None:
        allowed = tuple(self.allows(step) for step in STEPS)
        if allowed != self._allowed:
            self._allowed = allowed
            self.changed()


def summary(review: Review) -> str:
    """What a finished review did, e.g. "review done: 2 accepted, 1 rejected; 1 stale set aside"."""
    done = [(review.count("accept"), "accepted"), (review.count("edit"), "edited"), (review.count("reject"), "rejected")]
    line = "review done: " + ", ".join(f"{n} {word}" for n, word in done if n) if any(n for n, _ in done) else "review done"
    stale = review.count(STALE) + review.count(DROPPED)
    return line + (f"; {stale} stale set aside" if stale else "")
