"""Links between notes as data: parse them from a note's text, and resolve them as Obsidian does (pure).

Parsed: ``[[Target]]``, ``[[Target#Heading]]``, ``[[Target|alias]]``, ``[[Target#Heading|alias]]``
(``\\|`` too, as written in a table), embeds (``![[Target]]``, ``![text](other.md)``) and markdown
links to a relative path (``[text](../other.md#heading)``, ``<...>`` and ``%20`` decoded). Not
links to a note, so left out: a markdown link with a scheme (``https:``, ``mailto:``,
``obsidian:``) or to a file that is not a note by its suffix (``.png``, ``.py``), a wikilink to an
attachment (``![[diagram.png]]``), a link to a heading in the same note (``[[#Heading]]``,
``[x](#part)``), reference-style links, and anything inside fenced code (at any indent, as in a
list item), an inline code span or an Obsidian comment (``%%...%%``).

Resolution follows what Obsidian does (``getFirstLinkpathDest``), names compared case-insensitively:

1. a target that is a path from the workspace root (``[[notes/kafka/dlq]]``), or relative to the
   linking note (``[[./dlq]]``, ``[x](../dlq.md)``), names that note;
2. a bare name (``[[dlq]]``) names the notes with that file name, without suffix; a partial path
   (``[[kafka/dlq]]``) the notes whose path ends with it;
3. when several notes match, the one in the linking note's own folder wins, then the shortest
   path, then the first in alphabetical order (the order Obsidian 1.13 was seen to follow: an
   ancestor folder counts for nothing, and the shortest path is counted in characters);
4. only when no file name or path matches, a note's frontmatter ``aliases`` (same tie-break).
   Obsidian itself offers an alias in its link picker and writes ``[[Name|alias]]``; a bare
   ``[[alias]]`` resolving here is what an author who typed it meant, and a name never loses to
   an alias, so no link that Obsidian resolves resolves elsewhere here.

A link that names no note is dangling.
"""

from __future__ import annotations

import bisect
import posixpath
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

from scribe.notes import ATTACHMENT_KINDS, NOTE_SUFFIXES

LinkKind = Literal["wikilink", "markdown"]

_WIKILINK = re.compile(r"(!?)\[\[([^\[\]\n]+)\]\]")
# [text](destination "title"): text may hold one level of brackets; destination <...> or bare
# (balanced parentheses allowed); an optional title.
_MARKDOWN_LINK = re.compile(
    r"(!?)\[((?:\\.|[^\[\]\\\n]|\[(?:\\.|[^\[\]\\\n])*\])*)\]"
    r"\([ \t]*(?:<([^<>\n]*)>|((?:\\.|[^\s()\\]|\((?:\\.|[^\s()\\])*\))+))"
    r"(?:[ \t]+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^()\n]*\)))?[ \t]*\)"
)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_FENCE = re.compile(r"[ \t>]*(`{3,}|~{3,})")
_BACKTICKS = re.compile(r"`+")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_ESCAPED = re.compile(r"\\(.)")
_COMMENT = re.compile(r"%%.*?%%", re.DOTALL)  # an Obsidian comment: hidden when read, so no link


@dataclass(frozen=True)
class Link:
    """One link in a note. ``target`` is as written, decoded (``%20``) and without ``#heading``;
    ``start``/``end`` are offsets of the whole link in the parsed text, ``line`` is 1-based.
    ``chunk_id`` is the chunk holding it, once the note is indexed."""

    source: str
    target: str
    heading: str | None
    alias: str | None
    embed: bool
    kind: LinkKind
    start: int
    end: int
    line: int
    chunk_id: str | None = None

    @property
    def markup(self) -> str:
        """The link written out again (spacing and escapes aside), for messages."""
        reference = self.target + (f"#{self.heading}" if self.heading else "")
        bang = "!" if self.embed else ""
        if self.kind == "markdown":
            return f"{bang}[{self.alias or ''}]({reference})"
        return f"{bang}[[{reference}{'|' + self.alias if self.alias else ''}]]"


@dataclass(frozen=True)
class NoteName:
    """What resolution knows of one note: its workspace-relative path and its frontmatter aliases."""

    path: str
    aliases: tuple[str, ...] = ()


# --- parsing -----------------------------------------------------------------------------------


def parse_links(text: str, *, source: str, first_line: int = 1) -> list[Link]:
    """The links to other notes in ``text`` (a note's body), in order; ``first_line`` is the line of
    the file the text starts on. Never raises: text that is not a link is just text."""
    newlines = [m.start() for m in re.finditer("\n", text)]

    def line_of(offset: int) -> int:
        return first_line + bisect.bisect_left(newlines, offset)

    masked = _mask_code(text)
    wikilinks = list(_WIKILINK.finditer(masked))
    found = [_wikilink(match, text, source, line_of) for match in wikilinks]
    masked = _blank_spans(masked, [(match.start(), match.end()) for match in wikilinks])
    found += [_markdown_link(match, text, source, line_of) for match in _MARKDOWN_LINK.finditer(masked)]
    return sorted((link for link in found if link is not None), key=lambda link: link.start)


def _wikilink(match: re.Match[str], text: str, source: str, line_of: Callable[[int], int]) -> Link | None:
    inner = text[match.start(2) : match.end(2)]
    reference, bar, alias = inner.partition("|")
    reference = reference.removesuffix("\\")  # [[Target\|alias]] inside a table
    target, _, heading = reference.partition("#")
    target = target.strip()
    if not target or _suffix(target) in ATTACHMENT_KINDS:
        return None
    return Link(
        source=source, target=target, heading=heading.strip() or None, alias=(alias.strip() or None) if bar else None,
        embed=bool(match.group(1)), kind="wikilink", start=match.start(), end=match.end(), line=line_of(match.start()),
    )


def _markdown_link(match: re.Match[str], text: str, source: str, line_of: Callable[[int], int]) -> Link | None:
    destination = match.group(3) if match.group(3) is not None else _ESCAPED.sub(r"\1", match.group(4))
    if _SCHEME.match(destination):
        return None
    path, _, heading = destination.partition("#")
    path = unquote(path).strip()
    suffix = _suffix(path)
    if not path or (suffix and suffix not in NOTE_SUFFIXES):
        return None
    alias = _ESCAPED.sub(r"\1", text[match.start(2) : match.end(2)]).strip()
    return Link(
        source=source, target=path, heading=unquote(heading).strip() or None, alias=alias or None,
        embed=bool(match.group(1)), kind="markdown", start=match.start(), end=match.end(), line=line_of(match.start()),
    )


def _suffix(target: str) -> str:
    return posixpath.splitext(target.rsplit("/", 1)[-1])[1].lower()


def _mask_code(text: str) -> str:
    """``text`` with fenced code and inline code spans blanked (newlines kept), so offsets still hold."""
    pieces: list[str] = []
    for start, end, is_code in _fenced_regions(text):
        region = text[start:end]
        pieces.append(_blank(region) if is_code else _mask_comments(_mask_inline_code(region)))
    return "".join(pieces)


def _fenced_regions(text: str) -> Iterator[tuple[int, int, bool]]:
    """(start, end, is_code) regions tiling ``text``: a fence runs from its opening line to its
    closing one (same character, at least as long), or to the end of the text if never closed."""
    region_start, fence, pos = 0, "", 0
    while pos < len(text):
        newline = text.find("\n", pos)
        line_end = len(text) if newline == -1 else newline + 1
        opening = _FENCE.match(text, pos, line_end)
        if not fence and opening and not (opening.group(1)[0] == "`" and "`" in text[opening.end() : line_end]):
            yield region_start, pos, False
            region_start, fence = pos, opening.group(1)
        elif fence and opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence) \
                and not text[opening.end() : line_end].strip():
            yield region_start, line_end, True
            region_start, fence = line_end, ""
        pos = line_end
    yield region_start, len(text), bool(fence)


def _mask_inline_code(text: str) -> str:
    """Blank each code span: a run of backticks up to the next run of the same length in the same
    paragraph (CommonMark); a run with no partner is plain text."""
    spans: list[tuple[int, int]] = []
    paragraph_start = 0
    for paragraph_end in [m.start() for m in _BLANK_LINE.finditer(text)] + [len(text)]:
        runs = list(_BACKTICKS.finditer(text, paragraph_start, paragraph_end))
        by_length: dict[int, list[int]] = {}
        for i, run in enumerate(runs):
            by_length.setdefault(len(run.group()), []).append(i)
        i = 0
        while i < len(runs):
            same = by_length[len(runs[i].group())]
            after = bisect.bisect_right(same, i)
            if after == len(same):
                i += 1
                continue
            spans.append((runs[i].start(), runs[same[after]].end()))
            i = same[after] + 1
        paragraph_start = paragraph_end
    return _blank_spans(text, spans)


def _mask_comments(text: str) -> str:
    return _COMMENT.sub(lambda match: _blank(match.group()), text)


def _blank_spans(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """``text`` with these (start, end) spans blanked, newlines kept."""
    pieces, at = [], 0
    for start, end in spans:
        pieces += [text[at:start], _blank(text[start:end])]
        at = end
    return "".join(pieces) + text[at:]


def _blank(text: str) -> str:
    return re.sub(r"[^\n]", " ", text)


# --- resolving ---------------------------------------------------------------------------------


class Resolver:
    """Which note a link names, among ``notes`` (see the module docstring for the rules)."""

    def __init__(self, notes: Iterable[NoteName]) -> None:
        self._by_path: dict[str, list[str]] = {}
        self._by_name: dict[str, list[str]] = {}
        self._by_alias: dict[str, list[str]] = {}
        for note in notes:
            key = _path_key(note.path)
            self._by_path.setdefault(key, []).append(note.path)
            self._by_name.setdefault(key.rsplit("/", 1)[-1], []).append(note.path)
            for alias in note.aliases:
                self._by_alias.setdefault(_fold(alias), []).append(note.path)

    def resolve(self, link: Link) -> str | None:
        """The path of the note ``link`` names, or None when it names none (dangling)."""
        return self.resolve_target(link.target, source=link.source, kind=link.kind)

    def resolve_target(self, target: str, *, source: str, kind: LinkKind = "wikilink") -> str | None:
        folder = posixpath.dirname(source)
        target = target.strip()
        relative = target.startswith(("./", "../"))
        if kind == "markdown" or relative:
            # A markdown link is a path from the linking note (or, with a leading /, from the root).
            joined = target.lstrip("/") if target.startswith("/") else posixpath.join(folder, target)
            normal = posixpath.normpath(joined)
            found = None if normal.startswith("../") else self._by_path.get(_path_key(normal))
            if found or relative:
                return _closest(found or [], folder)
        key = _path_key(target.lstrip("/"))
        if key in self._by_path:
            return _closest(self._by_path[key], folder)
        name = key.rsplit("/", 1)[-1]
        candidates = self._by_name.get(name, [])
        if "/" in key:
            candidates = [path for path in candidates if _path_key(path).endswith("/" + key)]
        return _closest(candidates or self._by_alias.get(_fold(target), []), folder)


def name_key(target: str) -> str:
    """The folded file name (no folder, no note suffix) a link target or an alias is looked up by.

    The index keeps it beside each link, so the links that may name a note (``name_keys``) are
    found without resolving every link in the workspace.
    """
    return _path_key(target.strip().rsplit("/", 1)[-1])


def name_keys(note: NoteName) -> set[str]:
    """The ``name_key`` of every link that may resolve to ``note``: by its file name or an alias."""
    return {name_key(note.path), *(name_key(alias) for alias in note.aliases)}


def _closest(paths: Sequence[str], folder: str) -> str | None:
    if not paths:
        return None
    return min(paths, key=lambda path: (posixpath.dirname(path) != folder, len(path), path))


def _path_key(path: str) -> str:
    stem, suffix = posixpath.splitext(path)
    return _fold(stem if suffix.lower() in NOTE_SUFFIXES else path)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text.strip()).casefold()
