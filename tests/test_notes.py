"""Tests for scribe.notes: discovering note files and parsing them into Note records."""

from __future__ import annotations

import hashlib
import os
import time
import tracemalloc
from pathlib import Path

import pytest

from scribe.notes import Note, Skip, discover_notes, parse_note


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def parse(path: Path, root: Path) -> Note:
    note = parse_note(path, root=root)
    assert note is not None
    return note


def found(root: Path, *paths: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in discover_notes(list(paths) or [root], root=root)]


# --- parsing -----------------------------------------------------------------------------------


def test_yaml_frontmatter(tmp_path: Path) -> None:
    raw = (
        "---\n"
        "title: Soil notes\n"
        "tags: [garden, soil]\n"
        "date: 2024-03-05\n"
        "status: draft\n"
        "rating: 4\n"
        "score: 0.5\n"
        "public: false\n"
        "empty:\n"
        "nested: {a: 1}\n"
        "years: [2023, 2024]\n"
        "mixed: [a, {b: 1}]\n"
        "---\n"
        "\n"
        "# Heading\n"
        "Body text.\n"
    )
    path = write(tmp_path / "sub" / "soil.md", raw)
    note = parse(path, tmp_path)
    assert note.path == path.absolute()
    assert note.rel_path == "sub/soil.md"
    assert note.title == "Soil notes"
    assert note.body == "# Heading\nBody text.\n"
    assert note.tags == ["garden", "soil"]
    assert note.date == "2024-03-05"
    assert note.status == "draft"
    assert note.metadata == {
        "title": "Soil notes",
        "tags": ["garden", "soil"],
        "date": "2024-03-05",
        "status": "draft",
        "rating": 4,
        "score": 0.5,
        "public": False,
        "years": ["2023", "2024"],
    }
    assert note.size == len(raw.encode())
    assert note.content_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert note.mtime_ns == path.stat().st_mtime_ns
    assert note.warnings == []


def test_toml_frontmatter(tmp_path: Path) -> None:
    path = write(
        tmp_path / "t.md",
        '+++\ntitle = "Toml note"\ntags = ["a", "b"]\ndate = 2024-01-02T03:04:05Z\n+++\nBody.\n',
    )
    note = parse(path, tmp_path)
    assert note.title == "Toml note"
    assert note.tags == ["a", "b"]
    assert note.date is not None and note.date.startswith("2024-01-02T03:04:05")
    assert note.body == "Body.\n"


def test_json_frontmatter(tmp_path: Path) -> None:
    path = write(tmp_path / "j.md", '{\n  "title": "Json note",\n  "tags": "x, y ,,x"\n}\nBody.\n')
    note = parse(path, tmp_path)
    assert note.title == "Json note"
    assert note.tags == ["x", "y"]
    assert note.body == "Body.\n"


def test_title_falls_back_to_first_heading_then_stem(tmp_path: Path) -> None:
    with_heading = write(tmp_path / "a.md", "Intro\n\n```\n# code\n```\n\n## First real\n")
    assert parse(with_heading, tmp_path).title == "First real"
    plain = write(tmp_path / "my-note.md", "No headings here.\n")
    assert parse(plain, tmp_path).title == "my-note"


def test_malformed_yaml_warns_with_file_and_line_and_keeps_body(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.md", "---\ntitle: ok\nbroken: a: b\n---\n\n# Kept\nStill here.\n")
    note = parse(path, tmp_path)
    assert len(note.warnings) == 1
    assert note.warnings[0].startswith("bad.md:3:")
    assert "YAML" in note.warnings[0]
    assert note.body == "# Kept\nStill here.\n"
    assert note.title == "Kept"
    assert note.metadata == {}


def test_malformed_toml_warns_with_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.md", '+++\ntitle = "T"\nx = \n+++\nBody.\n')
    note = parse(path, tmp_path)
    assert note.warnings[0].startswith("bad.md:3:")
    assert note.body == "Body.\n"


def test_unclosed_frontmatter_keeps_the_whole_text(tmp_path: Path) -> None:
    path = write(tmp_path / "open.md", "---\ntitle: never closed\n\nText.\n")
    note = parse(path, tmp_path)
    assert note.warnings and note.warnings[0].startswith("open.md:1:")
    assert note.body == "---\ntitle: never closed\n\nText.\n"


def test_frontmatter_that_is_not_a_mapping_keeps_the_whole_text(tmp_path: Path) -> None:
    text = "---\nJust a thematic break.\n---\nMore.\n"
    note = parse(write(tmp_path / "hr.md", text), tmp_path)
    assert note.body == text
    assert note.warnings


def test_yaml_alias_bomb_is_refused_fast(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 9)}]")
    path = write(tmp_path / "bomb.md", "---\n" + "\n".join(lines) + "\n---\nBody survives.\n")
    tracemalloc.start()
    began = time.perf_counter()
    note = parse(path, tmp_path)
    elapsed = time.perf_counter() - began
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 2.0
    assert peak < 50 * 1024 * 1024
    assert note.body == "Body survives.\n"
    assert note.metadata == {}
    assert len(note.warnings) == 1 and "alias" in note.warnings[0]
    assert note.warnings[0].startswith("bomb.md:")


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    path = write(tmp_path / "alias.md", "---\nbase: &b [x, y]\ntags: *b\n---\nBody.\n")
    note = parse(path, tmp_path)
    assert note.tags == ["x", "y"]
    assert note.warnings == []


def test_bom_does_not_hide_frontmatter(tmp_path: Path) -> None:
    path = write(tmp_path / "bom.md", b"\xef\xbb\xbf---\ntitle: With BOM\n---\nBody.\n")
    note = parse(path, tmp_path)
    assert note.title == "With BOM"
    assert note.body == "Body.\n"


def test_crlf_is_normalised(tmp_path: Path) -> None:
    path = write(tmp_path / "crlf.md", b"---\r\ntitle: Windows\r\n---\r\nLine one.\r\nLine two.\r\n")
    note = parse(path, tmp_path)
    assert note.title == "Windows"
    assert note.body == "Line one.\nLine two.\n"


def test_non_utf8_is_decoded_with_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path / "latin.md", "Caf\xe9 au lait.\n".encode("latin-1"))
    note = parse(path, tmp_path)
    assert note.body == "Caf\ufffd au lait.\n"
    assert note.warnings == ["latin.md: not valid UTF-8; decoded with replacement characters"]


def test_empty_whitespace_and_binary_files_give_none(tmp_path: Path) -> None:
    assert parse_note(write(tmp_path / "empty.md", ""), root=tmp_path) is None
    assert parse_note(write(tmp_path / "blank.md", " \n\t\n"), root=tmp_path) is None
    assert parse_note(write(tmp_path / "bom-only.md", b"\xef\xbb\xbf\n"), root=tmp_path) is None
    assert parse_note(write(tmp_path / "bin.md", b"abc\x00def"), root=tmp_path) is None


def test_txt_files_only_take_fenced_frontmatter(tmp_path: Path) -> None:
    brace = write(tmp_path / "data.txt", '{\n"title": "not frontmatter"\n}\nText.\n')
    note = parse(brace, tmp_path)
    assert note.metadata == {} and note.body.startswith("{")
    fenced = write(tmp_path / "fenced.txt", "---\ntitle: Plain\n---\nText.\n")
    assert parse(fenced, tmp_path).title == "Plain"


def test_five_megabyte_file_parses(tmp_path: Path) -> None:
    paragraph = "This is a line of a very long note about many things. " * 10 + "\n\n"
    body = "# Big\n\n" + paragraph * (5 * 1024 * 1024 // len(paragraph))
    path = write(tmp_path / "big.md", "---\ntitle: Big one\n---\n" + body)
    note = parse(path, tmp_path)
    assert note.size > 5_000_000
    assert note.title == "Big one"
    assert note.body == body


def test_parsing_never_writes_input_files(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "---\ntitle: A\n---\nA.\n")
    write(tmp_path / "b.md", "---\nbad: [\n---\nB.\n")
    write(tmp_path / "c.txt", b"\xff\xfe bad bytes\n")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob("*")}
    for path in discover_notes([tmp_path], root=tmp_path):
        parse_note(path, root=tmp_path)
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob("*")}
    assert before == after


# --- discovery ---------------------------------------------------------------------------------


def test_discovers_note_suffixes_in_sorted_order(tmp_path: Path) -> None:
    for name in ["b.md", "a.markdown", "c.txt", "d.rst", "e.MD", "z/y.md", "z/x.txt", "img.png"]:
        write(tmp_path / name, "text\n")
    assert found(tmp_path) == ["a.markdown", "b.md", "c.txt", "e.MD", "z/x.txt", "z/y.md"]
    assert all(p.is_absolute() for p in discover_notes([tmp_path], root=tmp_path))


def test_skips_binary_and_hidden(tmp_path: Path) -> None:
    write(tmp_path / "ok.md", "text\n")
    write(tmp_path / "binary.md", b"\x89PNG\r\n\x1a\n\x00\x00")
    write(tmp_path / ".hidden.md", "secret\n")
    write(tmp_path / ".obsidian" / "workspace.md", "config\n")
    write(tmp_path / "sub" / ".draft.md", "secret\n")
    assert found(tmp_path) == ["ok.md"]


def test_an_explicit_file_is_taken_even_if_hidden_or_ignored(tmp_path: Path) -> None:
    hidden = write(tmp_path / ".hidden.md", "asked for\n")
    write(tmp_path / ".gitignore", "ignored.md\n")
    ignored = write(tmp_path / "ignored.md", "asked for\n")
    binary = write(tmp_path / "bin.md", b"\x00")
    other = write(tmp_path / "notes.rst", "not a note suffix\n")
    assert found(tmp_path, hidden, ignored, binary, other) == [".hidden.md", "ignored.md"]


def test_gitignore_and_scribeignore_are_honoured(tmp_path: Path) -> None:
    write(tmp_path / ".gitignore", "*.log.md\ndrafts/\n")
    write(tmp_path / ".scribeignore", "private.md\n")
    write(tmp_path / "keep.md", "k\n")
    write(tmp_path / "run.log.md", "ignored\n")
    write(tmp_path / "private.md", "ignored\n")
    write(tmp_path / "drafts" / "d.md", "ignored\n")
    write(tmp_path / "sub" / "private.md", "ignored: pattern without slash matches anywhere\n")
    write(tmp_path / "sub" / "x.log.md", "ignored\n")
    write(tmp_path / "sub" / "important.log.md", "re-included below\n")
    write(tmp_path / "sub" / ".gitignore", "!important.log.md\nlocal.md\n")
    write(tmp_path / "sub" / "local.md", "ignored by sub/.gitignore\n")
    write(tmp_path / "other" / "local.md", "not ignored: sub/.gitignore does not reach here\n")
    assert found(tmp_path) == ["keep.md", "other/local.md", "sub/important.log.md"]


def test_ignore_files_above_a_given_folder_apply(tmp_path: Path) -> None:
    write(tmp_path / ".gitignore", "secret.md\n")
    write(tmp_path / "sub" / "deeper" / "secret.md", "ignored\n")
    write(tmp_path / "sub" / "deeper" / "open.md", "kept\n")
    assert found(tmp_path, tmp_path / "sub") == ["sub/deeper/open.md"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
@pytest.mark.timeout(60)
def test_symlink_loops_do_not_hang_and_files_come_once(tmp_path: Path) -> None:
    write(tmp_path / "a" / "note.md", "n\n")
    (tmp_path / "a" / "up").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "a" / "self").symlink_to(tmp_path / "a" / "self")
    (tmp_path / "alias").symlink_to(tmp_path / "a", target_is_directory=True)
    (tmp_path / "link.md").symlink_to(tmp_path / "a" / "note.md")
    (tmp_path / "dangling.md").symlink_to(tmp_path / "missing.md")
    assert found(tmp_path) == ["a/note.md"]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_a_symlinked_folder_outside_is_followed_once_when_the_author_opts_in(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write(outside / "shared.md", "s\n")
    root = tmp_path / "root"
    root.mkdir()
    (root / "linked").symlink_to(outside, target_is_directory=True)
    assert found(root) == []  # by default a link out of the workspace is not followed
    followed = [p.relative_to(root).as_posix() for p in discover_notes([root, root / "linked"], root=root, follow_symlinks=True)]
    assert followed == ["linked/shared.md"]
    assert parse(root / "linked" / "shared.md", root).rel_path == "linked/shared.md"


def test_overlapping_paths_yield_each_file_once(tmp_path: Path) -> None:
    write(tmp_path / "sub" / "n.md", "n\n")
    assert found(tmp_path, tmp_path, tmp_path / "sub", tmp_path / "sub" / "n.md") == ["sub/n.md"]


# --- symlinks out of the workspace -------------------------------------------------------------


def test_a_link_out_of_the_workspace_is_skipped_and_said_unless_the_author_opts_in(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    (outside / "secrets").mkdir(parents=True)
    (outside / "private.md").write_text("# Private\n\nNot for prompts.\n", encoding="utf-8")
    (outside / "secrets" / "keys.md").write_text("# Keys\n", encoding="utf-8")
    root = tmp_path / "ws"
    (root / "notes").mkdir(parents=True)
    (root / "notes" / "real.md").write_text("# Real\n", encoding="utf-8")
    (root / "notes" / "private.md").symlink_to(outside / "private.md")
    (root / "notes" / "secrets").symlink_to(outside / "secrets", target_is_directory=True)
    (root / "notes" / "alias.md").symlink_to(root / "notes" / "real.md")  # inside: followed (the one file, once)

    skips: list[tuple[str, Skip]] = []
    kept = [p.relative_to(root).as_posix()
            for p in discover_notes([root / "notes"], root=root, on_skip=lambda p, skip: skips.append((p.name, skip)))]
    assert kept == ["notes/alias.md"]  # alias.md comes first by name; real.md is the same file
    assert [(name, skip.reason) for name, skip in skips] == [("private.md", "symlink"), ("real.md", "duplicate"), ("secrets", "symlink")]
    skipped = [(name, skip.detail) for name, skip in skips if skip.reason == "symlink"]
    assert all("outside the workspace" in why and "follow_symlinks" in why for _, why in skipped)
    assert str(outside.resolve() / "private.md") in skipped[0][1]

    opted_in = [p.relative_to(root).as_posix() for p in discover_notes([root / "notes"], root=root, follow_symlinks=True)]
    assert opted_in == ["notes/alias.md", "notes/private.md", "notes/secrets/keys.md"]
