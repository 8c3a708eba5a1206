"""`scribe index` for real: the session engine's embeddings, Chroma on disk and behind `chroma run`, FTS5.

Embedding is the slow part (the 270M engine on 2 cores), so these workspaces are small and each
chunk count is checked against the engine's own `embed_inputs` counter.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from filelock import FileLock

from conftest import MODEL, run_scribe, settled
from index_support import configure, index_state, start_chroma_server, write_note
from scribe.config import open_workspace
from scribe.index import open_index
from scribe.manifest import load_manifest
from scribe.models import ModelClient
from scribe.retrieval import SearchFilters, retrieve
from scribe.sync import SyncReport, SyncOptions, sync_notes

WIDE = {"COLUMNS": "400"}  # keep Rich from wrapping one-line messages


def scribe(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_scribe(*args, cwd=cwd, env={**WIDE, **(env or {})})


def sync(ws: Path, engine_url: str, *paths: Path) -> SyncReport:
    workspace = open_workspace(ws, env={})
    with open_index(workspace) as index:
        return sync_notes(
            index, list(paths) or [ws / "notes"], root=ws, client=ModelClient(engine_url),
            options=SyncOptions(embed_model=MODEL, batch_size=8),
        )


def chroma_metadata(ws: Path, ids: list[str]) -> list[dict[str, object]]:
    import chromadb
    from chromadb.api.shared_system_client import SharedSystemClient
    from chromadb.config import Settings

    SharedSystemClient.clear_system_cache()
    client = chromadb.PersistentClient(path=str(ws / ".scribe" / "chroma"), settings=Settings(anonymized_telemetry=False))
    return list(client.get_collection("scribe-notes").get(ids=ids, include=["metadatas"])["metadatas"])


def file_ids(ws: Path, rel: str) -> list[str]:
    return load_manifest(ws / ".scribe" / "manifest.json").files[rel].chunk_ids


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


APPLES = "# Alpha\n\nIntro about apples.\n\n## Growing\n\nApples grow on trees.\n\n## Storing\n\nKeep apples cool.\n"


def test_only_new_or_changed_chunks_are_embedded(workspace: Path, engine_url: str, engine_stats: Callable[[], dict[str, int]]) -> None:
    a = write_note(workspace, "notes/a.md", APPLES, title="Alpha", tags="[fruit, garden]", rating=3)
    b = write_note(workspace, "notes/sub/b.md", "Bananas are yellow.\n", title="Bananas")
    c = write_note(workspace, "notes/c.md", "Cherries are red.\n")

    def embedded(run: Callable[[], SyncReport]) -> tuple[SyncReport, int]:
        before = engine_stats()["embed_inputs"]
        report = run()
        return report, engine_stats()["embed_inputs"] - before

    first, n = embedded(lambda: sync(workspace, engine_url))
    assert (first.files_new, first.chunks_embedded, first.chunks_total, n) == (3, 5, 5, 5)
    state = index_state(workspace)
    assert state.consistent() and state.manifest_files == {"notes/a.md", "notes/sub/b.md", "notes/c.md"}

    again, n = embedded(lambda: sync(workspace, engine_url))
    assert (again.files_unchanged, again.chunks_embedded, n) == (3, 0, 0)

    old_ids = set(index_state(workspace).manifest)
    a.write_text(a.read_text().replace("Keep apples cool.", "Keep apples cool and dry."))
    edited, n = embedded(lambda: sync(workspace, engine_url))
    assert (edited.files_changed, edited.chunks_embedded, edited.chunks_kept, edited.chunks_removed, n) == (1, 1, 2, 1, 1)
    state = index_state(workspace)
    assert state.consistent() and len(set(state.manifest) - old_ids) == 1 and len(old_ids - set(state.manifest)) == 1

    later = time.time() + 60
    os.utime(b, (later, later))  # touched, same bytes: the hash says unchanged
    touched, n = embedded(lambda: sync(workspace, engine_url))
    assert (touched.files_unchanged, touched.chunks_embedded, n) == (3, 0, 0)

    # Frontmatter only: every chunk id is kept, so no vector is recomputed, but Chroma's metadata follows.
    a.write_text(a.read_text().replace("tags: [fruit, garden]\nrating: 3\n", "tags: [fruit, orchard]\n"))
    retagged, n = embedded(lambda: sync(workspace, engine_url))
    assert (retagged.files_changed, retagged.chunks_embedded, retagged.chunks_kept, n) == (1, 0, 3, 0)
    for metadata in chroma_metadata(workspace, file_ids(workspace, "notes/a.md")):
        assert metadata["tags"] == ["fruit", "orchard"] and "rating" not in metadata and metadata["title"] == "Alpha"
    with open_index(open_workspace(workspace, env={})) as index:
        found = retrieve(index, None, "apples", mode="keyword", filters=SearchFilters(tags=("orchard",)))
        assert {s.path for s in found} == {"notes/a.md"}
        assert retrieve(index, None, "apples", mode="keyword", filters=SearchFilters(tags=("garden",))) == []

    c_ids = set(file_ids(workspace, "notes/c.md"))
    c.unlink()
    removed, n = embedded(lambda: sync(workspace, engine_url))
    assert (removed.files_removed, removed.chunks_removed, n) == (1, 1, 0)
    state = index_state(workspace)
    assert state.consistent() and "notes/c.md" not in state.manifest_files | state.fts_files
    assert not c_ids & (set(state.manifest) | state.chroma | state.fts)


def test_indexing_a_subfolder_leaves_the_rest_alone(workspace: Path, engine_url: str) -> None:
    write_note(workspace, "notes/sql/plans.md", "Read the plan bottom up.\n")
    write_note(workspace, "notes/kafka/dlq.md", "Park poison messages in a DLQ.\n")
    sync(workspace, engine_url)
    (workspace / "notes/sql/plans.md").unlink()
    report = sync(workspace, engine_url, workspace / "notes" / "kafka")
    assert (report.files_scanned, report.files_removed) == (1, 0)
    assert index_state(workspace).manifest_files == {"notes/sql/plans.md", "notes/kafka/dlq.md"}
    report = sync(workspace, engine_url, workspace / "notes" / "sql")
    assert report.files_removed == 1
    assert index_state(workspace).manifest_files == {"notes/kafka/dlq.md"}


def test_bad_files_do_not_stop_the_run(workspace: Path) -> None:
    notes = workspace / "notes"
    write_note(workspace, "notes/good.md", "# Good\n\nThe zephyr quartz note.\n")
    (notes / "broken.md").write_text("---\ntitle: Broken\ntags: [unclosed\n---\n# Broken\n\nThis body mentions a xylophone.\n")
    (notes / "binary.md").write_bytes(b"\x00\x01\x02binary" * 100)
    (notes / "latin1.md").write_bytes("# Caf\xe9\n\nCr\xe8me br\xfbl\xe9e and marzipan.\n".encode("latin-1"))
    (notes / "huge.md").write_text("word " * 1_000_000)  # 5 MB
    (notes / "empty.md").write_text("")
    (notes / "loop").symlink_to(notes, target_is_directory=True)
    result = scribe("index", cwd=workspace)
    assert result.returncode == 0, result.stderr
    assert "notes/broken.md:4: malformed YAML frontmatter" in result.stderr
    assert "notes/latin1.md: not valid UTF-8" in result.stderr
    assert "notes/huge.md: 5.0 MB is over the 1 MB" in result.stderr
    assert "binary.md" not in result.stderr and "empty.md" not in result.stderr
    assert "4 files scanned, 3 new" in result.stdout  # the empty file is scanned, then skipped quietly
    state = index_state(workspace)
    assert state.consistent() and state.manifest_files == {"notes/good.md", "notes/broken.md", "notes/latin1.md"}
    for query, path in (("xylophone", "notes/broken.md"), ("marzipan", "notes/latin1.md")):
        hits = json.loads(scribe("search", query, "--mode", "keyword", "--json", cwd=workspace).stdout)
        assert [h["path"] for h in hits] == [path]


def test_switching_embed_model_asks_for_rebuild_and_rebuild_spares_the_notes(workspace: Path) -> None:
    note = write_note(workspace, "notes/a.md", "Apples grow on trees.\n", title="Apples")
    assert scribe("index", cwd=workspace).returncode == 0
    line = one_line_error(scribe("index", cwd=workspace, env={"SCRIBE_EMBED_MODEL": "nomic-embed-text"}))
    assert f"'{MODEL}'" in line and "'nomic-embed-text'" in line and "scribe index --rebuild" in line

    before = (note.read_bytes(), note.stat().st_mtime_ns)
    result = scribe("index", "--rebuild", "--json", cwd=workspace)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["rebuilt"] and report["chunks_embedded"] == report["chunks_total"] == 1
    assert (note.read_bytes(), note.stat().st_mtime_ns) == before
    assert index_state(workspace).consistent()


def test_a_second_index_run_waits_briefly_then_says_why(workspace: Path) -> None:
    write_note(workspace, "notes/a.md", "Apples.\n")
    (workspace / ".scribe").mkdir()
    with FileLock(str(workspace / ".scribe" / "index.lock")):
        started = time.monotonic()
        line = one_line_error(scribe("index", cwd=workspace))
        waited = time.monotonic() - started
    assert "another `scribe index` is updating the index" in line and "wait for it to finish" in line
    assert waited >= 3


def test_an_unreadable_store_names_the_rebuild_fix(workspace: Path) -> None:
    note = write_note(workspace, "notes/a.md", "Apples grow on trees.\n")
    assert scribe("index", cwd=workspace).returncode == 0
    (workspace / ".scribe" / "chroma" / "chroma.sqlite3").write_bytes(b"not a database " * 1000)
    line = one_line_error(scribe("search", "apples", cwd=workspace))
    assert "Chroma store" in line and "cannot be read" in line and "scribe index --rebuild" in line
    note.write_text("Apples grow on trees, mostly.\n")
    assert "scribe index --rebuild" in one_line_error(scribe("index", cwd=workspace))

    assert scribe("index", "--rebuild", cwd=workspace).returncode == 0
    hits = json.loads(scribe("search", "apples", "--json", cwd=workspace).stdout)
    assert [h["path"] for h in hits] == ["notes/a.md"]

    (workspace / ".scribe" / "fts.sqlite").write_bytes(b"not a database " * 1000)
    line = one_line_error(scribe("search", "apples", "--mode", "keyword", cwd=workspace))
    assert "fts.sqlite" in line and "scribe index --rebuild" in line

    (workspace / ".scribe" / "manifest.json").write_text("{ torn")
    line = one_line_error(scribe("index", cwd=workspace))
    assert "manifest.json" in line and "damaged" in line and "scribe index --rebuild" in line
    assert scribe("index", "--rebuild", cwd=workspace).returncode == 0
    assert index_state(workspace).consistent()

    shutil.rmtree(workspace / ".scribe" / "chroma")  # the vectors are gone, the manifest says otherwise
    note.write_text("Apples grow on trees, mostly in orchards.\n")
    line = one_line_error(scribe("index", cwd=workspace))
    assert "no longer holds this index's vectors" in line and "scribe index --rebuild" in line


def _manifest_files(ws: Path) -> int:
    try:
        return len(json.loads((ws / ".scribe" / "manifest.json").read_text())["files"])
    except (OSError, ValueError):
        return 0


def _start_index(ws: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCRIBE_", "OLLAMA_"))}
    return subprocess.Popen(
        [sys.executable, "-m", "scribe", "index"], cwd=ws, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        # A suite started in the background of a script inherits SIGINT ignored, and Python then
        # never turns Ctrl-C into KeyboardInterrupt: give the child the terminal's default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _wait_for_commits(ws: Path, proc: subprocess.Popen[str], more_than: int) -> int:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        files = _manifest_files(ws)
        if files > more_than:
            return files
        time.sleep(0.02)
    raise AssertionError(f"index run ended or stalled before committing past {more_than} files: {proc.poll()}")


def test_an_interrupted_index_recovers(workspace: Path, engine_stats: Callable[[], dict[str, int]]) -> None:
    total = 80
    configure(workspace, embed_batch_size=2)
    for i in range(total):
        write_note(workspace, f"notes/n{i:03}.md", f"# Note {i}\n\nTopic {i} is about item{i} only.\n")

    proc = _start_index(workspace)
    _wait_for_commits(workspace, proc, 0)
    proc.kill()  # SIGKILL: no cleanup of any kind
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    state = index_state(workspace)
    committed = len(state.manifest_files)
    assert 0 < committed < total
    assert set(state.manifest) <= state.chroma and set(state.manifest) <= state.fts  # what is committed is there
    assert (workspace / ".scribe" / "index.pending").exists()
    for mode in ("keyword", "hybrid"):  # the index answers queries straight away
        result = scribe("search", "item1", "--mode", mode, "--json", cwd=workspace)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)

    proc = _start_index(workspace)
    _wait_for_commits(workspace, proc, committed)
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    committed_after_ctrl_c = _manifest_files(workspace)
    assert committed < committed_after_ctrl_c < total

    before = settled(engine_stats)["embed_inputs"]  # the interrupted runs' last requests may still be counting
    result = scribe("index", "--json", cwd=workspace)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["chunks_embedded"] == engine_stats()["embed_inputs"] - before
    assert report["chunks_embedded"] <= total - committed_after_ctrl_c + 2 * 2  # resumed; at most in-flight batches redone
    state = index_state(workspace)
    assert state.consistent() and len(state.manifest_files) == total and len(state.manifest) == total
    assert not (workspace / ".scribe" / "index.pending").exists()


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = start_chroma_server(tmp_path_factory.mktemp("chroma") / "data")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_index_and_search_through_a_chroma_server(workspace: Path, chroma_server: str, engine_stats: Callable[[], dict[str, int]]) -> None:
    note = write_note(workspace, "notes/plans.md", "# Plans\n\nRead EXPLAIN ANALYZE output bottom up.\n\n## Loops\n\nNested loops multiply.\n")
    write_note(workspace, "notes/dlq.md", "Park poison messages in a dead letter queue.\n", tags="[kafka]")
    result = scribe("index", "--chroma-url", chroma_server, "--json", cwd=workspace)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["chunks_embedded"] == 3
    state = index_state(workspace, chroma_server)
    assert state.consistent() and state.chroma_count == 3
    assert not (workspace / ".scribe" / "chroma").exists()  # nothing went to the local store

    hits = json.loads(scribe("search", "dead letter queue", "--chroma-url", chroma_server, "--json", cwd=workspace).stdout)
    assert hits[0]["path"] == "notes/dlq.md" and hits[0]["vector_rank"] is not None

    note.write_text(note.read_text().replace("Nested loops multiply.", "Nested loops multiply rows."))
    before = engine_stats()["embed_inputs"]
    result = scribe("index", "--json", cwd=workspace, env={"SCRIBE_CHROMA_URL": chroma_server})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["chunks_embedded"] == 1 == engine_stats()["embed_inputs"] - before
    assert index_state(workspace, chroma_server).consistent()

    line = one_line_error(scribe("index", cwd=workspace))
    assert chroma_server in line and "'local'" in line and "--rebuild" in line
