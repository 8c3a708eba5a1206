"""`scribe index` for real: the session engine's embeddings, Chroma on disk and behind `chroma run`, FTS5.

Embedding is the slow part (the engine on 2 cores), so these workspaces are small and each chunk
count is checked against the engine's own `embed_inputs` counter.
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
from conftest import EMBED_MODEL, MODEL, run_scribe, settled
from filelock import FileLock
from index_support import configure, index_state, start_chroma_server, write_note
from processes import child_env

from scribe.config import open_workspace
from scribe.index import open_index
from scribe.manifest import load_manifest
from scribe.models import ModelClient
from scribe.retrieval import SearchFilters, Sources, retrieve
from scribe.sync import SyncOptions, SyncReport, sync_notes

WIDE = {"COLUMNS": "400"}  # keep Rich from wrapping one-line messages


def scribe(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_scribe(*args, cwd=cwd, env={**WIDE, **(env or {})})


def sync(ws: Path, engine_url: str, *paths: Path) -> SyncReport:
    workspace = open_workspace(ws, env={})
    with open_index(workspace) as index:
        return sync_notes(
            index, list(paths) or [ws / "notes"], root=ws, client=ModelClient(engine_url),
            options=SyncOptions(embed_model=EMBED_MODEL, batch_size=8),
        )


def chroma_metadata(ws: Path, ids: list[str]) -> list[dict[str, object]]:
    import chromadb
    from chromadb.api.shared_system_client import SharedSystemClient
    from chromadb.config import Settings

    SharedSystemClient.clear_system_cache()
    client = chromadb.PersistentClient(path=str(ws / ".scribe" / "chroma"), settings=Settings(anonymized_telemetry=False))
    return list(client.get_collection("scribe-notes").get(ids=ids, include=["metadatas"])["metadatas"])


def chroma_collections(ws: Path) -> dict[str, tuple[dict[str, object], int]]:
    """Every collection in the workspace's local store: its metadata and how many vectors it holds."""
    import chromadb
    from chromadb.api.shared_system_client import SharedSystemClient
    from chromadb.config import Settings

    SharedSystemClient.clear_system_cache()
    client = chromadb.PersistentClient(path=str(ws / ".scribe" / "chroma"), settings=Settings(anonymized_telemetry=False))
    return {c.name: (dict(c.metadata or {}), c.count()) for c in client.list_collections()}


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


SWITCH_NOTICE = f"embed model changed from '{MODEL}' to '{EMBED_MODEL}': re-embedding 3 chunks; search is keyword-only until this finishes"
KEYWORD_ONLY = f"search is keyword-only: the index holds '{MODEL}' vectors, run `scribe index` to re-embed with '{EMBED_MODEL}'"


def search_with(ws: Path, embed_model: str, query: str, client: ModelClient | None = None, **kwargs: object) -> Sources:
    """Search as a process configured with ``embed_model`` would (without a client, embedding the query fails)."""
    with open_index(open_workspace(ws, env={"SCRIBE_EMBED_MODEL": embed_model})) as index:
        return retrieve(index, client, query, **kwargs)  # type: ignore[arg-type]


def test_switching_embed_model_reembeds_every_chunk_and_spares_the_notes(
    workspace: Path, engine_url: str, engine_stats: Callable[[], dict[str, int]]
) -> None:
    # The real upgrade, both models served by the session engine: vectors from gemma3:270m (640
    # dimensions), then embed_model all-minilm (384). Another name alone takes the same path: the
    # switch is decided on the model name; the dimension only has to follow.
    note = write_note(workspace, "notes/a.md", "# Apples\n\nApples grow on trees.\n\n## Storing\n\nKeep apples cool.\n", tags="[fruit]")
    write_note(workspace, "notes/b.md", "Bananas are yellow.\n", title="Bananas")
    result = scribe("index", cwd=workspace, env={"SCRIBE_EMBED_MODEL": MODEL})
    assert result.returncode == 0, result.stderr
    before = index_state(workspace)
    notes_before = (note.read_bytes(), note.stat().st_mtime_ns)

    for mode in ("hybrid", "vector"):  # switched, not yet re-embedded: keyword-only, and it says so
        hits = search_with(workspace, EMBED_MODEL, "apples", mode=mode)
        assert hits.notice == KEYWORD_ONLY and hits and all(h.vector_rank is None and h.keyword_rank for h in hits)
    result = scribe("search", "apples", "--json", cwd=workspace)  # the CLI too (embed_model defaults to all-minilm)
    assert result.returncode == 0, result.stderr
    assert [h["vector_rank"] for h in json.loads(result.stdout)] == [None, None]

    embedded = settled(engine_stats)["embed_inputs"]
    result = scribe("index", "--json", cwd=workspace, env={"SCRIBE_EMBED_MODEL": EMBED_MODEL})
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines() == [f"warning: {SWITCH_NOTICE}"]
    report = json.loads(result.stdout)
    assert report["warnings"] == [SWITCH_NOTICE]
    assert (report["reembedded"], report["chunks_embedded"], report["chunks_total"], report["files_unchanged"]) == (3, 3, 3, 2)
    assert engine_stats()["embed_inputs"] - embedded == 3
    dimension = len(ModelClient(engine_url).embed(EMBED_MODEL, ["x"])[0])
    assert chroma_collections(workspace) == {"scribe-notes": ({"embed_model": EMBED_MODEL, "dimension": dimension}, 3)}
    manifest = load_manifest(workspace / ".scribe" / "manifest.json")
    assert (manifest.embed_model, manifest.dimension) == (EMBED_MODEL, dimension)
    after = index_state(workspace)
    assert after.consistent() and after == before  # the same chunk ids in every part: only the vectors are new
    assert chroma_metadata(workspace, file_ids(workspace, "notes/a.md"))[0]["tags"] == ["fruit"]  # metadata carried over
    assert (note.read_bytes(), note.stat().st_mtime_ns) == notes_before
    assert not (workspace / ".scribe" / "index.pending").exists()

    hits = search_with(workspace, EMBED_MODEL, "where do apples grow", ModelClient(engine_url), mode="vector")
    assert hits.notice is None and hits[0].path == "notes/a.md" and hits[0].vector_rank == 1

    result = scribe("index", "--rebuild", "--json", cwd=workspace)  # --rebuild still starts from the notes
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["rebuilt"] and report["chunks_embedded"] == report["chunks_total"] == 3 and not report["reembedded"]
    assert (note.read_bytes(), note.stat().st_mtime_ns) == notes_before
    assert index_state(workspace).consistent()


class ShorterVectors:
    """A stand-in for a model server whose model was swapped under the same name for one with fewer dimensions."""

    def __init__(self, client: ModelClient, dimension: int) -> None:
        self.client, self.dimension = client, dimension

    def embed(self, model: str, texts: list[str], *, batch_size: int = 64) -> list[list[float]]:
        return [vector[: self.dimension] for vector in self.client.embed(model, texts, batch_size=batch_size)]


def test_a_model_that_changed_dimension_is_reembedded_when_notes_change(workspace: Path, engine_url: str) -> None:
    write_note(workspace, "notes/a.md", APPLES)
    b = write_note(workspace, "notes/b.md", "Bananas are yellow.\n")
    assert sync(workspace, engine_url).chunks_total == 4
    hits = search_with(workspace, EMBED_MODEL, "apples", query_vector=[0.5] * 16)
    assert hits and all(h.vector_rank is None for h in hits)
    assert hits.notice is not None and "16-dimension" in hits.notice and "scribe index --rebuild" in hits.notice

    b.write_text("Bananas are yellow, then brown.\n")
    with open_index(open_workspace(workspace, env={})) as index:
        report = sync_notes(index, [workspace / "notes"], root=workspace, client=ShorterVectors(ModelClient(engine_url), 16),
                            options=SyncOptions(embed_model=EMBED_MODEL, batch_size=8))
    (warning,) = report.warnings
    assert warning.startswith(f"'{EMBED_MODEL}' now returns 16-dimension vectors, not the ") and "re-embedding 4 chunks" in warning
    assert (report.reembedded, report.chunks_embedded, report.files_changed, report.chunks_total) == (4, 5, 1, 4)
    assert chroma_collections(workspace) == {"scribe-notes": ({"embed_model": EMBED_MODEL, "dimension": 16}, 4)}
    assert index_state(workspace).consistent()
    assert search_with(workspace, EMBED_MODEL, "apples", query_vector=[0.5] * 16).notice is None


def index_killed_at(ws: Path, point: str, embed_model: str) -> str:
    """Run `scribe index` with a kill point (tests/subprocess_hooks/killpoint.py); it must die there. Returns its stderr."""
    env = child_env()
    result = subprocess.run([sys.executable, "-m", "scribe", "index"], cwd=ws, capture_output=True, text=True, timeout=300,
                            env={**env, **WIDE, "FAULT_KILL_AT": point, "SCRIBE_EMBED_MODEL": embed_model})
    assert result.returncode == -signal.SIGKILL, f"{point} was not reached: {result.returncode} {result.stderr}"
    return result.stderr


@pytest.mark.slow
def test_a_reembed_killed_at_each_step_is_finished_by_the_next_run(workspace: Path, engine_url: str) -> None:
    configure(workspace, embed_batch_size=1)
    write_note(workspace, "notes/a.md", "# Apples\n\nApples grow on trees.\n\n## Storing\n\nKeep apples cool.\n")
    write_note(workspace, "notes/b.md", "Bananas are yellow.\n")
    assert scribe("index", cwd=workspace, env={"SCRIBE_EMBED_MODEL": MODEL}).returncode == 0
    committed = index_state(workspace)

    def still_answers(vectors_from: str | None) -> None:
        """What the manifest names is whole, the index answers, and never with another model's vectors."""
        state = index_state(workspace)
        assert state.consistent() if vectors_from else set(state.manifest) <= state.fts
        assert state.manifest == committed.manifest and state.fts == committed.fts
        hits = search_with(workspace, EMBED_MODEL, "apples")
        assert hits and all(h.vector_rank is None for h in hits)
        assert hits.notice == (KEYWORD_ONLY if vectors_from == MODEL else None)

    staged = "scribe-notes-reembed"
    err = index_killed_at(workspace, "scribe.vectors:VectorStore.upsert:2", EMBED_MODEL)  # one new vector staged
    assert SWITCH_NOTICE in err
    assert chroma_collections(workspace)[staged][1] == 1
    still_answers(MODEL)
    err = index_killed_at(workspace, "scribe.manifest:save_manifest:1:after", EMBED_MODEL)  # resumed, all staged, switched
    assert "re-embedding 2 chunks" in err  # the staged vector was kept
    assert load_manifest(workspace / ".scribe" / "manifest.json").embed_model == EMBED_MODEL
    assert chroma_collections(workspace)["scribe-notes"][0]["embed_model"] == MODEL
    still_answers(MODEL)
    index_killed_at(workspace, "scribe.vectors:VectorStore.drop_collection:1:after", EMBED_MODEL)  # old vectors gone, staged not renamed
    assert set(chroma_collections(workspace)) == {staged}
    still_answers(None)

    result = scribe("index", "--json", cwd=workspace, env={"SCRIBE_EMBED_MODEL": EMBED_MODEL})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["chunks_embedded"] == 0
    assert {name: meta["embed_model"] for name, (meta, _) in chroma_collections(workspace).items()} == {"scribe-notes": EMBED_MODEL}
    assert index_state(workspace).consistent() and not (workspace / ".scribe" / "index.pending").exists()
    hits = search_with(workspace, EMBED_MODEL, "apples", ModelClient(engine_url))
    assert hits.notice is None and hits[0].vector_rank is not None


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
    env = child_env()
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
    total = 300  # all-minilm embeds 80 notes in about a second: Ctrl-C would land after the run
    configure(workspace, embed_batch_size=1)
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
    word = f"item{int(min(state.manifest_files)[len('notes/n'):-len('.md')])}"  # a note committed before the kill
    for mode in ("keyword", "hybrid"):  # the index answers queries straight away, about any committed note
        result = scribe("search", word, "--mode", mode, "--json", cwd=workspace)
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
    assert report["chunks_embedded"] <= total - committed_after_ctrl_c + 2 * 1  # resumed; at most in-flight batches redone
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
