"""Where a task's new text goes in a draft: text in, one edit out (pure, no I/O).

`expand --in-place` (tasks.apply_expansion) and the TUI's insert / replace use these rules. Each returns one `Splice` (one span
replaced by one text), so an editor can apply it as a single change: one undo step takes it back.
An answer the model did not finish goes in only as far as it is complete (`trim_unfinished`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scribe.loops import LOOPING, before_loop


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


# --- an answer cut off before the model finished it --------------------------------------------

CUT_MARKER = "<!-- scribe: the model was cut off here -->"

_SENTENCE_END = r"[.!?…]+[\"'”’)\]*_~`]*"  # a closing quote, bracket or emphasis may follow the stop
_SENTENCE_BREAK = re.compile(_SENTENCE_END + r"(?=\s|$)")
_ENDS_SENTENCE = re.compile(_SENTENCE_END + "$")
_ABBREVIATION = re.compile(r"(?:^|[\s(])(?:e\.g|i\.e|cf|vs|mrs?|ms|dr|fig)\.$", re.IGNORECASE)
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")
_HEADING = re.compile(r"^\s{0,3}#{1,6}(?:\s|$)")
_RULE = re.compile(r"^\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])(?:\s+|$)")
_QUOTE = re.compile(r"^\s{0,3}>\s?")
_ROW = re.compile(r"^\s*\|")
_DANGLING = re.compile(r"(?:^|(?<=\s))[*_~\[(`]+$")  # markup begun just before the cut, nothing in it yet
_INLINE = re.compile(r"\\.|`+|\*+|_+|~~|\]\(|[\[\]()]")


def trim_unfinished(text: str, *, cut_off: bool, done_reason: str | None) -> str:
    """An answer fit to go into a draft: one stopped for repeating itself (`done_reason` LOOPING)
    up to where its loop began (`loops.before_loop`), one `cut_off` up to its last complete
    sentence (`trim_cut_off`), any other as it is."""
    if done_reason == LOOPING:
        return trim_cut_off(before_loop(text), True)
    return trim_cut_off(text, cut_off)


def trim_cut_off(text: str, cut_off: bool) -> str:
    """An expansion fit to go into a draft: when generation was `cut_off` (the token limit, a cancel)
    its text ends mid-sentence, perhaps inside a code fence or a backtick, and would leave the draft
    broken there; so it is cut back to the end of its last complete sentence or block.

    The result is the longest prefix that ends a paragraph or sentence, a whole list item or table
    row (its line ended) or a closed fence, with no code span, emphasis, bracket or fence left open
    and no heading or rule dangling at the end. With no such prefix the whole text is kept (but
    markup begun with nothing in it yet), what is open closed, and `CUT_MARKER` added, so the author
    sees where it stops instead of losing it. Text that was not cut off, or was marked already, is
    returned as it is. Whether a prefix may end depends on it alone, so trimming twice changes
    nothing more.
    """
    if not cut_off or text.rstrip().endswith(CUT_MARKER):
        return text
    ends = {m.end() for m in re.finditer("\n", text)} | {m.end() for m in _SENTENCE_BREAK.finditer(text)} | {len(text)}
    for end in sorted(ends, reverse=True):
        if _complete(text[:end]):
            return text[:end]
    kept = _DANGLING.sub("", text.rstrip()).rstrip()
    return f"{kept}{_closers(kept)}\n\n{CUT_MARKER}" if kept else CUT_MARKER


@dataclass(frozen=True)
class _Block:
    """The last block of a text: its kind, where it starts, and the line that closes it if it is an open fence."""

    kind: str  # fence, heading, rule, item, row, quote or para
    start: int
    open_fence: str | None = None


def _last_block(text: str) -> _Block | None:
    """The block a text ends in, read line by line as Markdown does (roughly: a list item or quote
    takes the lines that follow it until a blank line or a new block)."""
    block: _Block | None = None
    blank = False
    pos = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        if block is not None and block.open_fence is not None:
            fence = block.open_fence.strip()
            if body.strip().startswith(fence) and set(body.strip()) == {fence[0]}:
                block = _Block("fence", block.start)
        elif not body.strip():
            blank = True
        else:
            kind = _kind(body)
            if kind == "fence":
                indent, marks, _ = _FENCE.match(body).groups()  # type: ignore[union-attr]
                block = _Block("fence", pos, indent + marks)
            elif not (block is not None and not blank and (
                (kind == "para" and block.kind in ("para", "item", "quote")) or (kind == "quote" and block.kind == "quote")
            )):
                block = _Block(kind, pos)
            blank = False
        pos += len(line)
    return block


def _kind(line: str) -> str:
    """The kind of block a line (outside a fence) starts, or "para" for prose."""
    fence = _FENCE.match(line)
    if fence and not (fence.group(2)[0] == "`" and "`" in fence.group(3)):
        return "fence"
    for kind, pattern in (("heading", _HEADING), ("rule", _RULE), ("item", _ITEM), ("quote", _QUOTE), ("row", _ROW)):
        if pattern.match(line):
            return kind
    return "para"


def _inline(block: _Block, text: str) -> str:
    """The block's text without its block markers (`#`, a list bullet, `>`), as inline markup reads it."""
    lines = text[block.start :].splitlines()
    if block.kind == "heading":
        lines[0] = lines[0].lstrip(" #")
    elif block.kind == "item":
        lines[0] = _ITEM.sub("", lines[0], count=1)
    elif block.kind == "quote":
        lines = [re.sub(r"^(?:\s{0,3}>\s?)+", "", line) for line in lines]
    return "\n".join(lines)


def _complete(prefix: str) -> bool:
    """Whether `prefix` may end an expansion: it says only what the text itself shows is finished."""
    block = _last_block(prefix)
    if block is None or block.open_fence is not None:
        return False
    if block.kind == "fence":
        return True
    inline = _inline(block, prefix)
    if block.kind in ("heading", "rule") or not inline.strip() or _open_inline(inline):
        return False
    tail = prefix[len(prefix.rstrip()) :]
    if block.kind in ("item", "row"):
        return "\n" in tail
    return tail.count("\n") >= 2 or _ends_sentence(inline.rstrip())


def _ends_sentence(text: str) -> bool:
    """`text` ends with a full stop, question or exclamation mark (a closing quote, bracket or
    emphasis after it), and not one that ends "e.g." or "Dr."."""
    match = _ENDS_SENTENCE.search(text)
    return match is not None and not _ABBREVIATION.search(text[: match.start() + 1])


def _open_inline(text: str) -> list[str]:
    """The closers of what is still open at the end of `text` (code span, emphasis, bracket,
    parenthesis), innermost last. An unmatched backtick run opens a code span to the end."""
    stack: list[str] = []
    at = 0
    while (match := _INLINE.search(text, at)) is not None:
        run, at = match.group(), match.end()
        if run[0] == "\\":
            continue
        if run[0] == "`":
            close = re.compile(rf"(?<!`){run}(?!`)").search(text, at)
            if close is None:
                return [*stack, run]
            at = close.end()
        elif run in ("[", "("):
            stack.append("]" if run == "[" else ")")
        elif run in ("]", ")", "]("):
            _pop(stack, run[0])
            if run == "](":
                stack.append(")")
        else:
            _emphasis(stack, run, text[match.start() - 1 : match.start()] or " ", text[at : at + 1] or " ")
    return stack


def _pop(stack: list[str], closer: str) -> None:
    """Close the innermost open `closer` (a bracket or parenthesis), if any."""
    for i in range(len(stack) - 1, -1, -1):
        if stack[i] == closer:
            del stack[i]
            return


def _emphasis(stack: list[str], run: str, before: str, after: str) -> None:
    """A run of `*`, `_` or `~~`: it closes what it can of the open run of its character on top,
    and opens with the rest when it can (flanking as CommonMark has it, `_` never inside a word)."""
    char, left = run[0], len(run)
    can_open, can_close = not after.isspace(), not before.isspace()
    if char == "_":
        can_open, can_close = can_open and not before.isalnum(), can_close and not after.isalnum()
    while can_close and left and stack and stack[-1][0] == char:
        top = stack.pop()
        used = min(len(top), left)
        left -= used
        if len(top) > used:
            stack.append(char * (len(top) - used))
    if left and can_open:
        stack.append(char * left)


def _closers(text: str) -> str:
    """What closes the fence, code span, emphasis or brackets `text` ends inside of."""
    block = _last_block(text)
    if block is None:
        return ""
    if block.open_fence is not None:
        return "\n" + block.open_fence
    closers = "".join(reversed(_open_inline(_inline(block, text))))
    return (" " if closers.startswith("`") and text.endswith("`") else "") + closers
