"""Heading-aware, token-budgeted chunks of a markdown body (pure: strings in, records out).

How a chunk relates to the body it came from::

    chunk.text == prefix + body[chunk.overlap_start:chunk.end]
    prefix     == chunk.heading_path (cut to budget // 4 tokens if absurdly long) + "\\n\\n"

* ``start``/``end`` is the chunk's own span. Own spans never overlap, increase with ``ordinal``,
  start and end on non-whitespace, and never include a heading line (a heading is carried by
  ``heading_path`` instead). So every non-whitespace character of the body is either on an ATX
  heading line or inside exactly one chunk's own span.
* ``overlap_start <= start``: ``body[overlap_start:start]`` is the overlap, a tail of the previous
  chunk's own span in the same section (up to ``overlap`` tokens, cut where a sentence, a line or a
  block starts, never inside a code fence or a table). Overlap never crosses sections.
* ``token_count == count_tokens(text) <= budget``. Blocks are packed whole; a block that cannot fit
  alone is split at sentences, then lines, then (last resort) token boundaries, so a code fence or
  table is only ever split when it is over budget by itself.
* ``id`` hashes the file path, the heading path, the text and how often that same text already
  occurred under the same heading path in the file: an unchanged chunk keeps its id across runs and
  across edits to other sections, and duplicates still get distinct ids.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from scribe.markdown_lines import FENCE_OPEN, HEADING, closes_fence, normalise_heading
from scribe.tokens import count_tokens, sentence_spans, truncate_to_tokens

HEADING_SEPARATOR = " > "
MIN_BUDGET = 16

_TABLE_ROW = re.compile(r"^[ \t]*\|")

BlockKind = Literal["prose", "fence", "table"]


@dataclass(frozen=True)
class Chunk:
    """One retrievable piece of a note; see the module docstring for how it maps onto the body."""

    id: str
    path: str
    heading_path: str
    text: str
    start: int
    end: int
    token_count: int
    ordinal: int
    overlap_start: int


@dataclass(frozen=True)
class Section:
    """The stretch of a body from one ATX heading line to the next (of any level).

    ``heading`` is None and ``level`` 0 for the text before the first heading. ``path`` is the
    stack of heading texts down to this one; ``content_start`` is just past the heading line.
    """

    heading: str | None
    level: int
    path: tuple[str, ...]
    start: int
    content_start: int
    end: int


@dataclass(frozen=True)
class _Block:
    start: int
    end: int
    kind: BlockKind


def _lines(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """(line_start, line_end) offsets of the lines in text[start:end], newline excluded."""
    pos = start
    while pos < end:
        nl = text.find("\n", pos, end)
        line_end = end if nl == -1 else nl
        yield pos, line_end
        pos = line_end + 1


def _iter_headings(body: str) -> Iterator[tuple[int, int, int, str]]:
    """(line_start, line_end, level, text) of each ATX heading outside fenced code blocks."""
    fence: str | None = None
    for line_start, line_end in _lines(body, 0, len(body)):
        line = body[line_start:line_end]
        if fence is not None:
            if closes_fence(line, fence):
                fence = None
            continue
        opening = FENCE_OPEN.match(line)
        if opening:
            fence = opening.group(1)
            continue
        heading = HEADING.match(line)
        if heading:
            yield line_start, line_end, len(heading.group(1)), (heading.group(2) or "").strip()


def first_heading(body: str) -> str | None:
    """Text of the first non-empty ATX heading outside code fences, e.g. to title a note."""
    return next((text for _, _, _, text in _iter_headings(body) if text), None)


def heading_sections(body: str) -> list[Section]:
    """Split a body at its ATX headings (never inside code fences); the sections tile the body.

    The text before the first heading, if any, is a section with ``heading=None``.
    """
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    pending: tuple[str | None, int, tuple[str, ...], int, int] = (None, 0, (), 0, 0)
    for line_start, line_end, level, text in _iter_headings(body):
        heading, lvl, path, start, content_start = pending
        if line_start > start or heading is not None:
            sections.append(Section(heading, lvl, path, start, content_start, line_start))
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, text))
        content = min(line_end + 1, len(body))
        pending = (text, level, tuple(t for _, t in stack), line_start, content)
    heading, lvl, path, start, content_start = pending
    if len(body) > start or heading is not None:
        sections.append(Section(heading, lvl, path, start, content_start, len(body)))
    return sections


def find_section(body: str, heading: str) -> tuple[int, int] | None:
    """Span of the first section titled ``heading`` (case-insensitive), heading line included.

    The span runs to the next heading of the same or a higher level, so it holds the subsections.
    ``heading`` may be given with or without its leading ``#`` marks.
    """
    wanted = normalise_heading(heading)
    sections = heading_sections(body)
    for i, section in enumerate(sections):
        if section.heading is not None and normalise_heading(section.heading) == wanted:
            end = next(
                (s.start for s in sections[i + 1 :] if 0 < s.level <= section.level), len(body)
            )
            return section.start, end
    return None


def _blocks(body: str, start: int, end: int) -> list[_Block]:
    """Paragraphs (blank-line separated), whole fenced code blocks and whole tables."""
    blocks: list[_Block] = []
    current: tuple[int, int, BlockKind] | None = None  # open block: (start, end of last line, kind)
    fence: str | None = None
    for line_start, line_end in _lines(body, start, end):
        line = body[line_start:line_end]
        if fence is not None:
            assert current is not None
            current = (current[0], line_end, "fence")
            if closes_fence(line, fence):
                blocks.append(_Block(*current))
                current, fence = None, None
            continue
        opening = FENCE_OPEN.match(line)
        kind: BlockKind | None
        if opening:
            kind = "fence"
        elif not line.strip():
            kind = None
        elif _TABLE_ROW.match(line):
            kind = "table"
        else:
            kind = "prose"
        if current is not None and (kind != current[2] or kind == "fence"):
            blocks.append(_Block(*current))
            current = None
        if kind is None:
            continue
        if opening:
            fence = opening.group(1)
        current = (line_start if current is None else current[0], line_end, kind)
    if current is not None:
        blocks.append(_Block(*current))
    return [_trim(body, b) for b in blocks if body[b.start : b.end].strip()]


def _trim(body: str, block: _Block) -> _Block:
    """Drop leading/trailing whitespace from a block's span so spans start and end on text."""
    text = body[block.start : block.end]
    lead = len(text) - len(text.lstrip())
    return _Block(block.start + lead, block.end - (len(text) - len(text.rstrip())), block.kind)


def _fits(prefix: str, text: str, budget: int) -> bool:
    return count_tokens(prefix + text) <= budget


def _hard_split(body: str, block: _Block, prefix: str, budget: int) -> list[_Block]:
    """Split at token boundaries: the last resort for one line longer than the budget.

    Each piece is measured exactly as it will be stored (no surrounding whitespace): tokens
    depend on it, e.g. " café" and "café" tokenize differently.
    """
    pieces = []
    pos = block.start
    room = budget - count_tokens(prefix)
    while pos < block.end:
        if body[pos].isspace():
            pos += 1
            continue
        rest = body[pos : block.end]
        n = room
        piece = truncate_to_tokens(rest, n).rstrip()
        while piece and not _fits(prefix, piece, budget):
            n -= 1
            piece = truncate_to_tokens(rest, n).rstrip()
        piece = piece or rest[0]  # one character over budget: nothing smaller exists
        pieces.append(_Block(pos, pos + len(piece), block.kind))
        pos += len(piece)
    return pieces


def _fit_block(body: str, block: _Block, prefix: str, budget: int) -> list[_Block]:
    """The block itself if it fits alone, else pieces that do: sentences, lines, token runs."""
    if _fits(prefix, body[block.start : block.end], budget):
        return [block]
    if block.kind == "prose":
        sentences = sentence_spans(body[block.start : block.end])
        if len(sentences) > 1:
            return [
                piece
                for s, e in sentences
                for piece in _fit_block(
                    body, _Block(block.start + s, block.start + e, "prose"), prefix, budget
                )
            ]
    lines = [
        _trim(body, _Block(s, e, block.kind))
        for s, e in _lines(body, block.start, block.end)
        if body[s:e].strip()
    ]
    if len(lines) > 1:
        return [piece for line in lines for piece in _fit_block(body, line, prefix, budget)]
    return _hard_split(body, block, prefix, budget)


def _overlap_starts(body: str, units: list[_Block]) -> list[int]:
    """Where an overlap taken from these units (one chunk's) may begin, ascending.

    Every unit start, plus sentence and line starts inside prose; nothing inside a fence or table.
    """
    starts: set[int] = set()
    for unit in units:
        starts.add(unit.start)
        if unit.kind == "prose":
            text = body[unit.start : unit.end]
            starts.update(unit.start + s for s, _ in sentence_spans(text))
            starts.update(
                s + len(body[s:e]) - len(body[s:e].lstrip())
                for s, e in _lines(body, unit.start, unit.end)
                if body[s:e].strip()
            )
    return sorted(starts)


def _choose_overlap(body: str, previous: list[_Block], overlap: int) -> int | None:
    """Start of the longest proper tail of the previous chunk within ``overlap`` tokens."""
    end = previous[-1].end
    best = None
    for start in reversed(_overlap_starts(body, previous)[1:]):
        if count_tokens(body[start:end]) > overlap:
            break
        best = start
    return best


def _pack(
    body: str, units: list[_Block], prefix: str, budget: int, overlap: int
) -> Iterator[tuple[int, int, int]]:
    """Greedily pack units into (overlap_start, start, end) spans whose texts fit the budget.

    Sums of per-unit counts only estimate a joined text's count, so each pick is checked exactly.
    """
    sizes = [count_tokens(body[u.start : u.end]) for u in units]
    i = 0
    previous: list[_Block] = []
    while i < len(units):
        start = units[i].start
        first = _choose_overlap(body, previous, overlap) if previous else None
        if first is None or not _fits(prefix, body[first : units[i].end], budget):
            first = start
        estimate = count_tokens(prefix + body[first : units[i].end])
        j = i
        while j + 1 < len(units):
            grown = estimate + count_tokens(body[units[j].end : units[j + 1].start]) + sizes[j + 1]
            if grown > budget:
                break
            estimate, j = grown, j + 1
        while j > i and not _fits(prefix, body[first : units[j].end], budget):
            j -= 1
        yield first, start, units[j].end
        previous = units[i : j + 1]
        i = j + 1


def _heading_path(title: str, section_path: tuple[str, ...]) -> str:
    """Title first, then the headings; a top heading that repeats the title is shown once."""
    headings = list(section_path)
    if headings and normalise_heading(headings[0]) == normalise_heading(title):
        headings = headings[1:]
    return HEADING_SEPARATOR.join(h for h in [title.strip(), *headings] if h)


def _chunk_id(path: str, heading_path: str, text: str, occurrence: int) -> str:
    content = hashlib.sha1(text.encode("utf-8")).hexdigest()
    key = "\x1f".join([path, heading_path, content, str(occurrence)])
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:20]


def chunk_markdown(
    body: str, *, path: str, title: str, budget: int = 350, overlap: int = 40
) -> list[Chunk]:
    """Chunks of ``body`` in document order; ``[]`` for a whitespace-only body.

    ``path`` is the note's workspace-relative posix path, ``title`` its title. ``budget`` bounds
    each chunk's whole text (heading prefix and overlap included); ``overlap`` bounds the overlap.
    """
    if budget < MIN_BUDGET:
        raise ValueError(f"chunk budget must be at least {MIN_BUDGET} tokens, got {budget}")
    if overlap < 0:
        raise ValueError(f"chunk overlap must not be negative, got {overlap}")
    chunks: list[Chunk] = []
    occurrences: Counter[tuple[str, str]] = Counter()
    for section in heading_sections(body):
        heading_path = _heading_path(title, section.path)
        prefix = truncate_to_tokens(heading_path, budget // 4) + "\n\n"
        units = [
            piece
            for block in _blocks(body, section.content_start, section.end)
            for piece in _fit_block(body, block, prefix, budget)
        ]
        for overlap_start, start, end in _pack(body, units, prefix, budget, overlap):
            text = prefix + body[overlap_start:end]
            occurrence = occurrences[(heading_path, text)]
            occurrences[(heading_path, text)] += 1
            chunks.append(
                Chunk(
                    id=_chunk_id(path, heading_path, text, occurrence),
                    path=path,
                    heading_path=heading_path,
                    text=text,
                    start=start,
                    end=end,
                    token_count=count_tokens(text),
                    ordinal=len(chunks),
                    overlap_start=overlap_start,
                )
            )
    return chunks


_ITEM_MARKER = re.compile(r"^[ \t]*(?:(?:[-*+]|\d{1,9}[.)])[ \t]+|>[ \t]?)")


def prose_sentences(body: str) -> list[str]:
    """The sentences of a body's prose, in order, each with its whitespace runs made one space.

    Headings, fenced code and tables are not prose; a list item or a quoted line starts a new
    passage and loses its marker, so no sentence runs from one item into the next; a cut before a
    lowercase word ("e.g. a") is taken back. Each sentence is found in the body again by matching
    its words across any whitespace.
    """
    found = []
    for section in heading_sections(body):
        for block in _blocks(body, section.content_start, section.end):
            if block.kind != "prose":
                continue
            passages: list[str] = []
            for line in body[block.start : block.end].splitlines():
                marker = _ITEM_MARKER.match(line)
                if marker or not passages:
                    passages.append(line[marker.end() if marker else 0 :])
                else:
                    passages[-1] += "\n" + line
            for passage in passages:
                sentences: list[str] = []
                for a, b in sentence_spans(passage):
                    text = " ".join(passage[a:b].split())
                    if sentences and text[0].islower():  # "e.g. with": the cut was an abbreviation
                        sentences[-1] += " " + text
                    else:
                        sentences.append(text)
                found += sentences
    return found
