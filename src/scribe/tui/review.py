"""Reviewing a run's suggested edits in the app, as data (no Textual here): the hunks a critique,
an expansion or a rewrite proposes for the draft in the editor, which one is current, what the
author decided, and where each one stands as the text moves under it.

The editor reports every change it makes (the author's typing, an accepted hunk) as the span it
replaced and the length of what went in, so an open hunk follows it exactly (`edits.follow_edit`);
a change the editor cannot describe (an undo, a reload from disk) is found by comparing texts, and
a hunk it unsettles is searched for (`edits.locate`). A hunk whose words are gone is stale: shown,
never applied; it comes back if its words do (an undo).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scribe.edits import (
    Hunk,
    follow_edit,
    from_critique,
    from_rewrite,
    locate,
    make_hunk,
)
from scribe.errors import ScribeError
from scribe.tui.runs import expansion_splice

if TYPE_CHECKING:
    from scribe.tui.documents import EditorText
    from scribe.tui.runs import Run

PENDING, STALE, DROPPED = "pending", "stale", "dropped"  # besides the decisions: accept, reject, edit
Change = tuple[int, int, int]  # the span start..end of the text before became this many characters
REWRITING_TASKS = ("expand", "rewrite")  # their answer is new text for the scope: reviewed as a replace


@dataclass
class Item:
    hunk: Hunk  # where it stands in the review's text while open; as last seen once stale
    state: str = PENDING  # pending | stale | accept | reject | edit | dropped
    edited: str | None = None  # what went in instead of hunk.new ("edit")

    @property
    def open(self) -> bool:
        return self.state in (PENDING, STALE)


@dataclass
class Review:
    """The hunks of run `run_id` on the draft `draft` (its path as the run log names it), against
    `text`, the editor's text now (LF newlines); `label` says what they came from."""

    run_id: int
    draft: str
    text: str
    items: list[Item] = field(default_factory=list)
    label: str = ""
    index: int = 0  # the current item

    @classmethod
    def of(cls, run_id: int, draft: str, text: str, hunks: Sequence[Hunk], label: str = "") -> Review:
        items = [Item(h) for h in sorted(hunks, key=lambda h: (h.start, h.end))]
        return cls(run_id, draft, text, items, label)

    # --- what there is ----------------------------------------------------------------------------

    @property
    def current(self) -> Item | None:
        item = self.items[self.index] if 0 <= self.index < len(self.items) else None
        return item if item is not None and item.open else None

    def count(self, state: str) -> int:
        return sum(1 for item in self.items if item.state == state)

    @property
    def finished(self) -> bool:
        """Nothing left to decide (stale hunks cannot be)."""
        return self.count(PENDING) == 0

    def position(self) -> tuple[int, int]:
        """(the current item's number among the open ones, how many are open), from 1."""
        opened = [i for i, item in enumerate(self.items) if item.open]
        return (opened.index(self.index) + 1 if self.index in opened else 0), len(opened)

    def marks(self) -> list[tuple[int, int, bool]]:
        """(start, end, is current) of each pending hunk, for the editor to show in place."""
        return [(item.hunk.start, item.hunk.end, n == self.index)
                for n, item in enumerate(self.items) if item.state == PENDING]

    # --- moving ------------------------------------------------------------------------------------

    def move(self, step: int) -> Item | None:
        """The next (step 1) or previous (-1) open item, round the end; the current one if it is
        the only one; None when none is open."""
        count = len(self.items)
        for k in range(1, count + 1):
            n = (self.index + step * k) % count
            if self.items[n].open:
                self.index = n
                return self.items[n]
        return None

    def settle(self) -> None:
        """After a decision: on to the next open item if the current one is decided."""
        if self.current is None:
            self.move(1)

    # --- deciding (the caller applies and logs) --------------------------------------------------

    def decide(self, decision: str, edited: str | None = None) -> Item:
        """Mark the current pending item accepted, rejected or edited (before the caller changes
        the text, so the change does not count against it). ScribeError when there is none."""
        item = self.current
        if item is None or item.state != PENDING:
            raise ScribeError("this change is stale: its words are no longer in the draft" if item else "no change to decide")
        if decision == "edit" and edited == item.hunk.new:
            decision, edited = "accept", None
        item.state, item.edited = decision, edited if decision == "edit" else None
        return item

    def drop(self) -> Item:
        """Set the current stale item aside (nobody judged it: nothing to log)."""
        item = self.current
        if item is None or item.state != STALE:
            raise ScribeError("only a stale change can be dropped")
        item.state = DROPPED
        return item

    def decide_all(self, decision: str) -> list[Item]:
        """Every pending item accepted or rejected, in the order of the text (stale ones stay)."""
        chosen = [item for item in self.items if item.state == PENDING]
        for item in chosen:
            item.state = decision
        return chosen

    # --- following the text -------------------------------------------------------------------

    def follow(self, text: str, change: Change | None) -> None:
        """The editor's text became `text` by `change` (None: by something it cannot describe)."""
        exact = change is not None
        if change is None:
            change = diff_span(self.text, text)
        for item in self.items:
            if item.state == PENDING:
                moved = follow_edit(item.hunk, text, *change) if change is not None else locate(item.hunk, text)
                if moved is None and not exact:
                    moved = locate(item.hunk, text)  # the compared span may reach past the real change
                if moved is None:
                    item.state = STALE
                else:
                    item.hunk = moved
        self.text = text
        taken = [(i.hunk.start, i.hunk.end) for i in self.items if i.state == PENDING]
        for item in self.items:
            if item.state == STALE:
                found = locate(item.hunk, text)
                if found is not None and not any(s < found.end and found.start < e or s == found.start for s, e in taken):
                    item.hunk, item.state = found, PENDING
                    taken.append((found.start, found.end))


def diff_span(old: str, new: str) -> Change | None:
    """The one span of `old` that became something else in `new` (shortest, ties to the left), as
    a Change; None when they are equal."""
    if old == new:
        return None
    limit = min(len(old), len(new))
    head = 0
    while head < limit and old[head] == new[head]:
        head += 1
    tail = 0
    while tail < limit - head and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    return head, len(old) - tail, len(new) - tail - head


def combined(text: str, hunks: Sequence[Hunk]) -> tuple[int, int, str]:
    """Disjoint `hunks` of `text` as one replacement (start, end, new text): accepting them all is
    then one edit, one undo step."""
    ordered = sorted(hunks, key=lambda h: h.start)
    start, end = ordered[0].start, max(h.end for h in ordered)
    pieces, at = [], start
    for hunk in ordered:
        pieces += [text[at:hunk.start], hunk.new]
        at = hunk.end
    pieces.append(text[at:end])
    return start, end, "".join(pieces)


def run_hunks(run: Run, snap: EditorText, cursor: int) -> list[Hunk]:
    """The hunks a finished run proposes for the editor's text now: a critique's replacements (its
    quotes looked for in the text it was about, else anywhere in the body), or an expansion's or a
    rewrite's new text against the text it would replace. [] when there are none, or the expansion
    or rewrite is not complete (it would propose deleting what it did not reach); a critique that
    ended early proposes its complete issues."""
    result = run.result
    if result is None or result.call.status != "ok":
        return []
    if result.critique is not None:
        located = run.locate(snap)
        base, scoped = (located[0], snap.text[located[0]:located[1]]) if located else (snap.body_start, snap.body)
        return [make_hunk(snap.text, h.start + base, h.end + base, h.new, reason=h.reason, suggestion=h.suggestion, id=h.id)
                for h in from_critique(result.critique, scoped)]
    if run.task not in REWRITING_TASKS or run.cut_off or not result.call.text.strip():
        return []
    try:
        splice = expansion_splice(run, result.call.text.strip(), "replace", snap, cursor)
    except ScribeError:
        return []  # the text it rewrote is gone
    reason = f"{run.task.capitalize()} of the {run.scope.label}"
    return from_rewrite(snap.text, splice.start, splice.end, splice.new, reason)


def surroundings(text: str, start: int, end: int, width: int = 40) -> tuple[str, str]:
    """The words around text[start:end] as a reader needs them to place it: its own line only, at
    most `width` characters each side, cut between words ("…" where it was cut)."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    before, after = text[max(line_start, start - width):start], text[end:min(line_end, end + width)]
    if start - width > line_start:
        before = "…" + (before.split(" ", 1)[1] if " " in before else before)
    if end + width < line_end:
        after = (after.rsplit(" ", 1)[0] if " " in after else after) + "…"
    return before, after


def item_surroundings(review: Review, item: Item) -> tuple[str, str]:
    """`surroundings` of an open item: in the text as it is, or (stale) as it was last seen."""
    hunk = item.hunk
    if item.state == PENDING:
        return surroundings(review.text, hunk.start, hunk.end)
    start = len(hunk.context_before)
    return surroundings(hunk.context_before + hunk.old + hunk.context_after, start, start + len(hunk.old))
