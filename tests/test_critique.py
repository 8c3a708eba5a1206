"""Critique JSON: parsed, quotes checked against the draft, rendered for reading."""

from __future__ import annotations

import json

from scribe.critique import parse_critique, quote_span, render_markdown, unparsed

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


def test_invalid_json_is_none_and_unparsed_keeps_raw() -> None:
    assert parse_critique("{not json", DRAFT) is None
    assert parse_critique("[1, 2]", DRAFT) is None
    kept = unparsed("{broken")
    assert not kept.parsed and "{broken" in render_markdown(kept)
