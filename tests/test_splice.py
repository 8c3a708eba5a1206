"""Where an expansion goes in a draft: the one set of rules for the CLI and the TUI (plain values)."""

from __future__ import annotations

import os
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from scribe.splice import (
    CUT_MARKER,
    Splice,
    insert_after,
    replace_body,
    replace_section,
    replace_selection,
    trim_cut_off,
)
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


# --- an expansion cut off by the token limit -------------------------------------------------------

CUT = "Retries are how a system recovers from not knowing. The server looks the key up in `idempotency_ke"


def test_text_that_was_not_cut_off_is_returned_as_it_is() -> None:
    assert trim_cut_off(CUT, cut_off=False) == CUT
    assert trim_cut_off("```python\nbroken = [", cut_off=False) == "```python\nbroken = ["


def test_a_cut_sentence_goes_and_so_does_an_open_backtick() -> None:
    assert trim_cut_off(CUT, cut_off=True) == "Retries are how a system recovers from not knowing."
    assert trim_cut_off("One. Two **bold", cut_off=True) == "One."
    assert trim_cut_off("One. See [the notes](notes/a.md", cut_off=True) == "One."
    assert trim_cut_off("One. Two (and an aside. Three", cut_off=True) == "One."
    assert trim_cut_off("He said “stop.” Then", cut_off=True) == "He said “stop.”"
    assert trim_cut_off("It **works.** And", cut_off=True) == "It **works.**"


def test_a_cut_at_the_end_of_a_sentence_keeps_it_all() -> None:
    assert trim_cut_off("One. Two `code` three!", cut_off=True) == "One. Two `code` three!"


def test_an_abbreviation_or_a_decimal_is_not_a_sentence_end() -> None:
    assert trim_cut_off("Use v3.5 now. It retries, e.g. on timeo", cut_off=True) == "Use v3.5 now."


def test_an_open_code_fence_goes_a_closed_one_stays() -> None:
    closed = "Intro.\n\n```python\nkey = uuid4()\n```\n"
    assert trim_cut_off(closed + "\n```python\nstore(key", cut_off=True) == closed + "\n"
    assert trim_cut_off("Intro.\n\n~~~\nno close\n```\nstill code", cut_off=True) == "Intro.\n\n"


def test_a_dangling_list_item_or_heading_goes() -> None:
    text = "The rules:\n\n- The client creates the key\n- The key is scoped\n- The server sto"
    assert trim_cut_off(text, cut_off=True) == "The rules:\n\n- The client creates the key\n- The key is scoped\n"
    assert trim_cut_off("Done here.\n\n## Testing\n\nWe should te", cut_off=True) == "Done here.\n\n"
    assert trim_cut_off("Done here.\n\n## Testing", cut_off=True) == "Done here.\n\n"
    assert trim_cut_off("| a | b |\n|---|---|\n| 1 | 2", cut_off=True) == "| a | b |\n|---|---|\n"


def test_a_paragraph_a_blank_line_closed_is_complete_without_a_full_stop() -> None:
    assert trim_cut_off("Three ways out:\n\nThe fir", cut_off=True) == "Three ways out:\n\n"


def test_with_nothing_complete_the_text_is_kept_closed_and_marked() -> None:
    assert trim_cut_off("Retries are how a system recov", cut_off=True) == f"Retries are how a system recov\n\n{CUT_MARKER}"
    assert trim_cut_off("```python\nkey = uuid4(", cut_off=True) == f"```python\nkey = uuid4(\n```\n\n{CUT_MARKER}"
    assert trim_cut_off("   ```sql\n   select", cut_off=True) == f"   ```sql\n   select\n   ```\n\n{CUT_MARKER}"
    assert trim_cut_off("Use `retry_aft", cut_off=True) == f"Use `retry_aft`\n\n{CUT_MARKER}"
    assert trim_cut_off("A **bold [link", cut_off=True) == f"A **bold [link]**\n\n{CUT_MARKER}"
    assert trim_cut_off("", cut_off=True) == CUT_MARKER


def test_the_cli_and_the_tui_trim_a_cut_expansion_the_same_way() -> None:
    body = TEXT[TEXT.index("# Title") :]
    cut = "Testing is where retries show up. Replay the same `Idempotency-K"
    assert apply_expansion(TEXT, body, "Testing", cut, done_reason="length") == apply_expansion(
        TEXT, body, "Testing", "Testing is where retries show up.")
    assert apply_expansion(TEXT, body, "Testing", cut) == replace_section(TEXT, *SECTION, "Testing", cut).apply(TEXT)


# Properties: a draft-shaped answer (paragraphs with inline markup, lists, headings, code fences)
# cut anywhere, and any text at all.

WORDS = st.sampled_from(["retries", "the", "key", "server", "idempotent", "payment", "ledger", "a"])
INLINE = st.one_of(
    WORDS, WORDS.map(lambda w: f"`{w}_id`"), WORDS.map(lambda w: f"**{w} twice**"), WORDS.map(lambda w: f"*{w}*"),
    WORDS.map(lambda w: f"[{w} notes](notes/{w}.md)"), WORDS.map(lambda w: f"({w} aside)"),
)
SENTENCE = st.builds(lambda first, rest, stop: " ".join([first, *rest]) + stop,
                     WORDS, st.lists(INLINE, max_size=6), st.sampled_from([".", "!", "?"]))
PARAGRAPH = st.lists(SENTENCE, min_size=1, max_size=3).map(" ".join)
ITEMS = st.lists(st.one_of(SENTENCE, st.lists(WORDS, min_size=1, max_size=4).map(" ".join)), min_size=1, max_size=4)
BLOCK = st.one_of(
    PARAGRAPH,
    ITEMS.map(lambda items: "\n".join(f"- {item}" for item in items)),
    st.lists(WORDS, min_size=1, max_size=3).map(lambda words: "## " + " ".join(words)),
    st.lists(WORDS, max_size=3).map(lambda lines: "```python\n" + "".join(f"{line} = 1\n" for line in lines) + "```"),
)


@st.composite
def cut_answers(draw: st.DrawFn) -> str:
    answer = "\n\n".join(draw(st.lists(BLOCK, min_size=1, max_size=5)))
    return answer[: draw(st.integers(min_value=0, max_value=len(answer)))]


def is_prefix_or_marked(text: str, trimmed: str) -> bool:
    """`trimmed` is a prefix of `text`, or one with only closing markup added and then the marker."""
    if not trimmed.endswith(CUT_MARKER):
        return text.startswith(trimmed)
    body = trimmed.removesuffix(CUT_MARKER).rstrip("\n")
    common = len(os.path.commonprefix([body, text]))
    closed, dropped = body[common:], text[common:]  # only closers added; only spaces and bare openers left out
    return bool(re.fullmatch(r"[\s`*_~\])]*", closed) and re.fullmatch(r"[\s`*_~\[(]*", dropped))


@settings(deadline=None, max_examples=300)
@given(cut_answers())
def test_a_cut_answer_ends_complete_and_closed(text: str) -> None:
    trimmed = trim_cut_off(text, cut_off=True)
    assert trim_cut_off(trimmed, cut_off=True) == trimmed
    assert is_prefix_or_marked(text, trimmed)
    tokens = MarkdownIt("commonmark").parse(trimmed)
    lines = trimmed.splitlines()
    for fence in (t for t in tokens if t.type == "fence"):  # every fence closed
        closing = lines[fence.map[1] - 1].strip() if fence.map and fence.map[1] - 1 > fence.map[0] else ""
        assert closing.startswith(fence.markup) and set(closing) == {fence.markup[0]}, trimmed
    last = [t for t in tokens if t.type == "inline"][-1:]
    if last:  # the last paragraph, item or heading: no code span, emphasis or bracket left open
        text_runs = "".join(c.content for c in last[0].children or [] if c.type == "text")
        assert "`" not in text_runs and "*" not in text_runs, trimmed
        assert last[0].content.count("[") == last[0].content.count("]"), trimmed
        assert last[0].content.count("(") == last[0].content.count(")"), trimmed
    if not trimmed.endswith(CUT_MARKER) and trimmed.strip():
        end = trimmed.rstrip()
        last_line = end.splitlines()[-1]
        assert not last_line.startswith("#"), trimmed  # no heading dangling
        if last_line.startswith("- "):  # a whole item of the answer
            assert trimmed.endswith("\n") and last_line in text.splitlines()
        elif not last_line.startswith("```"):  # prose ends with a sentence
            assert end[-1] in ".!?", trimmed


@settings(deadline=None, max_examples=300)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200), st.booleans())
def test_any_text_is_trimmed_to_a_prefix_once_and_for_all(text: str, cut_off: bool) -> None:
    trimmed = trim_cut_off(text, cut_off)
    if not cut_off:
        assert trimmed == text
        return
    assert trim_cut_off(trimmed, cut_off=True) == trimmed
    assert is_prefix_or_marked(text, trimmed)
