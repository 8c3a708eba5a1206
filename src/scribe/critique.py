"""A critique as data: parsed from the model's JSON, each quote checked against the draft (pure).

Its issues are kept in one order, `reading_order`: the markdown numbers them in it, and the app's
Issues list and `critique --json` list them in it, so "issue 3" is the same issue everywhere.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from scribe.loops import LOOPING

SEVERITIES = ("high", "medium", "low")
# A quote shorter than this ("y", "the") is found almost anywhere and points at nothing.
MIN_QUOTE_CHARS = 8
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})


@dataclass
class Issue:
    severity: str
    quote: str
    problem: str
    suggestion: str
    grounded: bool = False  # the quote appears verbatim in the draft
    # The quoted sentence rewritten with the fix applied, so the fix can be offered as a tracked
    # change (`edits.from_critique`); "" when the fix is not a rewrite of that sentence.
    replacement: str = ""


@dataclass
class Critique:
    summary: str
    issues: list[Issue] = field(default_factory=list)  # in `reading_order`
    parsed: bool = True
    raw: str = ""
    cut_off: bool = False  # unparsed because the reply reached num_predict
    # Why only the issues before the reply ended are here: LENGTH (cut off by num_predict) or
    # LOOPING (stopped by `looping`); "" for a whole reply.
    stopped: str = ""

    @property
    def ungrounded(self) -> int:
        return sum(1 for issue in self.issues if not issue.grounded)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ungrounded": self.ungrounded}


def normalise(text: str) -> str:
    """Compare quotes the way a reader would: curly quotes straight, whitespace runs as one space."""
    return re.sub(r"\s+", " ", text.translate(_QUOTES)).strip()


def quote_span(draft: str, quote: str) -> tuple[int, int] | None:
    """Where `quote` stands in `draft` (character offsets), allowing for whitespace and quote style."""
    wanted = normalise(quote)
    if len(wanted) < MIN_QUOTE_CHARS:
        return None
    exact = draft.find(quote.strip())
    if exact >= 0:
        return exact, exact + len(quote.strip())
    words = [re.escape(w) for w in wanted.split(" ")]
    pattern = r"\s+".join(w.replace('"', "[\"\u201c\u201d]").replace("'", "['\u2018\u2019]") for w in words)
    match = re.search(pattern, draft)
    return (match.start(), match.end()) if match else None


def quotable(draft: str) -> list[str]:
    """The draft's sentences that can be quoted: prose only (no heading, code or table), each once,
    none so short that it would be found almost anywhere.

    A sentence with a straight double quote or a backslash is left out: llama-cpp-python's schema
    converter (0.3) does not escape the backslash that JSON puts before such a character, so the
    engine's grammar for it would not parse.
    """
    from scribe.chunking import prose_sentences

    return list(dict.fromkeys(
        s for s in prose_sentences(draft) if len(s) >= MIN_QUOTE_CHARS and '"' not in s and "\\" not in s
    ))


def quote_schema(base: dict[str, Any], draft: str) -> dict[str, Any]:
    """The template's schema with each issue's `quote` one of the draft's sentences (an `enum`).

    A small writer asked to copy words verbatim still paraphrases, merges two sentences or quotes
    a heading; held to the draft's own sentences by the server's grammar it cannot, and every
    issue points at a passage the author can find. A schema without an issue `quote` string (a
    workspace's own template) or a draft with no prose is returned as it is.
    """
    schema = copy.deepcopy(base)
    issue = schema.get("properties", {}).get("issues", {}).get("items", {})
    quote = issue.get("properties", {}).get("quote") if isinstance(issue, dict) else None
    choices = quotable(draft)
    if isinstance(quote, dict) and quote.get("type") == "string" and choices:
        quote["enum"] = choices
    return schema


# Issue fields the template asked for after critiques were first logged: a critique from before
# has none of them and is still a valid critique (a missing one reads as "").
ADDED_ISSUE_FIELDS = ("replacement",)


def as_logged(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` as a logged critique is checked against: the issue fields added since critiques were
    first logged are not required, so the report does not fail every critique made before them."""
    relaxed = copy.deepcopy(schema)
    issue = relaxed.get("properties", {}).get("issues", {}).get("items", {})
    if isinstance(issue, dict) and isinstance(issue.get("required"), list):
        issue["required"] = [name for name in issue["required"] if name not in ADDED_ISSUE_FIELDS]
    return relaxed


def reading_order(issues: Sequence[Issue], draft: str) -> list[Issue]:
    """Issues in the order the author meets their quotes reading `draft` top to bottom (at the same
    place, the more severe first); those whose quote is not in the draft follow, most severe first.
    A model lists issues by its own whim, and a writer walks the draft once, fixing as they go."""
    def key(issue: Issue) -> tuple[bool, int, int]:
        span = quote_span(draft, issue.quote)
        return span is None, span[0] if span else 0, SEVERITIES.index(issue.severity)

    return sorted(issues, key=key)


# Ollama's done reason for a reply cut off by num_predict; LOOPING is the task layer's, when
# `looping` stopped the stream.
LENGTH = "length"
_FIELD = re.compile(r'"(quote|problem|suggestion)"\s*:\s*("(?:[^"\\]|\\.)*")')


def _said(quote: str, problem: str, suggestion: str) -> tuple[tuple[str, ...], ...]:
    """What makes two issues the same: one sentence quoted, or the same words said of two."""
    return ("quote", normalise(quote)), ("advice", normalise(problem), normalise(suggestion))


def looping(text: str) -> str | None:
    """LOOPING once the critique streamed so far repeats, in full, its previous issue's quote, or
    its previous issue's problem and suggestion word for word; else None. A small writer at a low
    temperature that repeats itself goes on until num_predict or the issue limit (seen with the
    1.5B writer: five issues on one sentence; five sentences given one problem and one suggestion),
    and `parse_critique` drops such repeats anyway: ending the stream there saves the wait."""
    issues: list[dict[str, str]] = []
    for m in _FIELD.finditer(text):  # JSON literals, compared as they stand: a loop repeats them exactly
        if m.group(1) == "quote":
            issues.append({})
        if issues:
            issues[-1][m.group(1)] = m.group(2)
    if len(issues) < 2:
        return None
    last, before = issues[-1], issues[-2]
    same_quote = "quote" in last and last["quote"] == before["quote"]
    same_advice = "suggestion" in last and all(last.get(k) == before.get(k) for k in ("problem", "suggestion"))
    return LOOPING if same_quote or same_advice else None


def salvage(raw: str) -> str | None:
    """A reply that ended inside its JSON, closed after its last complete issue; None when no issue
    was complete. The template asks for the summary first, so a closed reply keeps it."""
    depth, in_string, escaped, end = 0, False, False, None
    for i, ch in enumerate(raw):
        if escaped:
            escaped = False
        elif in_string:
            escaped, in_string = ch == "\\", ch != '"'
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 2 and ch == "}":  # an issue object inside the top object's array
                end = i + 1
    return raw[:end] + "]}" if end is not None else None


def read_critique(raw: str, draft: str, done_reason: str | None = None) -> Critique:
    """The critique a reply holds, as the author is shown it: parsed whole; or, for a reply that
    ended early (`done_reason` LENGTH or LOOPING), the complete issues before the end, marked
    `stopped`; or else the raw text, marked unparsed."""
    critique = parse_critique(raw, draft)
    if critique is None and done_reason in (LENGTH, LOOPING):
        closed = salvage(raw)
        critique = parse_critique(closed, draft) if closed is not None else None
        if critique is not None:
            critique.raw, critique.stopped = raw, done_reason
    return critique or unparsed(raw, cut_off=done_reason == LENGTH)


def _uncited(text: str) -> str:
    """`text` as compared with the advice it may repeat: without citation marks ("[2]"), normalised."""
    return normalise(re.sub(r"\[\d+\]", " ", text))


def parse_critique(raw: str, draft: str) -> Critique | None:
    """The critique in `raw`, its issues in `reading_order`, or None when it is not JSON of the
    expected shape. An issue about a sentence an earlier issue quoted already is dropped, and so is
    one whose problem and suggestion an earlier issue gave word for word (`_said`); a replacement
    that repeats its suggestion word for word, citation marks aside, is read as none."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("issues", []), list):
        return None
    issues = []
    seen: set[tuple[str, ...]] = set()
    for item in data.get("issues", []):
        if not isinstance(item, dict):
            continue
        severity = str(item.get("severity", "medium")).lower()
        quote, problem, suggestion = (str(item.get(k, "")) for k in ("quote", "problem", "suggestion"))
        said = _said(quote, problem, suggestion)
        if seen.intersection(said):
            continue  # a small writer repeats itself; the prompt asks for one issue per sentence, each its own
        seen.update(said)
        replacement = str(item.get("replacement") or "")
        if _uncited(replacement) == _uncited(suggestion):
            replacement = ""  # the advice again, not the sentence rewritten: as a tracked change it would paste advice into the draft
        issues.append(Issue(
            severity=severity if severity in SEVERITIES else "medium",
            quote=quote,
            problem=problem,
            suggestion=suggestion,
            grounded=quote_span(draft, quote) is not None,
            replacement=replacement,
        ))
    return Critique(summary=str(data.get("summary", "")), issues=reading_order(issues, draft), raw=raw)


def unparsed(raw: str, *, cut_off: bool = False) -> Critique:
    """What is kept when the model never produced valid JSON: its raw text, marked unparsed."""
    return Critique(summary="", issues=[], parsed=False, raw=raw, cut_off=cut_off)


def render_markdown(critique: Critique) -> str:
    """A critique as the author reads it: summary, then the issues numbered in their order (from
    `parse_critique`: `reading_order`), ungrounded ones flagged, each proposed rewrite shown."""
    if not critique.parsed:
        why = " (it was cut off by the token limit: raise num_predict)" if critique.cut_off else ""
        return f"**The model's reply was not valid critique JSON{why}; its raw text follows.**\n\n" + critique.raw
    lines = ["## Summary", "", critique.summary or "(no summary)", "", f"## Issues ({len(critique.issues)})", ""]
    for n, issue in enumerate(critique.issues, start=1):
        flag = "" if issue.grounded else " — *quote not found in the draft (ungrounded)*"
        lines.append(f"{n}. **{issue.severity}**: > {normalise(issue.quote)}{flag}")
        lines.append(f"   - problem: {issue.problem}")
        lines.append(f"   - suggestion: {issue.suggestion}")
        if issue.replacement.strip():
            lines.append(f"   - rewrite: {normalise(issue.replacement)}")
    if not critique.issues:
        lines.append("No issues found.")
    if critique.stopped:
        why = ("the model began repeating an issue, so it was stopped" if critique.stopped == LOOPING
               else "the reply was cut off by the token limit (raise num_predict for more)")
        lines += ["", f"*Only the issues before the reply ended: {why}.*"]
    return "\n".join(lines) + "\n"
