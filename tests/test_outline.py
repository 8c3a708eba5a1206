"""Outline JSON: a schema made for the number of sections asked for, parsed, and written as markdown."""

from __future__ import annotations

import json
import re

from scribe.bench.checks import check_citations, check_outline
from scribe.outline import as_markdown, bullet_pattern, outline_schema, parse_outline, render_markdown, unparsed
from scribe.prompts import get_template

REPLY = json.dumps({"title": "Retries", "sections": [
    {"heading": "Why retries\nhurt", "bullets": ["A retry doubles the charge [2]", "  ", "Keys make it safe"]},
    {"heading": "What to log", "bullets": ["Every attempt, with its key [1]", "The reason for the next one"]},
]})


def test_the_schema_asks_for_exactly_the_sections_wanted_and_leaves_the_template_alone() -> None:
    base = get_template("outline", None).format
    assert isinstance(base, dict)
    schema = outline_schema(base, 3)
    assert schema["properties"]["sections"]["minItems"] == schema["properties"]["sections"]["maxItems"] == 3
    assert base["properties"]["sections"]["maxItems"] == 20  # the template's own schema is not changed
    other = {"type": "object", "properties": {"points": {"type": "array"}}}
    assert outline_schema(other, 3) == other


def test_bullets_cite_only_the_sources_given_and_at_most_twice() -> None:
    """The 1.5B writer once ended a bullet with "[3] [4] [5] ... [190]" until num_predict cut it off."""
    schema = outline_schema(get_template("outline", None).format, 3, sources=3)  # type: ignore[arg-type]
    bullet = schema["properties"]["sections"]["items"]["properties"]["bullets"]["items"]
    assert bullet["pattern"] == bullet_pattern(3)
    allowed = re.compile(bullet_pattern(3))
    assert all(allowed.match(b) for b in ["Keys make a retry safe", "Store the response [2]", "Lease the claim [1] [3]"])
    assert not any(allowed.match(b) for b in ["Lease it [3] [4]", "a [1] [2] [3]", "[1] first", 'say "hi"', "two\nlines"])
    assert not re.match(bullet_pattern(0), "Store the response [1]")  # no sources, no citations


def test_a_reply_is_written_as_a_markdown_outline_with_its_citations() -> None:
    outline = parse_outline(REPLY)
    assert outline is not None and outline.parsed
    text = render_markdown(outline)
    assert text.splitlines()[:4] == ["# Retries", "", "## Why retries hurt", "- A retry doubles the charge [2]"]
    assert "-   " not in text  # a blank bullet is dropped
    assert check_outline(text, expected_sections=2).passed
    assert check_citations(text, n_sources=2).passed


def test_what_is_not_outline_json_is_none_and_unparsed_keeps_raw() -> None:
    assert parse_outline("{broken") is None
    assert parse_outline('{"title": "T"}') is None
    kept = unparsed('{"title": "T", "sec')
    assert not kept.parsed and render_markdown(kept).endswith('{"title": "T", "sec')


def test_a_logged_reply_reads_as_markdown_and_an_old_markdown_outline_as_itself() -> None:
    assert as_markdown(REPLY) == render_markdown(parse_outline(REPLY))  # type: ignore[arg-type]
    old = "# Retries\n\n## One\n- a [1]\n"
    assert as_markdown(old) == old
