"""Where a task's new text goes in a draft: text in, one edit out (pure, no I/O).

`expand --in-place` (tasks.apply_expansion) and the TUI's insert / replace use these rules. Each returns one `Splice` (one span
replaced by one text), so an editor can apply it as a single change: one undo step takes it back.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Splice:
    """Replace `text[start:end]` with `new`."""

    start: int
    end: int
    new: str

    def apply(self, text: str) -> str:
        return text[: self.start] + self.new + text[self.end :]


def replace_section(text: str, start: int, end: int, heading: str, output: str) -> Splice:
    """`output` in place of the section `text[start:end]`, which begins with its heading line.

    The heading line is kept unless the output opens with a heading line of the same text: only a
    heading line counts, since prose that merely begins with the section's words ("Testing
    idempotency can be...") would otherwise take the heading's place and the section would be lost.
    The rest of the draft follows after one blank line.
    """
    new = output.strip()
    first = new.splitlines()[0] if new else ""
    if not (first.startswith("#") and _heading_text(first) == _heading_text(heading)):
        heading_line = text[start:end].splitlines()[0]
        new = f"{heading_line}\n\n{new}"
    rest = text[end:]
    blank = len(rest) - len(rest.lstrip("\n"))
    return Splice(start, end + blank, new + ("\n\n" if end < len(text) else "\n"))


def replace_body(start: int, end: int, output: str) -> Splice:
    """`output` in place of the whole body (`start` is where it begins, after any frontmatter)."""
    return Splice(start, end, output.strip() + "\n")


def insert_after(text: str, at: int, output: str) -> Splice:
    """`output` as its own paragraphs at `at` (the end of the text it expanded): one blank line
    before it and after it, however the text around it ends."""
    before = text[:at]
    lead = "" if not before or before.endswith("\n\n") else ("\n" if before.endswith("\n") else "\n\n")
    tail = "\n\n" if at < len(text) else "\n"
    return Splice(at, at, lead + output.strip() + tail)


def replace_selection(start: int, end: int, output: str) -> Splice:
    """`output` in place of a selection, inline: the selection's surroundings stay as they are."""
    return Splice(start, end, output.strip())


def _heading_text(line: str) -> str:
    return line.strip().lstrip("#").strip().lower()
