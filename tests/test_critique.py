"""Critique JSON: parsed, quotes checked against the draft, rendered for reading."""

from __future__ import annotations

import json
from dataclasses import asdict

from scribe.critique import (
    LENGTH,
    LOOPING,
    Issue,
    as_logged,
    looping,
    normalise,
    parse_critique,
    quotable,
    quote_schema,
    quote_span,
    read_critique,
    reading_order,
    render_markdown,
    salvage,
    unparsed,
)
from scribe.edits import from_critique
from scribe.prompts import get_template

DRAFT = "Retries are safe.\nRoughly 40% of payment incidents come from \u201cretry storms\u201d.\n"


def test_quotes_are_found_despite_whitespace_and_curly_quotes() -> None:
    assert quote_span(DRAFT, "Retries are safe.") == (0, 17)
    span = quote_span(DRAFT, 'Roughly 40%  of payment\nincidents come from "retry storms"')
    assert span is not None and DRAFT[span[0] : span[1]].startswith("Roughly 40%")
    assert quote_span(DRAFT, "not in the draft") is None
    assert quote_span(DRAFT, "   ") is None
    assert quote_span(DRAFT, "safe") is None  # too short to point at anything


def test_parse_flags_ungrounded_quotes() -> None:
    raw = json.dumps({"summary": "Two problems.", "issues": [
        {"severity": "HIGH", "quote": "Roughly 40% of payment incidents", "problem": "unsupported", "suggestion": "cite"},
        {"severity": "weird", "quote": "made up words", "problem": "p", "suggestion": "s"},
    ]})
    critique = parse_critique(raw, DRAFT)
    assert critique is not None and critique.parsed
    assert [(i.severity, i.grounded) for i in critique.issues] == [("high", True), ("medium", False)]
    assert critique.ungrounded == 1
    text = render_markdown(critique)
    assert "ungrounded" in text and text.index("**high**") < text.index("**medium**")


def test_an_issue_repeating_an_earlier_quote_is_dropped() -> None:
    issue = {"severity": "high", "quote": "Retries are safe.", "problem": "vague", "suggestion": "say when"}
    again = {**issue, "quote": " Retries  are safe. ", "problem": "still vague"}
    other = {**issue, "quote": "Roughly 40% of payment incidents", "problem": "no source"}
    critique = parse_critique(json.dumps({"summary": "s", "issues": [issue, again, other]}), DRAFT)
    assert critique is not None and [i.quote for i in critique.issues] == ["Retries are safe.", "Roughly 40% of payment incidents"]


def test_issues_follow_the_draft_top_to_bottom_and_the_markdown_numbers_them_so() -> None:
    draft = "First sentence here.\nSecond sentence here.\nThird sentence here.\n"
    raw = json.dumps({"summary": "s", "issues": [
        {"severity": "low", "quote": "Third sentence here.", "problem": "p3", "suggestion": "s"},
        {"severity": "medium", "quote": "not in the draft at all", "problem": "p?", "suggestion": "s"},
        {"severity": "high", "quote": "Second sentence here.", "problem": "p2", "suggestion": "s"},
        {"severity": "high", "quote": "nor is this in the draft", "problem": "p!", "suggestion": "s"},
        {"severity": "medium", "quote": "First  sentence\nhere.", "problem": "p1", "suggestion": "s"},
    ]})
    critique = parse_critique(raw, draft)
    assert critique is not None
    assert [i.problem for i in critique.issues] == ["p1", "p2", "p3", "p!", "p?"]  # the ungrounded last, most severe first
    numbered = [line for line in render_markdown(critique).splitlines() if line[:1].isdigit()]
    assert [line.split(".", 1)[0] for line in numbered] == ["1", "2", "3", "4", "5"]
    assert [normalise(i.quote) in line for i, line in zip(critique.issues, numbered, strict=True)] == [True] * 5
    assert critique.to_dict()["issues"] == [asdict(i) for i in critique.issues]  # --json lists them the same way


def test_two_issues_at_one_place_the_more_severe_first() -> None:
    low, high = Issue("low", "Retries are safe.", "", ""), Issue("high", "Retries are safe", "", "")
    assert reading_order([low, high], DRAFT) == [high, low]
    assert reading_order([], DRAFT) == []


def test_invalid_json_is_none_and_unparsed_keeps_raw() -> None:
    assert parse_critique("{not json", DRAFT) is None
    assert parse_critique("[1, 2]", DRAFT) is None
    kept = unparsed("{broken")
    assert not kept.parsed and "{broken" in render_markdown(kept)


DRAFT_MD = """Intro sentence here. Second one, e.g. with a clause!

## A heading that is not prose

- A list item without a full stop
- Another item
  that wraps onto a line
> A quoted line.

| a table | row |
|---|---|

```python
code = "not prose."
```

He said "retry it" and left. Short.
"""


def test_quotable_sentences_are_the_drafts_prose_each_once() -> None:
    assert quotable(DRAFT_MD + "\nIntro sentence here.\n") == [
        "Intro sentence here.", "Second one, e.g. with a clause!", "A list item without a full stop",
        "Another item that wraps onto a line", "A quoted line.",
    ]  # no heading, table, code, short sentence, repeat, or sentence with a straight double quote
    assert all(quote_span(DRAFT_MD, s) is not None for s in quotable(DRAFT_MD))


def test_the_schema_holds_each_quote_to_the_drafts_sentences() -> None:
    base = get_template("critique", None).format
    assert isinstance(base, dict)
    schema = quote_schema(base, DRAFT_MD)
    assert schema["properties"]["issues"]["items"]["properties"]["quote"]["enum"] == quotable(DRAFT_MD)
    assert "enum" not in base["properties"]["issues"]["items"]["properties"]["quote"]
    assert quote_schema(base, "## Only a heading\n") == base
    other = {"type": "object", "properties": {"notes": {"type": "string"}}}
    assert quote_schema(other, DRAFT_MD) == other


def test_a_replacement_is_read_and_shown_only_when_given() -> None:
    raw = json.dumps({"summary": "s", "issues": [
        {"severity": "high", "quote": "Retries are safe.", "problem": "too broad", "suggestion": "say when",
         "replacement": "Retries are safe\nwith an idempotency key."},
        {"severity": "low", "quote": "Roughly 40% of payment incidents", "problem": "no source", "suggestion": "cite", "replacement": ""},
    ]})
    critique = parse_critique(raw, DRAFT)
    assert critique is not None
    assert [i.replacement for i in critique.issues] == ["Retries are safe\nwith an idempotency key.", ""]
    text = render_markdown(critique)
    assert text.count("   - rewrite: ") == 1 and "   - rewrite: Retries are safe with an idempotency key.\n" in text
    old = parse_critique(json.dumps({"summary": "s", "issues": [{"severity": "low", "quote": "Retries are safe.", "problem": "p", "suggestion": "s"}]}), DRAFT)
    assert old is not None and old.issues[0].replacement == ""  # a critique logged before the field


def test_a_replacement_that_repeats_its_suggestion_is_advice_and_becomes_no_change() -> None:
    advice = "[2] We should include a section on testing idempotency, with the tools used."
    raw = json.dumps({"summary": "s", "issues": [
        {"severity": "high", "quote": "Retries are safe.", "problem": "vague", "suggestion": advice, "replacement": advice},
        {"severity": "low", "quote": "Roughly 40% of payment incidents", "problem": "no source", "suggestion": "cite [1]",
         "replacement": "About 40% of payment incidents"},
        {"severity": "low", "quote": "come from retry storms", "problem": "thin", "suggestion": "[2] We should say what a storm is.",
         "replacement": "We should say what a storm is."},  # seen in make demo: the advice again, its citation dropped
    ]})
    critique = parse_critique(raw, DRAFT)
    assert critique is not None
    assert [i.replacement for i in critique.issues] == ["", "About 40% of payment incidents", ""]
    assert critique.issues[0].suggestion == advice  # the advice is still shown, as advice
    assert [hunk.new for hunk in from_critique(critique, DRAFT)] == ["About 40% of payment incidents"]


def test_a_critique_logged_before_replacements_existed_still_checks_as_valid() -> None:
    from scribe.bench.checks import check_critique

    draft = "Retries without keys charge the card twice."
    older = json.dumps({"summary": "s", "issues": [
        {"severity": "high", "quote": "Retries without keys charge the card twice.", "problem": "p", "suggestion": "s"}]})
    schema = get_template("critique", None).format
    assert not check_critique(older, draft, schema=schema).schema_valid  # today's template asks for a replacement
    assert check_critique(older, draft, schema=as_logged(schema)).schema_valid
    assert "replacement" in schema["properties"]["issues"]["items"]["required"]  # the template itself is untouched


# --- a reply that ended before its JSON did -----------------------------------------------------------

SAFE, STORMS = "Retries are safe.", "Roughly 40% of payment incidents come from \u201cretry storms\u201d."


def issue_json(quote: str, problem: str = "", suggestion: str = "") -> str:
    """An issue whose problem and suggestion, unless given, are its own."""
    return json.dumps({"severity": "medium", "quote": quote, "problem": problem or f"vague: {quote}",
                       "suggestion": suggestion or f"say when: {quote}", "replacement": f"{quote[:-1]}, when the key is stored."})


def test_looping_stops_on_a_quote_repeated_by_the_next_issue_once_it_is_whole() -> None:
    start = '{"summary": "s", "issues": [' + issue_json(SAFE) + ", "
    assert looping(start + issue_json(STORMS)) is None  # two sentences, no loop
    repeat = start + issue_json(STORMS) + ', {"severity": "low", "quote": "Roughly 40% of'
    assert looping(repeat) is None  # the quote is still streaming
    assert looping(repeat + ' payment incidents come from \\u201cretry storms\\u201d."') == LOOPING
    assert looping(start + issue_json(STORMS) + ", " + issue_json(SAFE)) is None  # back to an earlier one: not a loop
    same_words = start + issue_json(STORMS, "vague: " + SAFE, "say when: " + SAFE)
    assert looping(same_words[: same_words.index('"suggestion"')]) is None  # the same problem, but its own suggestion may follow
    assert looping(same_words) == LOOPING  # one problem and one suggestion, said of two sentences


def test_an_issue_giving_an_earlier_ones_problem_and_suggestion_again_is_dropped() -> None:
    raw = '{"summary": "s", "issues": [' + ", ".join([
        issue_json(SAFE, "no source", "cite one"),
        issue_json(STORMS, "no source", "cite one"),  # the same words of another sentence
        issue_json(STORMS, "no source", "cite [2]"),
    ]) + "]}"
    critique = parse_critique(raw, DRAFT)
    assert critique is not None
    assert [(i.quote, i.suggestion) for i in critique.issues] == [(SAFE, "cite one"), (STORMS, "cite [2]")]


def test_salvage_closes_the_reply_after_its_last_whole_issue() -> None:
    tricky = 'a "quoted" {brace} and [bracket] \\ end'  # JSON escapes and brackets inside strings
    reply = '{"summary": "s", "issues": [' + issue_json(SAFE, tricky) + ", " + issue_json(STORMS)[:40]
    closed = salvage(reply)
    assert closed is not None
    data = json.loads(closed)
    assert [i["quote"] for i in data["issues"]] == [SAFE] and data["issues"][0]["problem"] == tricky
    assert salvage('{"summary": "s", "issues": [{"severity": "lo') is None  # no issue finished


def test_a_critique_that_ended_early_keeps_its_whole_issues_and_says_why() -> None:
    reply = '{"summary": "Vague.", "issues": [' + issue_json(STORMS) + ", " + issue_json(SAFE)[:50]
    for reason, words in ((LOOPING, "began repeating"), (LENGTH, "raise num_predict")):
        critique = read_critique(reply, DRAFT, reason)
        assert critique.parsed and critique.stopped == reason and critique.raw == reply
        assert [(i.quote, i.grounded) for i in critique.issues] == [(STORMS, True)]
        assert words in render_markdown(critique)
    assert not read_critique(reply, DRAFT, "stop").parsed  # a reply that claims to be whole is not patched up
    cut = read_critique('{"summary": "Vague.", "iss', DRAFT, LENGTH)
    assert not cut.parsed and cut.cut_off and "raise num_predict" in render_markdown(cut)
