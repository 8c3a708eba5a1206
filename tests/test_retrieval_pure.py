"""The pure parts of retrieval and of the stores' records: fusion, per-file cap, path globs, snippets,
FTS5 query quoting and Chroma-safe metadata. No engine, no Chroma server."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from scribe.chunking import chunk_markdown
from scribe.fts import FileRecord, ChunkRow, KeywordStore, iso_date, match_query
from scribe.notes import parse_note
from scribe.retrieval import cap_per_file, make_snippet, path_matches, reciprocal_rank_fusion
from scribe.sync import chunk_metadata


def test_rrf_rewards_agreement_between_lists() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "d", "e"]], k=60)
    ids = [i for i, _ in fused]
    assert ids[:2] == ["b", "a"]  # second and first beats first alone
    assert set(ids) == {"a", "b", "c", "d", "e"}
    assert dict(fused)["b"] == 1 / 62 + 1 / 61


def test_rrf_of_one_list_keeps_its_order() -> None:
    assert [i for i, _ in reciprocal_rank_fusion([["x", "y", "z"]])] == ["x", "y", "z"]
    assert reciprocal_rank_fusion([]) == []


@given(st.lists(st.lists(st.sampled_from("abcdefgh"), unique=True), max_size=4))
def test_rrf_scores_are_sorted_and_cover_every_id(rankings: list[list[str]]) -> None:
    fused = reciprocal_rank_fusion(rankings)
    scores = [s for _, s in fused]
    assert scores == sorted(scores, reverse=True)
    assert {i for i, _ in fused} == {i for r in rankings for i in r}


def test_cap_per_file_lets_other_files_through() -> None:
    ranked = [("a1", 9.0), ("a2", 8.0), ("a3", 7.0), ("b1", 6.0), ("a4", 5.0), ("c1", 4.0)]
    path_of = {"a": "a.md", "b": "b.md", "c": "c.md"}
    chosen = cap_per_file(ranked, lambda i: path_of[i[0]], per_file=2, limit=4)
    assert [i for i, _ in chosen] == ["a1", "a2", "b1", "c1"]
    assert [i for i, _ in cap_per_file(ranked, lambda i: path_of[i[0]], per_file=1, limit=9)] == ["a1", "b1", "c1"]


def test_path_patterns() -> None:
    assert path_matches("notes/sql/plans.md", "notes/sql")
    assert path_matches("notes/sql/plans.md", "sql")
    assert path_matches("notes/sql/plans.md", "sql/*.md")
    assert path_matches("notes/sql/plans.md", "notes/**/*.md")
    assert path_matches("notes/sql/plans.md", "*plans*")
    assert not path_matches("notes/sqlite/x.md", "sql")
    assert not path_matches("notes/kafka/dlq.md", "sql/*")


def test_snippet_leaves_out_the_heading_prefix_and_centres_on_a_query_word() -> None:
    body = "filler words " * 60 + "the needle_term sits here " + "more filler " * 60
    text = "Title > Section\n\n" + body
    snippet = make_snippet(text, "Title > Section", "where is needle_term", width=120)
    assert "needle_term" in snippet and "Title > Section" not in snippet
    assert snippet.startswith("…") and snippet.endswith("…")
    assert make_snippet("T\n\nshort text", "T", "anything") == "short text"


@given(st.text(max_size=60))
@settings(max_examples=300, deadline=None)
def test_any_user_text_is_a_valid_fts5_query(text: str) -> None:
    expression = match_query(text)
    if expression is None:
        assert not any(ch.isalnum() for ch in text)
        return
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='porter unicode61 remove_diacritics 2')")
    db.execute("INSERT INTO t VALUES ('some text')")
    db.execute("SELECT * FROM t WHERE t MATCH ?", (expression,)).fetchall()  # must not raise


def test_fts_syntax_in_a_query_is_plain_text(tmp_path: Path) -> None:
    store = KeywordStore(tmp_path / "fts.sqlite")
    record = FileRecord(path="n.md", title="N", tags=["db"], date="2025-01-02")
    rows = [
        ChunkRow("c1", "N", 0, "N\n\nThe worker logged ERROR: could not serialize access due to concurrent update."),
        ChunkRow("c2", "N > Other", 1, "N > Other\n\nAccess control and concurrent users, not an error."),
        ChunkRow("c3", "N > Code", 2, "N > Code\n\nCall claim_idempotency_key(conn, key) first."),
    ]
    store.write([(record, rows)])
    assert store.search("ERROR: could not serialize access due to concurrent update", 5)[0][0] == "c1"
    assert store.search("claim_idempotency_key", 5)[0][0] == "c3"
    for hostile in ['"unbalanced', "NEAR(a b)", "a AND OR NOT", "col:value", "-minus*", "^start", "(((", "'; DROP TABLE chunks; --"]:
        store.search(hostile, 5)  # no FTS5 syntax error
    assert store.matching_paths(tags=["DB"], since="2025-01-01") == ["n.md"]
    assert store.matching_paths(since="2025-01-03") == []
    store.delete(["c1", "c2", "c3"], ["n.md"])
    assert store.chunk_count() == 0 and store.search("serialize", 5) == []
    store.close()


def test_iso_date() -> None:
    assert iso_date("2025-03-04") == "2025-03-04"
    assert iso_date("2025-03-04T10:00:00") == "2025-03-04"
    assert iso_date("last week") is None and iso_date(None) is None


def test_chunk_metadata_is_accepted_by_chroma(tmp_path: Path) -> None:
    from chromadb.api.types import validate_metadata

    path = tmp_path / "n.md"
    path.write_text(
        "---\ntitle: Odd fields\ntags: kafka, dlq\ndate: 2025-02-03\nstatus: draft\nempty: []\n"
        "huge: 123456789012345678901234567890\nratio: .nan\nchroma:document: x\nnested: {a: 1}\n"
        "authors: [ann, bob]\nrating: 4\npublic: true\n---\n# Heading\n\nBody.\n"
    )
    note = parse_note(path, root=tmp_path)
    assert note is not None
    chunk = chunk_markdown(note.body, path="n.md", title=note.title)[0]
    metadata = chunk_metadata(note, chunk)
    validate_metadata(metadata)  # type: ignore[arg-type]
    assert metadata["tags"] == ["kafka", "dlq"] and metadata["date"] == "2025-02-03" and metadata["status"] == "draft"
    assert metadata["huge"] == "123456789012345678901234567890"
    assert metadata["authors"] == ["ann", "bob"] and metadata["rating"] == 4 and metadata["public"] is True
    assert metadata["path"] == "n.md" and metadata["title"] == "Odd fields" and metadata["ordinal"] == 0
    assert not {"empty", "ratio", "chroma:document", "nested"} & set(metadata)
