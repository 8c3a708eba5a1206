"""Suggested edits as data: hunks the author accepts or rejects one by one, like tracked changes (pure).

A hunk is a span of the text it was made against, the words there, the words proposed, and why.
The text moves under a hunk (other accepted hunks, the author's typing), so it carries a little
context to be found again, and it goes stale rather than land on words it was not made for.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from scribe.critique import Critique, normalise, quote_span

CONTEXT = 32  # characters kept each side of a hunk, to find it again once the text has moved
MIN_CONTEXT = 12  # of those, how many must still surround a place for it to be the hunk's
_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")  # words, runs of whitespace, single punctuation marks
_WORD = re.compile(r"\w")
_MERGE_WORDS = 2  # changes this few words apart read as one edit, not a scatter of tiny ones


@dataclass(frozen=True)
class Hunk:
    start: int  # character offsets into the text the hunk was made (or last located) against
    end: int
    old: str  # == text[start:end] then; "" for an insertion
    new: str
    reason: str = ""  # the problem that motivates it
    suggestion: str = ""
    id: int = 0  # its index in the list it was made in, so a decision can name it
    context_before: str = ""
    context_after: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Hunk:
        """A hunk from `to_dict`'s JSON; ValueError when a field is missing, mistyped or inconsistent."""
        values: dict[str, Any] = {}
        for name, kind, default in (("start", int, None), ("end", int, None), ("old", str, None), ("new", str, None),
                                    ("reason", str, ""), ("suggestion", str, ""), ("id", int, 0),
                                    ("context_before", str, ""), ("context_after", str, "")):
            value = data.get(name, default)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ValueError(f"hunk field {name!r} must be {kind.__name__}, not {value!r}")
            values[name] = value
        if not 0 <= values["start"] <= values["end"] or values["end"] - values["start"] != len(values["old"]):
            raise ValueError(f"hunk span {values['start']}..{values['end']} does not fit its old text")
        return cls(**values)


def make_hunk(text: str, start: int, end: int, new: str, *, reason: str = "", suggestion: str = "", id: int = 0) -> Hunk:
    """The hunk replacing text[start:end] with `new`, with the context that finds it again."""
    return Hunk(start, end, text[start:end], new, reason, suggestion, id,
                text[max(0, start - CONTEXT):start], text[end:end + CONTEXT])


def from_critique(critique: Critique, draft_text: str) -> list[Hunk]:
    """One hunk per grounded issue whose replacement rewrites its quote, in the order of the draft.

    Where two quotes overlap only the first is kept: applying both would rewrite the same words twice.
    """
    found: list[tuple[int, int, str, str, str]] = []
    for issue in critique.issues:
        span = quote_span(draft_text, issue.quote) if issue.grounded and issue.replacement.strip() else None
        if span is None or normalise(issue.replacement) == normalise(draft_text[span[0]:span[1]]):
            continue  # no rewrite, or one that changes nothing a reader would see
        found.append((*span, issue.replacement.strip(), issue.problem, issue.suggestion))
    hunks: list[Hunk] = []
    for start, end, new, problem, suggestion in sorted(found, key=lambda f: f[0]):
        if hunks and start < hunks[-1].end:
            continue
        hunks.append(make_hunk(draft_text, start, end, new, reason=problem, suggestion=suggestion, id=len(hunks)))
    return hunks


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def from_rewrite(text: str, start: int, end: int, new_text: str, reason: str = "") -> list[Hunk]:
    """The model's `new_text` for `text[start:end]` (a section to expand, a selection to rewrite)
    as word-level hunks with offsets in `text`, so the author can keep some changes and not others.

    Changes only a word or two apart are merged into one hunk: a scatter of one-word hunks is hard
    to read, and a hunk with too little unchanged text around it is hard to find again.
    """
    old = text[start:end]
    a, b = _tokens(old), _tokens(new_text)
    spans: list[list[int]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        gap = a[spans[-1][1]:i1] if spans else []
        if spans and (sum(1 for t in gap if _WORD.match(t)) <= _MERGE_WORDS
                      or len("".join(gap)) < MIN_CONTEXT):
            spans[-1][1], spans[-1][3] = i2, j2
        else:
            spans.append([i1, i2, j1, j2])
    offsets = [0]
    for token in a:
        offsets.append(offsets[-1] + len(token))
    return [make_hunk(text, start + offsets[i1], start + offsets[i2], "".join(b[j1:j2]), reason=reason, id=n)
            for n, (i1, i2, j1, j2) in enumerate(spans)]


def _fit(hunk: Hunk, text: str, pos: int) -> int:
    """How many characters of the hunk's context surround `pos` in `text` (more is a surer place)."""
    before = text[max(0, pos - len(hunk.context_before)):pos]
    after = text[pos + len(hunk.old):pos + len(hunk.old) + len(hunk.context_after)]
    return (len(os.path.commonprefix([before[::-1], hunk.context_before[::-1]]))
            + len(os.path.commonprefix([after, hunk.context_after])))


def _find_all(text: str, part: str) -> list[int]:
    found, at = [], text.find(part)
    while at >= 0:
        found.append(at)
        at = text.find(part, at + 1)
    return found


def locate(hunk: Hunk, text: str) -> Hunk | None:
    """The hunk where it now stands in `text`, or None when it is stale (its old words are gone).

    Its old words at its own offsets keep it there. Else the place with most of its context around
    those words wins, the nearest to where it was on a tie; a place with almost none of that
    context is not taken, since the same words elsewhere are not what the hunk was made for. An
    insertion has no words of its own, so it is found by its context alone.
    """
    if hunk.old and text[hunk.start:hunk.end] == hunk.old:
        return hunk
    if hunk.old:
        places = _find_all(text, hunk.old)
    else:
        places = [p + len(hunk.context_before) for p in _find_all(text, hunk.context_before)] if hunk.context_before else []
        places += _find_all(text, hunk.context_after) if hunk.context_after else []
        if not hunk.context_before and not hunk.context_after and not text:
            places = [0]  # made against an empty text, which is still empty
    need = min(MIN_CONTEXT, len(hunk.context_before) + len(hunk.context_after))
    scored = [(_fit(hunk, text, p), -abs(p - hunk.start), p) for p in set(places)]
    best = max((s for s in scored if s[0] >= need), default=None)
    if best is None:
        return None
    pos, end = best[2], best[2] + len(hunk.old)
    if (pos, end) == (hunk.start, hunk.end):
        return hunk
    return replace(hunk, start=pos, end=end, context_before=text[max(0, pos - CONTEXT):pos], context_after=text[end:end + CONTEXT])


def is_stale(hunk: Hunk, text: str) -> bool:
    """Whether the words the hunk would change are gone from `text`."""
    return locate(hunk, text) is None


def follow_edit(hunk: Hunk, text: str, start: int, end: int, length: int) -> Hunk | None:
    """The hunk after the span start..end of the text it was located in became `length` characters,
    giving `text` (an accepted hunk, the author's typing); None when the edit touched its old words.

    An editor knows exactly what changed, so this is exact where `locate` has to search; text typed
    right at a hunk's start goes before it.
    """
    if end <= hunk.start:
        delta = length - (end - start)
        moved = replace(hunk, start=hunk.start + delta, end=hunk.end + delta)
    elif start >= hunk.end:
        moved = hunk
    else:
        return None
    if text[moved.start:moved.end] != moved.old:
        return None
    return replace(moved, context_before=text[max(0, moved.start - CONTEXT):moved.start],
                   context_after=text[moved.end:moved.end + CONTEXT])


def apply(text: str, hunks: list[Hunk]) -> tuple[str, list[Hunk]]:
    """`text` with the accepted `hunks` applied, and those that could not be (as given, by id).

    Every hunk is located in `text` before any is applied, so the order they were accepted in does
    not matter. Of two that overlap (or start at one place) the later placed goes stale: its words
    are the other's to change.
    """
    placed: list[tuple[Hunk, Hunk]] = []
    stale: list[Hunk] = []
    for hunk in hunks:
        found = locate(hunk, text)
        if found is None:
            stale.append(hunk)
        else:
            placed.append((found, hunk))
    placed.sort(key=lambda p: (p[0].start, p[0].end, p[0].id, p[0].old, p[0].new))
    pieces: list[str] = []
    done = 0
    last_start = -1
    for found, hunk in placed:
        if found.start < done or found.start == last_start:
            stale.append(hunk)
            continue
        pieces += [text[done:found.start], found.new]
        done, last_start = found.end, found.start
    pieces.append(text[done:])
    return "".join(pieces), sorted(stale, key=lambda h: (h.id, h.start, h.end, h.old, h.new))


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """`old` against `new` as ("equal" | "delete" | "insert", text) segments, for display: the equal
    and deleted parts read `old`, the equal and inserted parts read `new`. A lone space between
    two changes joins both, so "~~a b~~ **c d**" shows, not "~~a~~ **c** ~~b~~ **d**"."""
    a, b = _tokens(old), _tokens(new)
    ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    segments: list[tuple[str, str]] = []
    deleted: list[str] = []
    inserted: list[str] = []

    def flush() -> None:
        segments.extend((tag, "".join(part)) for tag, part in (("delete", deleted), ("insert", inserted)) if part)
        deleted.clear()
        inserted.clear()

    for n, (tag, i1, i2, j1, j2) in enumerate(ops):
        was, now = "".join(a[i1:i2]), "".join(b[j1:j2])
        if tag == "equal" and not (0 < n < len(ops) - 1 and was.isspace()):
            flush()
            segments.append(("equal", was))
            continue
        deleted += [was] if was else []
        inserted += [now] if now else []
    flush()
    return segments


def _lines(text: str) -> list[str]:
    """Lines as git counts them: ended by "\\n" only (str.splitlines also splits at \\r, \\x0c, ...)."""
    return [line for line in re.split(r"(?<=\n)", text) if line]


def unified_diff(text: str, new_text: str, path: str) -> str:
    """`text` to `new_text` as a patch `git apply` takes for the file at `path` (relative to the
    repository); "" when nothing changes."""
    out = []
    for line in difflib.unified_diff(_lines(text), _lines(new_text), f"a/{path}", f"b/{path}"):
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)
