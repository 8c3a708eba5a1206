"""Tags as Obsidian reads them: from the frontmatter and from the body, and how a filter matches them.

Pure. Obsidian's rules, followed so a vault's tags mean the same here: a tag in the body is ``#``
then letters, digits, ``_``, ``-`` and ``/`` (``#project/alpha`` is nested under ``project``),
with at least one character that is not a digit (``#1984`` is not a tag). The ``#`` starts a line
or follows white space, so a heading's ``# `` and a link's ``[[Note#Heading]]``,
``[x](#section)`` or ``https://example.org/#part`` are not tags. Code (fenced blocks, found as
the chunker finds them, and inline spans) and Obsidian comments (``%%...%%``) hold no tags. Tags
compare without case.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from scribe.markdown_lines import prose_lines

_INLINE_TAG = re.compile(r"(?<!\S)#([\w/-]+)")
_INLINE_CODE = re.compile(r"(`+).+?\1")
_COMMENT = re.compile(r"%%.*?%%", re.DOTALL)
_SEPARATORS = re.compile(r"[,\s]+")


def body_tags(body: str) -> list[str]:
    """The ``#tags`` in a note's body, in order, each once (the first spelling kept)."""
    found: list[str] = []
    for _, line in prose_lines(_COMMENT.sub(" ", body)):
        for match in _INLINE_TAG.finditer(_INLINE_CODE.sub(" ", line)):
            tag = match.group(1).strip("/")
            if tag and not tag.replace("/", "").isdigit():
                found.append(tag)
    return unique_tags(found)


def frontmatter_tags(value: str | int | float | bool | list[str] | None) -> list[str]:
    """Tags from a frontmatter ``tags`` (or ``tag``) value: a list, or one string of tags separated by
    commas or spaces, as Obsidian accepts both; a leading ``#`` is dropped."""
    if value is None or isinstance(value, bool):
        return []
    items = value if isinstance(value, list) else _SEPARATORS.split(str(value))
    return unique_tags(item.strip().lstrip("#").strip("/") for item in items)


def unique_tags(tags: Iterable[str]) -> list[str]:
    """Non-empty tags, each once whatever its case, the first spelling kept."""
    seen: dict[str, str] = {}
    for tag in tags:
        if tag and tag.casefold() not in seen:
            seen[tag.casefold()] = tag
    return list(seen.values())


def has_tag(tags: Sequence[str], wanted: str) -> bool:
    """Does a note with ``tags`` match the filter ``wanted``: the tag itself or one nested under it,
    without case (``project`` matches ``Project/Alpha``; ``proj`` does not)?"""
    key = wanted.strip().lstrip("#").strip("/").casefold()
    return bool(key) and any(tag.casefold() == key or tag.casefold().startswith(key + "/") for tag in tags)

