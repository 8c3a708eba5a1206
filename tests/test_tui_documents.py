"""The TUI's pure parts: frontmatter offsets, sections at the cursor, the file on disk, markdown cuts."""

from __future__ import annotations

from pathlib import Path

import pytest

from scribe.critique import quote_span
from scribe.tasks import load_draft
from scribe.notes import split_frontmatter
from scribe.tui.documents import DraftFile, EditorText, FileConflict, NotAText, slug
from scribe.tui.state import TuiState
from scribe.tui.widgets.stream import block_cut

TEXT = "---\ntitle: Retries\ntags: [a, b]\n---\n\n\n# Retries\n\nIntro.\n\n## One\n\nFirst of all.\n\n### One.a\n\nDeeper.\n\n## Two\n\nSecond.\n"


def test_body_offset_matches_the_core_parser(tmp_path: Path) -> None:
    path = tmp_path / "d.md"
    path.write_text(TEXT, encoding="utf-8")
    snap = EditorText(TEXT, path)
    assert snap.body == load_draft(path, tmp_path).body  # the same body the CLI's tasks get
    assert snap.title == "Retries" and snap.metadata["tags"] == ["a", "b"]
    span = quote_span(snap.body, "First of all.")
    assert span is not None
    start, end = snap.body_span_to_editor(span)
    assert TEXT[start:end] == "First of all."
    assert snap.location(start) == (12, 0) and snap.offset((12, 0)) == start


@pytest.mark.parametrize("text", ["no frontmatter\n", "---\nnot: [closed\n---\nbody\n", "---\nnever closed\n", "+++\ntitle = 'T'\n+++\nbody\n"])
def test_split_frontmatter_never_raises(text: str) -> None:
    metadata, body = split_frontmatter(text)  # the parser the editor uses
    assert text.endswith(body)
    start = len(text) - len(body)
    assert 0 <= start <= len(text) and isinstance(metadata, dict)


def test_section_at_cursor_holds_subsections_and_none_outside() -> None:
    snap = EditorText(TEXT)
    inside_one = TEXT.index("First of all.")
    scope = snap.section_at(inside_one)
    assert scope is not None and scope.heading == "One"
    assert TEXT[scope.start : scope.end] == "## One\n\nFirst of all.\n\n### One.a\n\nDeeper.\n\n"
    assert snap.section_at(TEXT.index("Deeper.")).heading == "One.a"  # type: ignore[union-attr]
    assert snap.section_at(2) is None  # in the frontmatter
    assert snap.section_at(len(TEXT)).heading == "Two"  # type: ignore[union-attr]


def test_draft_file_detects_outside_changes_and_keeps_both_versions(tmp_path: Path) -> None:
    path = tmp_path / "d.md"
    path.write_text("one\n", encoding="utf-8")
    file = DraftFile.open(path)
    assert file.save("one\n") is False  # nothing to write
    assert file.save("two\n") is True and path.read_text() == "two\n"
    path.write_text("theirs\n", encoding="utf-8")
    with pytest.raises(FileConflict):
        file.save("mine\n")
    assert path.read_text() == "theirs\n"
    file.save("mine\n", force=True)
    assert path.read_text() == "mine\n"
    (bak,) = tmp_path.glob("d.md.*.bak")
    assert bak.read_text() == "theirs\n"


def test_draft_file_touch_is_not_a_change_and_bom_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "d.md"
    path.write_bytes("\ufeffhello\n".encode())
    file = DraftFile.open(path)
    assert file.saved_text == "hello\n"
    path.write_bytes("\ufeffhello\n".encode())  # same bytes, new mtime
    assert file.disk_changed() is False
    file.save("hello again\n")
    assert path.read_bytes() == "\ufeffhello again\n".encode()


def test_binary_and_non_utf8_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "b.md").write_bytes(b"\x00\x01")
    (tmp_path / "l.md").write_bytes("caf\xe9".encode("latin-1"))
    for name in ("b.md", "l.md"):
        with pytest.raises(NotAText):
            DraftFile.open(tmp_path / name)


def test_block_cut_splits_before_the_last_block_never_inside_a_fence() -> None:
    text = "## A\n\n- one\n- two\n\n## B\n\ntext"
    assert text[block_cut(text) :] == "text"  # type: ignore[misc]  # the last block may still grow
    fenced = "intro\n\n```\ncode\n\nmore code\n```\n"
    assert block_cut(fenced) == fenced.index("```")
    assert block_cut("one paragraph only") is None
    assert block_cut("- item\n\n  continued\n") is None  # an indented continuation stays with its list


def test_tui_state_survives_a_bad_file(tmp_path: Path) -> None:
    (tmp_path / "tui.json").write_text("{not json")
    assert TuiState.load(tmp_path) == TuiState()
    state = TuiState(model="m", task_options={"num_predict": 8})
    state.save(tmp_path)
    assert TuiState.load(tmp_path) == state
    assert slug("Why retries need keys!") == "why-retries-need-keys"
