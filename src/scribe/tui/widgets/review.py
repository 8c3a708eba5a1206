"""The review card in the assistant panel: the current suggested change as a word-level diff
(deletions struck through, insertions highlighted) in its line, why it is suggested, and the keys.
It shows a `scribe.tui.review.Review`; `scribe.tui.reviewing` decides what it holds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from scribe.edits import word_diff
from scribe.tui.review import PENDING, STALE, item_surroundings

if TYPE_CHECKING:
    from scribe.edits import Hunk
    from scribe.tui.review import Review

DELETED = "strike $text-error on $error-muted"
INSERTED = "bold $text-success on $success-muted"
CONTEXT = "$text-muted"
KEYS = "alt+a accept · alt+r reject · alt+e edit · alt+n / alt+p next / previous · alt+shift+a / r all · esc leave"


def diff_content(hunk: Hunk, before: str = "", after: str = "") -> Content:
    """The hunk between the words around it (muted): deleted words struck through, inserted ones
    highlighted; a paragraph break that changes shows as ¶."""
    parts: list[tuple[str, str] | str] = [(before, CONTEXT)]
    for tag, text in word_diff(hunk.old, hunk.new):
        if tag == "equal":
            parts.append(text)
        else:
            parts.append((text.replace("\n", "¶\n"), DELETED if tag == "delete" else INSERTED))
    parts.append((after, CONTEXT))
    return Content.assemble(*parts)


def card_content(review: Review) -> Content:
    """The whole card for the review's current change."""
    number, total = review.position()
    stale = review.count(STALE)
    head = f"Review · {review.label} · change {number} of {total}" if review.label else f"Review · change {number} of {total}"
    lines: list[Content] = [Content.styled(head + (f" · {stale} stale" if stale else ""), "bold $primary")]
    item = review.current
    if item is None:
        lines.append(Content.styled("no change left to decide; esc leaves the review", CONTEXT))
    else:
        lines += [Content(""), diff_content(item.hunk, *item_surroundings(review, item)), Content("")]
        if item.state == STALE:
            lines.append(Content.styled("Stale: its words changed since it was suggested, so it cannot be "
                                        "accepted. alt+r sets it aside.", "$text-warning"))
        if item.hunk.reason:
            lines.append(Content.assemble(("Problem  ", "bold"), item.hunk.reason))
        if item.hunk.suggestion:
            lines.append(Content.assemble(("Fix      ", "bold"), item.hunk.suggestion))
    lines += [Content(""), Content.styled(KEYS, CONTEXT)]
    return Content("\n").join(lines)


def card_key(review: Review) -> tuple[object, ...]:
    """What the card shows depends on only this (so typing elsewhere does not redraw it)."""
    item = review.current
    shown = (item.state, item.hunk.old, item.hunk.new, item_surroundings(review, item)) if item is not None else None
    return review.label, review.position(), review.count(STALE), review.count(PENDING), shown


class ReviewView(VerticalScroll):
    DEFAULT_CSS = """
    ReviewView {
        height: auto;
        max-height: 60%;
        margin: 1 0 0 0;
        padding: 0 1;
        background: $boost;
        border-left: thick $accent;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._key: tuple[object, ...] | None = None
        self.shown = Content("")
        self.card = Static("", id="review-card")  # made here: shown before it is mounted

    def compose(self) -> ComposeResult:
        yield self.card

    def show(self, review: Review) -> None:
        key = card_key(review)
        if key == self._key:
            return
        self._key = key
        self.shown = card_content(review)
        self.card.update(self.shown)
        self.scroll_home(animate=False)

    def clear(self) -> None:
        self._key = None

    @property
    def text(self) -> str:
        """The card as plain text."""
        return self.shown.plain
