"""Deterministic quality checks on model outputs, one per task (pure: strings in, records out).

They catch what a machine can see for certain (broken structure, wrong length, invented quotes,
citations of sources that were never given) so that judges and humans spend their attention on
what it cannot. Markdown is read line by line as the chunker reads it (``markdown_lines``): ATX
headings only, and nothing inside a fenced code block counts as a heading, a list item or a citation.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from scribe.markdown_lines import heading as atx_heading
from scribe.markdown_lines import normalise_heading, prose_lines

_TOP_LEVEL_ITEM = re.compile(r"^ ?(?:[-*+]|\d{1,9}[.)])[ \t]+\S")
_CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.DOTALL)
_CITATION = re.compile(r"\[\s*(\d+(?:\s*[,;]\s*\d+)*)\s*\](?!\()")
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
_QUOTE_MARKS = str.maketrans("‘’‚‛“”„‟", "''''\"\"\"\"")


@dataclass(frozen=True)
class CheckResult:
    """Whether an output passed, a score in [0, 1] (1 is best) and one line saying why."""

    passed: bool
    score: float
    detail: str


@dataclass(frozen=True)
class OutlineCheck(CheckResult):
    """``sections`` is the number of top-level units counted (see ``check_outline``)."""

    sections: int


@dataclass(frozen=True)
class CritiqueCheck(CheckResult):
    """``quote_share`` is quotes_found / issues, and 1.0 when there are no issues to ground."""

    parsed: bool
    schema_valid: bool
    issues: int
    quotes_found: int
    quote_share: float


@dataclass(frozen=True)
class ExpandCheck(CheckResult):
    """``words`` excludes the heading line; ``heading_kept`` is as defined in ``check_expand``."""

    words: int
    heading_kept: bool


@dataclass(frozen=True)
class CitationCheck(CheckResult):
    """``citations`` counts cited numbers (``[1, 3]`` is two); ``invalid`` lists the bad ones."""

    citations: int
    invalid: tuple[int, ...]


def check_outline(text: str, *, expected_sections: int | None) -> OutlineCheck:
    """A usable markdown outline, with the number of top-level sections asked for.

    Structure: at least one heading of level 1-3 or one top-level list item; no empty heading;
    no heading more than one level deeper than the heading before it (``#`` then ``###``). The
    first heading may be at any level. Sections are the ``##`` headings if there are any (a
    ``#`` above them is a title); else, under a lone ``#`` title, the top-level list items; else
    the headings of the shallowest level present (usually ``#``); else the top-level list items.
    ``score`` is 0 for a broken structure, else ``1 / (1 + |sections - expected|)`` (1 when
    nothing is expected); passing needs both.
    """
    headings: list[tuple[int, str]] = []
    items = 0
    for _, line in prose_lines(text):
        if heading := atx_heading(line):
            headings.append(heading)
        elif _TOP_LEVEL_ITEM.match(line):
            items += 1
    problems = []
    if not items and not any(level <= 3 for level, _ in headings):
        problems.append("no heading (# to ###) and no top-level list")
    if empty := sum(1 for _, title in headings if not title):
        problems.append(f"{empty} empty heading(s)")
    skips = [
        f"{'#' * before} then {'#' * after}"
        for (before, _), (after, _) in itertools.pairwise(headings)
        if after > before + 1
    ]
    if skips:
        problems.append("skipped heading levels: " + ", ".join(skips))
    levels = Counter(level for level, _ in headings)
    if levels[2]:
        sections, unit = levels[2], "## headings"
    elif levels[1] == 1 and items:
        sections, unit = items, "top-level list items under a title"
    elif levels:
        shallowest = min(levels)
        sections, unit = levels[shallowest], f"{'#' * shallowest} headings"
    else:
        sections, unit = items, "top-level list items"
    count = f"{sections} {unit}"
    if expected_sections is not None:
        count += f", expected {expected_sections}"
    if problems:
        return OutlineCheck(False, 0.0, "; ".join(problems) + f" ({count})", sections)
    if expected_sections is None:
        return OutlineCheck(True, 1.0, count, sections)
    return OutlineCheck(
        sections == expected_sections, 1 / (1 + abs(sections - expected_sections)), count, sections
    )


COPY_SHINGLE = 5
"""Words per shingle when a bullet is compared with the draft."""
COPY_MIN_WORDS = 8
"""A bullet shorter than this is a claim or a step, whatever words it shares with the draft."""


def _shingles(words: list[str]) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + COPY_SHINGLE]) for i in range(len(words) - COPY_SHINGLE + 1)}


def check_own_words(text: str, given: str) -> CheckResult:
    """An outline whose bullets say what a section will make, not sentences lifted from what the
    model was given (``given``: the prompt, with the draft and the notes).

    A bullet (a top-level list item, citations removed) of at least ``COPY_MIN_WORDS`` words is
    copied when half or more of its 5-word runs occur in ``given`` (words case-folded). A small
    writer tends to paste the draft's or the notes' paragraphs as bullets: structurally an outline,
    of no use to the author. ``score`` is the share of bullets not copied; passing needs 3 in 4.
    """
    seen = _shingles([w.casefold() for w in _WORD.findall(given)])
    bullets = [_CITATION.sub(" ", line) for _, line in prose_lines(text) if _TOP_LEVEL_ITEM.match(line)]
    copied = 0
    for bullet in bullets:
        words = [w.casefold() for w in _WORD.findall(bullet)]
        runs = _shingles(words)
        if len(words) >= COPY_MIN_WORDS and runs and len(runs & seen) * 2 >= len(runs):
            copied += 1
    if not bullets:
        return CheckResult(False, 0.0, "no bullets")
    score = 1 - copied / len(bullets)
    return CheckResult(score >= 0.75, score, f"{copied} of {len(bullets)} bullets copied from the draft or notes")


def _normalise_quote(text: str) -> str:
    return " ".join(text.translate(_QUOTE_MARKS).split())


@lru_cache(maxsize=16)
def _validator(schema_json: str) -> Any:
    """A checked validator per schema: checking the schema itself costs more than validating an
    output, and a report checks thousands of outputs against one schema."""
    from jsonschema import validators

    schema = json.loads(schema_json)
    validator_class = validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def check_critique(raw_json: str, draft: str, *, schema: dict[str, Any]) -> CritiqueCheck:
    """A critique that parses as JSON, fits ``schema`` and quotes only words the draft contains.

    The JSON must parse as it is (no code fence around it; ask the server for JSON output). A
    quote is found when it occurs in the draft verbatim, case included, after both have their
    whitespace runs collapsed to one space and curly quotes straightened; an empty quote is not
    found. Issues and quotes are counted wherever the shape allows, even if the schema check
    failed, so a report can still show them. Passing needs a valid critique whose every quote is
    found; ``score`` is ``quote_share`` for a valid critique and 0 otherwise. Whether an empty
    issue list is acceptable is the schema's call (``minItems``). A broken ``schema`` raises
    ``jsonschema.SchemaError``: that is a bug in the caller, not in the output.
    """
    # imported here: jsonschema pulls in a validator stack that the rest of scribe never needs
    from jsonschema import exceptions

    try:
        data = json.loads(raw_json)
    except json.JSONDecodeError as exc:
        return CritiqueCheck(False, 0.0, f"not JSON: {exc}", False, False, 0, 0, 0.0)
    error = exceptions.best_match(_validator(json.dumps(schema, sort_keys=True)).iter_errors(data))
    raw_issues = data.get("issues") if isinstance(data, dict) else None
    issues = raw_issues if isinstance(raw_issues, list) else []
    haystack = _normalise_quote(draft)
    quotes = [
        _normalise_quote(issue["quote"])
        if isinstance(issue, dict) and isinstance(issue.get("quote"), str)
        else ""
        for issue in issues
    ]
    found = sum(1 for quote in quotes if quote and quote in haystack)
    share = found / len(issues) if issues else 1.0
    detail = f"{found}/{len(issues)} quotes found in the draft"
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "the top level"
        detail = f"schema violation at {where}: {error.message}; {detail}"
    valid = error is None
    return CritiqueCheck(
        passed=valid and found == len(issues),
        score=share if valid else 0.0,
        detail=detail,
        parsed=True,
        schema_valid=valid,
        issues=len(issues),
        quotes_found=found,
        quote_share=share,
    )


def check_expand(text: str, *, heading: str, max_words: int, min_words: int = 1) -> ExpandCheck:
    """An expansion that stays in its section and lands within [min_words, max_words].

    "Keeps the section heading" means the output is about that section: if it contains any
    headings, the first one must read ``heading`` (case and ``#`` marks ignored); an output
    with no heading at all is a bare section body and keeps it too. Words are runs of letters
    and digits (``don't`` and ``well-known`` are one word each; list markers are none), counted
    over everything but that first heading line. ``score`` is 0 when the heading is lost, else
    1 within the range, ``words / min_words`` under it and ``max_words / words`` over it.
    """
    if not 0 <= min_words <= max_words:
        raise ValueError(f"need 0 <= min_words <= max_words, got {min_words} and {max_words}")
    first = next(((i, h[1]) for i, line in prose_lines(text) if (h := atx_heading(line))), None)
    kept = first is None or normalise_heading(first[1]) == normalise_heading(heading)
    lines = text.splitlines()
    if first is not None:
        del lines[first[0]]
    words = len(_WORD.findall("\n".join(lines)))
    if words < min_words:
        length_score, detail = words / min_words, f"{words} words, under {min_words}"
    elif words > max_words:
        length_score, detail = max_words / words, f"{words} words, over {max_words}"
    else:
        length_score, detail = 1.0, f"{words} words, within [{min_words}, {max_words}]"
    if first is not None and not kept:
        detail = f"first heading is {first[1]!r}, not {heading!r}; {detail}"
    return ExpandCheck(
        passed=kept and length_score == 1.0,
        score=length_score if kept else 0.0,
        detail=detail,
        words=words,
        heading_kept=kept,
    )


def check_citations(text: str, *, n_sources: int) -> CitationCheck:
    """Citation markers (``[1]``, ``[1, 3]``, ``[1][2]``) that point at sources actually given.

    Markdown links (``[1](url)``), code spans and fenced code are not citations. Every cited
    number counts, repeats included; ``score`` is the share in 1..n_sources. Passing needs every
    citation valid and at least one of them when there are sources: an output that cites
    nothing is not grounded, so it fails with score 0. With no sources, citing nothing passes.
    """
    prose = _CODE_SPAN.sub(" ", "\n".join(line for _, line in prose_lines(text)))
    cited = [int(n) for group in _CITATION.findall(prose) for n in re.split(r"[,;]", group)]
    invalid = tuple(sorted({n for n in cited if not 1 <= n <= n_sources}))
    if not cited:
        grounded = n_sources == 0
        detail = "no citations" + ("" if grounded else f" of {n_sources} source(s)")
        return CitationCheck(grounded, 1.0 if grounded else 0.0, detail, 0, ())
    valid = sum(1 for n in cited if 1 <= n <= n_sources)
    detail = f"{valid}/{len(cited)} citations within 1..{n_sources}"
    if invalid:
        detail += "; invalid: " + ", ".join(f"[{n}]" for n in invalid)
    return CitationCheck(not invalid, valid / len(cited), detail, len(cited), invalid)
