"""Markdown read line by line, the CommonMark way where it matters: ATX headings and fenced code.

Pure. One rule for the chunker, the bench's checks and the tags: a heading is ``#`` to ``######``,
a space, then text (setext underlines are not read), and nothing inside a fenced code block is a
heading, a tag, a list item or a citation. A fence opens with three or more backticks or tildes
indented at most three spaces, and closes on a line of the same character, at least as many.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t\r]*$")
FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def closes_fence(line: str, fence: str) -> bool:
    """Does ``line`` close the fence opened by ``fence`` (its run of backticks or tildes)?"""
    stripped = line.lstrip(" ")
    if len(line) - len(stripped) > 3:
        return False
    run = len(stripped) - len(stripped.lstrip(fence[0]))
    return run >= len(fence) and not stripped[run:].strip()


def prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """(index, line) for the lines of ``text`` outside fenced code blocks, fence lines excluded."""
    fence: str | None = None
    for index, line in enumerate(text.splitlines()):
        if fence is not None:
            if closes_fence(line, fence):
                fence = None
        elif opening := FENCE_OPEN.match(line):
            fence = opening.group(1)
        else:
            yield index, line


def heading(line: str) -> tuple[int, str] | None:
    """(level, text) if ``line`` is an ATX heading; the text may be empty."""
    match = HEADING.match(line)
    return (len(match.group(1)), (match.group(2) or "").strip()) if match else None


def normalise_heading(text: str) -> str:
    """A heading as compared: without its ``#`` marks, case or extra spaces."""
    return " ".join(text.strip().lstrip("#").split()).casefold()
