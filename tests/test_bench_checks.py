"""Tests for scribe.bench.checks on hand-made outputs, good and bad, for each task."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scribe.bench.checks import check_citations, check_critique, check_expand, check_outline, check_own_words

# outline

GOOD_OUTLINE = """\
# Idempotency keys

## Why retries happen
- timeouts [1]
- client crashes

## What the key protects
- duplicate charges
### Storage
- TTL of a day

## Failure modes
- key reuse with a different body
"""


def test_good_outline_with_the_expected_sections_passes() -> None:
    result = check_outline(GOOD_OUTLINE, expected_sections=3)
    assert result.passed and result.score == 1.0 and result.sections == 3
    assert "3 ## headings" in result.detail


def test_wrong_section_count_fails_with_a_score_falling_with_distance() -> None:
    off_by_one = check_outline(GOOD_OUTLINE, expected_sections=4)
    off_by_three = check_outline(GOOD_OUTLINE, expected_sections=6)
    assert not off_by_one.passed and not off_by_three.passed
    assert off_by_one.score == pytest.approx(0.5)
    assert 0 < off_by_three.score < off_by_one.score
    assert "expected 4" in off_by_one.detail


def test_without_an_expected_count_structure_alone_decides() -> None:
    assert check_outline(GOOD_OUTLINE, expected_sections=None).passed


def test_skipped_heading_level_fails() -> None:
    result = check_outline("# Title\n### Too deep\n- point\n", expected_sections=None)
    assert not result.passed and result.score == 0
    assert "# then ###" in result.detail


def test_going_back_up_any_number_of_levels_is_fine() -> None:
    text = "# T\n## A\n### A.1\n#### A.1.a\n## B\n"
    assert check_outline(text, expected_sections=2).passed


def test_empty_heading_fails() -> None:
    result = check_outline("## Intro\n##\n## End\n", expected_sections=3)
    assert not result.passed and "empty heading" in result.detail


def test_bullets_only_outline_counts_top_level_items() -> None:
    text = "- Intro\n  - hook\n- Body\n    - detail\n- Close\n"
    result = check_outline(text, expected_sections=3)
    assert result.passed and result.sections == 3


def test_numbered_list_counts_as_top_level_items() -> None:
    assert check_outline("1. Intro\n2. Body\n   - sub\n", expected_sections=2).passed


def test_a_lone_title_over_a_list_is_a_title() -> None:
    result = check_outline("# Essay\n- Intro\n- Body\n- Close\n", expected_sections=3)
    assert result.passed and result.sections == 3


def test_several_top_level_headings_are_the_sections() -> None:
    result = check_outline("# One\n- a\n# Two\n- b\n", expected_sections=2)
    assert result.passed and result.sections == 2


def test_prose_without_structure_fails() -> None:
    for text in ("Just a paragraph about retries.", "", "#### Deep only\n"):
        result = check_outline(text, expected_sections=None)
        assert not result.passed and result.score == 0 and "no heading" in result.detail


def test_headings_inside_code_fences_do_not_count() -> None:
    text = "## A\n```md\n# not a heading\n### nor this\n```\n## B\n"
    result = check_outline(text, expected_sections=2)
    assert result.passed and result.sections == 2


# critique

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "summary": {"type": "string"},
        "issues": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "severity": {"type": "string", "enum": ["low", "medium", "high"]},
                    "quote": {"type": "string"},
                    "problem": {"type": "string"},
                    "suggestion": {"type": "string"},
                },
                "required": ["severity", "quote", "problem", "suggestion"],
            },
        },
    },
    "required": ["summary", "issues"],
}

DRAFT = """Retries are   safe when the server
stores an idempotency key. We keep keys for “a while” and it's fine."""


def issue(quote: str, severity: str = "medium") -> dict[str, str]:
    return {"severity": severity, "quote": quote, "problem": "vague", "suggestion": "be precise"}


def critique(*quotes: str) -> str:
    return json.dumps({"summary": "ok", "issues": [issue(q) for q in quotes]})


def test_valid_critique_with_grounded_quotes_passes() -> None:
    result = check_critique(critique("stores an idempotency key"), DRAFT, schema=SCHEMA)
    assert result.passed and result.parsed and result.schema_valid
    assert (result.issues, result.quotes_found, result.quote_share, result.score) == (1, 1, 1.0, 1.0)


def test_quotes_match_across_whitespace_runs_and_curly_quotes() -> None:
    raw = critique("Retries are safe when the server stores", 'keep keys for "a while" and it\'s fine')
    result = check_critique(raw, DRAFT, schema=SCHEMA)
    assert result.passed and result.quotes_found == 2


def test_quotes_partly_not_in_the_draft_lower_the_score() -> None:
    raw = critique("stores an idempotency key", "keys never expire", "", "retries are safe")
    result = check_critique(raw, DRAFT, schema=SCHEMA)
    assert not result.passed and result.schema_valid
    assert (result.issues, result.quotes_found) == (4, 1)  # empty and wrong-case quotes miss
    assert result.quote_share == result.score == pytest.approx(0.25)
    assert "1/4 quotes" in result.detail


def test_unparseable_output_fails_cleanly() -> None:
    result = check_critique('```json\n{"summary": "ok"}\n```', DRAFT, schema=SCHEMA)
    assert not result.passed and not result.parsed and not result.schema_valid
    assert result.score == 0 and result.issues == 0 and result.detail.startswith("not JSON")


def test_schema_violations_fail_but_quotes_are_still_counted() -> None:
    raw = json.dumps({"summary": "ok", "issues": [issue("stores an idempotency key", "critical")]})
    result = check_critique(raw, DRAFT, schema=SCHEMA)
    assert result.parsed and not result.schema_valid and not result.passed
    assert result.score == 0 and result.quotes_found == 1
    assert "issues/0/severity" in result.detail


@pytest.mark.parametrize("raw", ['{"issues": []}', "[]", '"just a string"', '{"summary": 1, "issues": {}}'])
def test_wrong_shapes_are_schema_violations(raw: str) -> None:
    result = check_critique(raw, DRAFT, schema=SCHEMA)
    assert result.parsed and not result.schema_valid and not result.passed and result.issues == 0


def test_no_issues_is_for_the_schema_to_judge() -> None:
    empty = json.dumps({"summary": "fine", "issues": []})
    assert check_critique(empty, DRAFT, schema=SCHEMA).passed
    strict = {**SCHEMA, "properties": {**SCHEMA["properties"], "issues": {"type": "array", "minItems": 1}}}
    assert not check_critique(empty, DRAFT, schema=strict).passed


# expand

SECTION = "## Failure modes\n\nA client that retries with the same key but a different body gets a 422.\n"


def test_expansion_within_length_with_its_heading_passes() -> None:
    result = check_expand(SECTION, heading="Failure modes", max_words=50)
    assert result.passed and result.score == 1 and result.heading_kept
    assert result.words == 15  # the heading line is not counted; "422" is a word


def test_heading_match_ignores_case_and_marks() -> None:
    assert check_expand(SECTION, heading="## failure MODES", max_words=50).passed


def test_over_and_under_length_fail_with_proportional_scores() -> None:
    over = check_expand(SECTION, heading="Failure modes", max_words=10)
    under = check_expand(SECTION, heading="Failure modes", min_words=30, max_words=100)
    assert not over.passed and over.score == pytest.approx(10 / 15) and "over 10" in over.detail
    assert not under.passed and under.score == pytest.approx(15 / 30) and "under 30" in under.detail


def test_a_different_first_heading_loses_the_section() -> None:
    result = check_expand("## Introduction\n\nSome words here.\n", heading="Failure modes", max_words=50)
    assert not result.passed and not result.heading_kept and result.score == 0
    assert "'Introduction'" in result.detail


def test_bare_body_and_later_subheadings_keep_the_section() -> None:
    assert check_expand("Just the body, no heading.", heading="Failure modes", max_words=10).passed
    text = SECTION + "\n### Replays\n\nOld keys replay.\n"
    result = check_expand(text, heading="Failure modes", max_words=50)
    assert result.passed and result.words == 15 + 1 + 3  # a subheading's words count


def test_empty_expansion_is_under_length_and_bad_ranges_raise() -> None:
    result = check_expand("## Failure modes\n", heading="Failure modes", max_words=10)
    assert not result.passed and result.words == 0 and result.score == 0
    with pytest.raises(ValueError):
        check_expand(SECTION, heading="x", min_words=20, max_words=10)


# citations


def test_valid_citations_pass() -> None:
    result = check_citations("Keys expire [1]. Retries are common [2, 3][1].", n_sources=3)
    assert result.passed and result.score == 1 and result.citations == 4 and result.invalid == ()


def test_out_of_range_citations_fail_and_are_listed() -> None:
    result = check_citations("See [1], [4] and [0; 2] and again [4].", n_sources=3)
    assert not result.passed
    assert result.citations == 5 and result.score == pytest.approx(2 / 5)
    assert result.invalid == (0, 4) and "[0], [4]" in result.detail


def test_no_citations_fails_when_there_were_sources() -> None:
    result = check_citations("Confident prose with nothing to back it.", n_sources=2)
    assert not result.passed and result.score == 0 and "no citations" in result.detail
    assert check_citations("Nothing to cite.", n_sources=0).passed
    assert not check_citations("Invented [1].", n_sources=0).passed


def test_links_and_code_are_not_citations() -> None:
    text = (
        "Read [the RFC](https://example.com) and [2](https://example.com/2).\n"
        "Index with `items[7]` inline.\n"
        "```python\nx = values[9]\n```\n"
        "Real one [1]."
    )
    result = check_citations(text, n_sources=1)
    assert result.passed and result.citations == 1


# outline in its own words

GIVEN = """The draft, as data:
<draft>
Networks drop responses. A client sends charge 40 euros, the server charges the card, and the response
gets lost on the way back. From the client's side, the request failed, and so it retries.
</draft>"""


def test_bullets_pasted_from_the_prompt_are_counted_as_copied() -> None:
    pasted = "## Why\n- The server charges the card, and the response gets lost on the way back [1]\n- Retries are unavoidable\n"
    result = check_own_words(pasted, GIVEN)
    assert (result.passed, result.score) == (False, 0.5)
    assert result.detail == "1 of 2 bullets copied from the draft or notes"


def test_bullets_in_other_words_or_short_claims_pass() -> None:
    own = "## Why\n- A lost reply looks like a failure, so clients retry\n- The response gets lost\n- Keys make retries safe\n"
    assert check_own_words(own, GIVEN).passed and check_own_words(own, GIVEN).score == 1.0  # a short claim may share words
    assert not check_own_words("# Title only\n", GIVEN).passed
