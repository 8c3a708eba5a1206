"""The index manifest: atomic save/load, and the pure rules deciding what a run reads, embeds and removes."""

from __future__ import annotations

from pathlib import Path

import pytest

from scribe.chunking import chunk_markdown
from scribe.errors import NotesIndexError
from scribe.manifest import FileEntry, FileStat, Manifest, diff_files, load_manifest, plan_chunks, save_manifest


def entry(size: int = 10, mtime: int = 100, digest: str = "h", ids: list[str] | None = None) -> FileEntry:
    return FileEntry(size=size, mtime_ns=mtime, content_hash=digest, chunk_ids=ids or [])


def stat(rel: str, size: int = 10, mtime: int = 100) -> FileStat:
    return FileStat(rel, Path("/ws") / rel, size, mtime)


def test_save_then_load_round_trips(tmp_path: Path) -> None:
    manifest = Manifest(embed_model="m", dimension=3, store="local", files={"notes/a.md": entry(ids=["x", "y"])})
    path = tmp_path / "manifest.json"
    save_manifest(path, manifest)
    assert load_manifest(path) == manifest
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]  # no temp file left behind
    assert manifest.chunk_ids() == {"x", "y"} and manifest.chunk_count() == 2


def test_a_missing_manifest_is_an_empty_index(tmp_path: Path) -> None:
    assert load_manifest(tmp_path / "manifest.json") == Manifest()


@pytest.mark.parametrize("text", ["{not json", '{"version": 99}', '{"version": 1, "files": []}', "[]"])
def test_a_damaged_manifest_asks_for_rebuild(tmp_path: Path, text: str) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(text)
    with pytest.raises(NotesIndexError, match=r"damaged.*scribe index --rebuild"):
        load_manifest(path)


def test_diff_reads_only_files_whose_size_or_mtime_moved() -> None:
    manifest = Manifest(files={"notes/same.md": entry(), "notes/touched.md": entry(), "notes/grown.md": entry()})
    found = [stat("notes/same.md"), stat("notes/touched.md", mtime=200), stat("notes/grown.md", size=11), stat("notes/new.md")]
    diff = diff_files(found, manifest, lambda rel: True)
    assert diff.unchanged == ["notes/same.md"]
    assert [s.rel_path for s in diff.to_check] == ["notes/touched.md", "notes/grown.md", "notes/new.md"]
    assert diff.removed == []


def test_diff_removes_only_missing_files_inside_the_scanned_folders() -> None:
    manifest = Manifest(files={"notes/sql/gone.md": entry(), "notes/kafka/elsewhere.md": entry()})
    diff = diff_files([], manifest, lambda rel: rel.startswith("notes/sql/"))
    assert diff.removed == ["notes/sql/gone.md"]


BODY = "# T\n\nIntro.\n\n## One\n\nFirst section.\n\n## Two\n\nSecond section.\n"


def test_plan_embeds_only_new_chunk_ids_and_keeps_the_rest() -> None:
    old = chunk_markdown(BODY, path="t.md", title="T")
    new = chunk_markdown(BODY.replace("Second section.", "Second section, edited."), path="t.md", title="T")
    plan = plan_chunks([c.id for c in old], new)
    assert [c.text for c in plan.to_embed] == ["T > Two\n\nSecond section, edited."]
    assert [c.id for c in plan.kept] == [c.id for c in old[:2]]
    assert plan.stale == [old[2].id]


def test_plan_for_a_new_file_embeds_everything() -> None:
    chunks = chunk_markdown(BODY, path="t.md", title="T")
    plan = plan_chunks([], chunks)
    assert plan.to_embed == chunks and plan.kept == [] and plan.stale == []
