"""What the index knows, file by file: the manifest's record of each run's outcomes, the report built
from it (pure), `scribe index --report` as text and JSON, and `index_report(workspace)` for the app."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from cli_support import ok
from fake_server import FakeModelServer

from scribe.config import open_workspace
from scribe.index_report import FileOutcome, IndexReport, build_report, index_report, report_lines
from scribe.manifest import FileEntry, Manifest, load_manifest, save_manifest
from scribe.notes import Skip

WHEN = "2026-03-01T09:30:00+00:00"
NOTES = {
    "explain.md": "# Reading EXPLAIN\n\nEXPLAIN ANALYZE shows the plan and the time each node took.\n",
    "indexes.md": "# Choosing an index\n\nA composite index serves queries on its leading columns.\n",
    "locks.md": "# Lock waits\n\nA long transaction holds its row locks until it commits.\n",
}


def manifest() -> Manifest:
    return Manifest(
        embed_model="m", dimension=3, store="local",
        files={
            "notes/a.md": FileEntry(10, 1, "h", ["a1", "a2"], indexed_at=WHEN),
            "notes/locked.md": FileEntry(10, 1, "h", ["l1"], indexed_at=WHEN),
            "notes/odd.md": FileEntry(10, 1, "h", ["o1"], indexed_at=WHEN, warnings=["notes/odd.md:2: malformed YAML frontmatter"]),
        },
        skipped={
            "notes/.trash/": Skip("hidden", "Obsidian's trash"),
            "notes/img.png": Skip("attachment", "an image, not a note"),
            "notes/locked.md": Skip("unreadable", "cannot read (Permission denied)"),
        },
    )


# --- the record and the report (pure) ----------------------------------------------------------


def test_the_manifest_keeps_when_each_file_was_indexed_and_what_was_left_out(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    save_manifest(path, manifest())
    assert load_manifest(path) == manifest()


def test_an_index_from_before_the_record_loads_and_its_files_are_read_again(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    old = {"size": 10, "mtime_ns": 1, "content_hash": "h", "chunk_ids": ["a1"]}
    path.write_text(json.dumps({"version": 1, "embed_model": "m", "dimension": 3, "store": "local", "files": {"notes/a.md": old}}))
    loaded = load_manifest(path)
    assert loaded.files == {"notes/a.md": FileEntry(-1, -1, "", ["a1"])}  # a size no file has: read again, vectors kept
    assert loaded.skipped == {}


def test_the_report_says_for_each_path_indexed_skipped_or_failed() -> None:
    report = build_report(manifest(), Path("/ws"))
    assert [(f.path, f.status, f.reason, f.chunks) for f in report.files] == [
        ("notes/.trash/", "skipped", "hidden", 0),
        ("notes/a.md", "indexed", None, 2),
        ("notes/img.png", "skipped", "attachment", 0),
        ("notes/locked.md", "failed", "unreadable", 1),  # the index keeps what it had
        ("notes/odd.md", "indexed", None, 1),
    ]
    assert report.totals.__dict__ == {"indexed": 2, "skipped": 2, "failed": 1, "chunks": 4}
    assert report.files[4].warnings == ("notes/odd.md:2: malformed YAML frontmatter",)


def test_the_app_looks_a_file_or_folder_up_by_its_path() -> None:
    report = build_report(manifest(), Path("/ws"))
    assert report.outcome(Path("/ws/notes/img.png")) == FileOutcome("notes/img.png", "skipped", "attachment", "an image, not a note")
    assert report.outcome("notes/a.md") is not None and report.outcome("notes/a.md").status == "indexed"  # type: ignore[union-attr]
    assert report.outcome(Path("/ws/notes/.trash")).reason == "hidden"  # type: ignore[union-attr]
    assert report.outcome(Path("/ws/notes/new.md")) is None and report.outcome(Path("/elsewhere/a.md")) is None


def test_the_text_report_has_a_line_a_path_and_the_totals() -> None:
    lines = report_lines(build_report(manifest(), Path("/ws")))
    assert lines[0].split() == ["skipped", "notes/.trash/", "hidden:", "Obsidian's", "trash"]
    local = dt.datetime.fromisoformat(WHEN).astimezone().strftime("%Y-%m-%d %H:%M")
    assert lines[1].split() == ["indexed", "notes/a.md", "2", "chunks,", *local.split()]
    assert "failed   notes/locked.md" in lines[3] and "cannot read (Permission denied)" in lines[3] and "keeps the 1 chunks" in lines[3]
    assert "warning: notes/odd.md:2: malformed YAML frontmatter" in lines[4]
    assert lines[-1] == "2 indexed (4 chunks), 2 skipped, 1 failed"
    assert report_lines(IndexReport(Path("/ws"), (), exists=False)) == ["no notes index yet; build it with `scribe index`"]


# --- `scribe index --report` (fake model server) -----------------------------------------------


@pytest.fixture
def messy(fake_workspace: Path, tmp_path: Path) -> Path:
    """Three notes, with what a real notes folder also holds."""
    notes = fake_workspace / "notes"
    shutil.rmtree(notes)
    (notes / "sql").mkdir(parents=True)
    for name, text in NOTES.items():
        (notes / "sql" / name).write_text(text, encoding="utf-8")
    (notes / "attachments").mkdir()
    (notes / "attachments" / "chart.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0")
    (notes / ".trash").mkdir()
    (notes / ".trash" / "old.md").write_text("# Old\n", encoding="utf-8")
    (notes / "empty.md").write_text("\n  \n", encoding="utf-8")
    (notes / "broken.md").write_text("---\ntitle: [unclosed\n---\n# Broken\n\nStill a note.\n", encoding="utf-8")
    (notes / "scratch").mkdir()
    (notes / "scratch" / "todo.md").write_text("# Todo\n", encoding="utf-8")
    (notes / ".scribeignore").write_text("scratch/\n", encoding="utf-8")
    (tmp_path / "elsewhere.md").write_text("# Elsewhere\n", encoding="utf-8")
    (notes / "linked.md").symlink_to(tmp_path / "elsewhere.md")
    return fake_workspace


def by_path(ran_json: dict[str, object]) -> dict[str, dict[str, object]]:
    return {f["path"]: f for f in ran_json["files"]}  # type: ignore[index,union-attr]


def test_index_report_lists_every_file_with_its_outcome(messy: Path) -> None:
    ran = ok(messy, "index", "--report", "--json").json()
    files = by_path(ran)
    assert {path: (f["status"], f["reason"]) for path, f in files.items() if f["status"] != "indexed"} == {
        "notes/.scribeignore": ("skipped", "hidden"),
        "notes/.trash/": ("skipped", "hidden"),
        "notes/attachments/chart.png": ("skipped", "attachment"),
        "notes/empty.md": ("skipped", "empty"),
        "notes/linked.md": ("skipped", "symlink"),
        "notes/scratch/": ("skipped", "ignored"),
    }
    indexed = [f for f in files.values() if f["status"] == "indexed"]
    assert sorted(f["path"] for f in indexed) == ["notes/broken.md", "notes/sql/explain.md", "notes/sql/indexes.md", "notes/sql/locks.md"]  # type: ignore[type-var]
    assert all(f["chunks"] > 0 and f["indexed_at"] for f in indexed)
    assert files["notes/broken.md"]["warnings"] and "malformed YAML" in files["notes/broken.md"]["warnings"][0]  # type: ignore[index]
    assert ran["totals"] == {"indexed": len(indexed), "skipped": 6, "failed": 0, "chunks": ran["run"]["chunks_total"]}  # type: ignore[index]

    text = ok(messy, "index", "--report").stdout.splitlines()
    assert f"{len(indexed)} indexed ({ran['run']['chunks_total']} chunks), 6 skipped, 0 failed" in text  # type: ignore[index]
    assert any(line.startswith("skipped  notes/attachments/chart.png") and "attachment: an image, not a note" in line for line in text)


def test_a_note_that_cannot_be_read_is_reported_failed_with_a_faked_permission_error(
    messy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests run as root here, where no file is unreadable; the read error is faked for one note."""
    ok(messy, "index")
    locked = (messy / "notes" / "sql" / "explain.md").absolute()
    locked.write_text(locked.read_text(encoding="utf-8") + "\nMore.\n", encoding="utf-8")
    read_bytes = Path.read_bytes

    def fake_denied(path: Path) -> bytes:
        if path.absolute() == locked:
            raise PermissionError(13, "Permission denied")
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", fake_denied)
    ran = ok(messy, "index", "--report", "--json").json()
    failed = by_path(ran)["notes/sql/explain.md"]
    assert (failed["status"], failed["reason"], failed["detail"]) == ("failed", "unreadable", "cannot read (Permission denied)")
    assert failed["chunks"] > 0  # what was indexed before stays searchable
    assert ran["totals"]["failed"] == 1 and ran["run"]["files_failed"] == 1  # type: ignore[index]
    assert any("explain.md: cannot read" in w for w in ran["run"]["warnings"])  # type: ignore[index]


def test_each_run_replaces_the_outcomes_of_the_paths_it_scanned(messy: Path) -> None:
    ok(messy, "index")
    (messy / "notes" / "attachments" / "chart.png").unlink()
    (messy / "notes" / "empty.md").write_text("# Not empty now\n\nA line.\n", encoding="utf-8")
    (messy / "notes" / "sql" / "schema.pdf").write_bytes(b"%PDF-1.4\n")
    ok(messy, "index", str(messy / "notes" / "sql"))  # only notes/sql is scanned: the rest of the record stays
    files = build_report(load_manifest(messy / ".scribe" / "manifest.json"), messy).by_path
    assert files["notes/sql/schema.pdf"].reason == "attachment"
    assert files["notes/attachments/chart.png"].status == "skipped" and files["notes/empty.md"].reason == "empty"
    ok(messy, "index")
    files = build_report(load_manifest(messy / ".scribe" / "manifest.json"), messy).by_path
    assert "notes/attachments/chart.png" not in files and files["notes/empty.md"].status == "indexed"


def test_the_summary_line_counts_what_was_left_out(messy: Path) -> None:
    line = ok(messy, "index").stdout.splitlines()[0]
    assert line.endswith("; 6 skipped (see scribe index --report)")


def test_index_report_for_the_app_reads_the_record_without_indexing(messy: Path, fake_server: FakeModelServer) -> None:
    ws = open_workspace(messy, env={})
    assert index_report(ws).exists is False
    ok(messy, "index")
    embeds = len(fake_server.embeds)
    report = index_report(ws)
    assert report.outcome(messy / "notes" / "empty.md").status == "skipped"  # type: ignore[union-attr]
    assert report.outcome(messy / "notes" / "scratch").reason == "ignored"  # type: ignore[union-attr]
    assert report.outcome(messy / "notes" / "sql" / "explain.md").status == "indexed"  # type: ignore[union-attr]
    assert len(fake_server.embeds) == embeds


def test_an_index_built_before_tags_were_read_from_the_body_learns_them_without_embedding(
    messy: Path, fake_server: FakeModelServer
) -> None:
    (messy / "notes" / "tagged.md").write_text("# Tagged\n\nA note about #gardening soil.\n", encoding="utf-8")
    ok(messy, "index")
    path = messy / ".scribe" / "manifest.json"
    data = json.loads(path.read_text())
    data["version"] = 1
    data.pop("skipped")
    for entry in data["files"].values():
        entry.pop("indexed_at")
        entry.pop("warnings", None)
    path.write_text(json.dumps(data))
    with contextlib.closing(sqlite3.connect(messy / ".scribe" / "fts.sqlite")) as db:
        db.execute("UPDATE files SET tags = '[]'")  # as an index from before #tags were read
        db.commit()
    assert ok(messy, "search", "soil", "--tag", "gardening", "--json").json() == []
    embeds = len(fake_server.embeds)
    run = ok(messy, "index", "--json").json()
    assert run["chunks_embedded"] == 0 and len(fake_server.embeds) == embeds
    assert [hit["path"] for hit in ok(messy, "search", "soil", "--tag", "gardening", "--json").json()] == ["notes/tagged.md"]
