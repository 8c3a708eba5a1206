"""The one reading of headings and fenced code that the chunker, the bench's checks and tags share."""

from __future__ import annotations

from scribe.markdown_lines import closes_fence, heading, normalise_heading, prose_lines


def test_a_fence_closes_only_on_a_run_of_its_own_character_at_least_as_long() -> None:
    assert closes_fence("````", "```") and closes_fence("   ```  ", "```")
    assert not closes_fence("``", "```")  # shorter
    assert not closes_fence("~~~", "```")  # another character
    assert not closes_fence("``` python", "```")  # an info string opens, it does not close
    assert not closes_fence("    ```", "```")  # indented four: code, not a fence line


def test_prose_lines_skip_fenced_code_and_keep_line_numbers() -> None:
    text = "# Title\n```\n# not a heading\n```\nafter\n~~~~\n```\nstill code\n~~~~\nend"
    assert list(prose_lines(text)) == [(0, "# Title"), (4, "after"), (9, "end")]


def test_headings_are_atx_with_a_space_and_compare_without_marks_or_case() -> None:
    assert heading("## Retries and DLQs ##") == (2, "Retries and DLQs")
    assert heading("#hashtag") is None and heading("####### seven") is None
    assert normalise_heading("##  Retries   and DLQs") == normalise_heading("retries and dlqs")
