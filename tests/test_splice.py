"""Where an expansion goes in a draft: the one set of rules for the CLI and the TUI (plain values)."""

from __future__ import annotations

from scribe.splice import Splice, insert_after, replace_body, replace_section, replace_selection
from scribe.tasks import apply_expansion

TEXT = "---\ntitle: T\n---\n# Title\n\nIntro.\n\n## Testing\n\nThin.\n\n## Next\n\nMore.\n"
SECTION = (TEXT.index("## Testing"), TEXT.index("## Next"))


def test_a_splice_is_one_span_replaced() -> None:
    assert Splice(2, 4, "XY").apply("abcdef") == "abXYef"
    assert Splice(3, 3, "-").apply("abcdef") == "abc-def"


def test_the_section_keeps_its_heading_unless_the_output_brings_the_same_one() -> None:
    kept = replace_section(TEXT, *SECTION, "Testing", "Property tests replay the same key twice.").apply(TEXT)
    assert "## Testing\n\nProperty tests replay the same key twice.\n\n## Next\n\nMore.\n" in kept
    assert "Thin." not in kept and kept.startswith("---\ntitle: T\n---\n# Title\n\nIntro.\n\n")
    own = replace_section(TEXT, *SECTION, "Testing", "## testing\n\nWith its own heading.").apply(TEXT)
    assert "\n## testing\n\nWith its own heading.\n\n## Next" in own and "## Testing" not in own


def test_prose_or_another_heading_does_not_replace_the_sections_heading() -> None:
    prose = replace_section(TEXT, *SECTION, "Testing", "Testing is where retries show up.").apply(TEXT)
    assert "## Testing\n\nTesting is where retries show up.\n\n## Next" in prose
    other = replace_section(TEXT, *SECTION, "## Testing", "### Details\n\nMore words.").apply(TEXT)
    assert "## Testing\n\n### Details\n\nMore words.\n\n## Next" in other


def test_the_last_section_ends_the_file_with_one_newline() -> None:
    start = TEXT.index("## Next")
    assert replace_section(TEXT, start, len(TEXT), "Next", "  Much more.\n\n").apply(TEXT).endswith("## Next\n\nMuch more.\n")


def test_the_whole_body() -> None:
    body_start = TEXT.index("# Title")
    assert replace_body(body_start, len(TEXT), "\nAll new.\n\n").apply(TEXT) == "---\ntitle: T\n---\nAll new.\n"


def test_the_cli_applies_the_same_rule() -> None:
    body = TEXT[TEXT.index("# Title") :]
    output = "Testing is where retries show up."
    assert apply_expansion(TEXT, body, "Testing", output) == replace_section(TEXT, *SECTION, "Testing", output).apply(TEXT)


def test_an_insert_stands_as_its_own_paragraphs_between_the_section_and_the_next() -> None:
    end = SECTION[1]
    inserted = insert_after(TEXT, end, "  More on testing.\n").apply(TEXT)
    assert "Thin.\n\nMore on testing.\n\n## Next" in inserted
    at_end = insert_after("One line", 8, "Two.").apply("One line")
    assert at_end == "One line\n\nTwo.\n"
    assert insert_after("", 0, "First.").apply("") == "First.\n"


def test_a_selection_is_replaced_inline() -> None:
    text = "Keep this. Replace me. Keep that."
    start = text.index("Replace")
    assert replace_selection(start, start + len("Replace me."), " New words. ").apply(text) == "Keep this. New words. Keep that."
