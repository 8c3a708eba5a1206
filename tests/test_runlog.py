"""The run log: migrations, one row per call, filters, and a damaged file reported, never deleted."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from scribe.errors import RunLogError
from scribe.runlog import FINISH_COLUMNS, MIGRATIONS, CallRequest, RunLog, RunOutcome
from scribe.runmeta import EngineInfo, RunMeta


def start(log: RunLog, **overrides: object) -> int:
    fields: dict[str, object] = {"task": "ask", "model": "gemma3:270m", "messages": [{"role": "user", "content": "hi"}]}
    fields.update(overrides)
    return log.start(CallRequest(**fields), host="http://127.0.0.1:1")  # type: ignore[arg-type]


def test_fresh_log_is_migrated_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / ".scribe" / "runs.sqlite"
    RunLog(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    RunLog(path).close()  # reopening applies nothing twice


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    RunLog(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    db.close()
    with pytest.raises(RunLogError, match="upgrade scribe"):
        RunLog(path)


def test_start_then_finish_records_everything(tmp_path: Path) -> None:
    with RunLog(tmp_path / "runs.sqlite") as log:
        run_id = start(log, options={"seed": 1}, prompt_name="critique", prompt_version="abc123",
                       sources=[{"path": "notes/a.md", "heading": "A > B"}], meta=RunMeta(bench="b1"))
        running = log.get(run_id)
        assert running is not None and running.status == "running" and running.finished_at is None
        log.finish(run_id, RunOutcome(status="ok", output_text="done", eval_count=10, eval_duration_ns=10**9,
                                      eval_tps=10.0, ttft_ms=12.5))
        run = log.get(run_id)
    assert run is not None
    assert (run.status, run.output_text, run.eval_count, run.eval_tps, run.ttft_ms) == ("ok", "done", 10, 10.0, 12.5)
    assert run.options == {"seed": 1} and run.meta == RunMeta(bench="b1")
    assert run.sources == [{"path": "notes/a.md", "heading": "A > B"}]
    assert (run.prompt_name, run.prompt_version) == ("critique", "abc123")
    assert run.finished_at is not None


def test_finish_rejects_unknown_columns(tmp_path: Path) -> None:
    """What finish writes is a RunOutcome: one declaration, every field a column of the runs table."""
    with pytest.raises(TypeError, match="'id'"):
        RunOutcome(status="ok", id=4)  # type: ignore[call-arg]
    RunLog(tmp_path / "runs.sqlite").close()
    columns = {row[1] for row in sqlite3.connect(tmp_path / "runs.sqlite").execute("PRAGMA table_info(runs)")}
    assert FINISH_COLUMNS and set(FINISH_COLUMNS) <= columns


def test_recent_filters_and_orders(tmp_path: Path) -> None:
    with RunLog(tmp_path / "runs.sqlite") as log:
        ids = [start(log, task=task, model=model) for task, model in
               [("ask", "a:1"), ("critique", "a:1"), ("critique", "b:1"), ("outline", "b:1")]]
        assert [r.id for r in log.recent(10)] == ids[::-1]
        assert [r.id for r in log.recent(1)] == [ids[-1]]
        assert [r.id for r in log.recent(10, task="critique")] == [ids[2], ids[1]]
        assert [r.id for r in log.recent(10, model="b:1", task="critique")] == [ids[2]]
        assert [r.id for r in log.iter_all(model="a:1")] == ids[:2]
        assert log.recent(10, since="2999-01-01") == []


def test_damaged_file_gives_a_clear_error_and_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(RunLogError) as info:
        RunLog(path)
    assert str(path) in str(info.value) and "move the file aside" in str(info.value)
    assert path.read_bytes().startswith(b"this is not a database")


def test_concurrent_writers_from_two_connections(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    with RunLog(path) as one, RunLog(path) as two:
        a, b = start(one), start(two)
        one.finish(b, RunOutcome(status="ok"))
        two.finish(a, RunOutcome(status="failed", error="x"))
        assert {r.status for r in one.recent(5)} == {"ok", "failed"}


def test_preferences_are_stored_and_validated(tmp_path: Path) -> None:
    from scribe.runlog import Preference

    with RunLog(tmp_path / "runs.sqlite") as log:
        a, b = start(log, model="x:1"), start(log, model="y:1")
        log.add_preference(Preference("critique", a, b, "x:1", "y:1", "b"))
        log.add_preference(Preference("critique", a, b, "x:1", "y:1", "tie", source="test"))
        prefs = log.preferences()
    assert [(p.winner, p.source) for p in prefs] == [("b", "tui"), ("tie", "test")]
    assert prefs[0].id == 1 and prefs[0].created_at
    with pytest.raises(ValueError):
        Preference("critique", a, b, "x:1", "y:1", "left")


# --- the typed meta, and logs written before it ----------------------------------------------------


def test_run_meta_round_trips_and_stores_only_what_is_set() -> None:
    meta = RunMeta(via="batch", bench="b", config="m@t=0.2", repeat=0, warmup=True, sections=3,
                   engine=EngineInfo("scribe engine", "0.1", "http://h"), format={"type": "object"}, extra={"tag": "x"})
    data = meta.to_json()
    assert data == {"tag": "x", "via": "batch", "sections": 3, "format": {"type": "object"}, "bench": "b",
                    "config": "m@t=0.2", "repeat": 0, "warmup": True,
                    "engine": {"name": "scribe engine", "version": "0.1", "host": "http://h"}}
    assert RunMeta.from_json(json.loads(json.dumps(data))) == meta
    assert RunMeta().to_json() == {} and RunMeta.from_json({}) == RunMeta()
    with pytest.raises(ValueError, match="bench"):
        RunMeta(extra={"bench": "b"})


def test_run_meta_reads_old_keys_and_keeps_unknown_ones() -> None:
    old = {"batch": True, "model_spec": "m", "draft": "notes/d.md", "section": "Keys", "retry_of": 4, "warmup": False,
           "engine": "not an object"}
    meta = RunMeta.from_json(old)
    assert (meta.model_spec, meta.draft, meta.section, meta.retry_of, meta.warmup) == ("m", "notes/d.md", "Keys", 4, False)
    assert meta.extra == {"batch": True} and meta.engine is None and meta.bench is None and meta.sections is None
    assert RunMeta.from_json(meta.to_json()) == meta


# The runs and preferences tables exactly as scribe created them up to schema version 2.
SCHEMA_V2 = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT NOT NULL, finished_at TEXT, task TEXT NOT NULL,
    model TEXT NOT NULL, model_digest TEXT, host TEXT NOT NULL, options TEXT NOT NULL DEFAULT '{}', prompt_name TEXT,
    prompt_version TEXT, input_text TEXT NOT NULL DEFAULT '', output_text TEXT NOT NULL DEFAULT '',
    sources TEXT NOT NULL DEFAULT '[]', ttft_ms REAL, wall_ms REAL, total_duration_ns INTEGER, load_duration_ns INTEGER,
    prompt_eval_count INTEGER, prompt_eval_duration_ns INTEGER, eval_count INTEGER, eval_duration_ns INTEGER,
    prompt_tps REAL, eval_tps REAL, done_reason TEXT, status TEXT NOT NULL, error TEXT, meta TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX runs_started ON runs(started_at);
CREATE INDEX runs_model_task ON runs(model, task);
CREATE TABLE preferences (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL, task TEXT NOT NULL,
    run_a INTEGER NOT NULL REFERENCES runs(id), run_b INTEGER NOT NULL REFERENCES runs(id),
    model_a TEXT NOT NULL, model_b TEXT NOT NULL, winner TEXT NOT NULL CHECK (winner IN ('a', 'b', 'tie')),
    source TEXT NOT NULL DEFAULT 'tui'
);
PRAGMA user_version = 2;
"""


def test_a_log_written_before_run_meta_is_migrated_and_reads(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_V2)
    rows = [
        ("bench:warmup", {"bench": "b", "warmup": True, "config": "m", "machine": "box", "command": "scribe bench",
                          "engine": {"name": "Ollama", "version": "0.5", "host": "http://h"}}),
        ("outline", {"bench": "b", "config": "m@t=0.2", "draft_hash": "d1", "repeat": 0, "warmup": False, "sections": 5,
                     "words": 150, "format": {"type": "object"}}),
        ("critique", {"via": "tui", "compare": "A", "draft": "notes/d.md", "retry_of": 2}),
        ("critique", {"batch": True, "model_spec": "m@t=0.2"}),
        ("judge-pairwise:outline", {"bench": "b", "judge": "j", "run_x": 2, "run_y": 3, "order": "yx",
                                    "config_x": "m@t=0.2", "config_y": "m"}),
    ]
    for task, meta in rows:
        db.execute("INSERT INTO runs (started_at, task, model, host, status, output_text, eval_tps, meta)"
                   " VALUES ('2025-01-01T00:00:00', ?, 'm', 'http://h', 'ok', 'text', 12.5, ?)", (task, json.dumps(meta)))
    db.execute("INSERT INTO preferences (created_at, task, run_a, run_b, model_a, model_b, winner)"
               " VALUES ('2025-01-01T00:00:00', 'critique', 3, 4, 'm', 'm', 'a')")
    db.commit()
    db.close()

    with RunLog(path) as log:
        warmup, outline, tui, batch, pairwise = log.iter_all()
        assert [p.winner for p in log.preferences()] == ["a"]
        assert log.drafts() == {}
        new = start(log)  # the migrated file takes new runs
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert warmup.meta.warmup and warmup.meta.engine == EngineInfo("Ollama", "0.5", "http://h")
    assert (warmup.meta.machine, warmup.meta.command) == ("box", "scribe bench")
    assert (outline.meta.draft_hash, outline.meta.repeat, outline.meta.sections, outline.meta.words) == ("d1", 0, 5, 150)
    assert outline.meta.format == {"type": "object"} and not outline.meta.warmup and outline.eval_tps == 12.5
    assert (tui.meta.via, tui.meta.draft, tui.meta.retry_of, tui.meta.compare) == ("tui", "notes/d.md", 2, "A")
    assert (batch.meta.model_spec, batch.meta.extra) == ("m@t=0.2", {"batch": True})
    assert (pairwise.meta.run_x, pairwise.meta.run_y, pairwise.meta.order) == (2, 3, "yx")
    assert pairwise.to_dict()["meta"] == rows[-1][1]  # read as it was written
    assert new == 6


def test_draft_texts_are_kept_once_per_hash(tmp_path: Path) -> None:
    with RunLog(tmp_path / "runs.sqlite") as log:
        log.keep_draft("d1", "# Draft\n\nOne.")
        log.keep_draft("d1", "# Draft\n\nOne.")
        log.keep_draft("d2", "# Draft\n\nTwo.")
        assert log.drafts() == {"d1": "# Draft\n\nOne.", "d2": "# Draft\n\nTwo."}


def test_the_format_sent_is_logged_in_the_meta(tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"sections": {"type": "array", "minItems": 3, "maxItems": 3}}}
    with RunLog(tmp_path / "runs.sqlite") as log:
        run = log.get(start(log, format=schema, meta=RunMeta(via="cli")))
    assert run is not None and run.meta == RunMeta(via="cli", format=schema) and run.input_text == "[user]\nhi"


def test_processes_opening_a_new_log_at_once_all_get_it(tmp_path: Path) -> None:
    # The app and a CLI command, or a bench and a test watching it, may create the log together:
    # one migrates, the others wait for it and find it done.
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    for attempt in range(2):
        path, ready, results = tmp_path / f"runs-{attempt}.sqlite", ctx.Barrier(6), ctx.Queue()
        openers = [ctx.Process(target=_open_together, args=(path, ready, results)) for _ in range(6)]
        for opener in openers:
            opener.start()
        found = sorted(str(results.get(timeout=60)) for _ in openers)
        for opener in openers:
            opener.join()
        assert found == [str(len(MIGRATIONS))] * 6


def _open_together(path: Path, ready: Any, results: Any) -> None:
    ready.wait()
    try:
        with RunLog(path) as log:
            results.put(log._db.execute("PRAGMA user_version").fetchone()[0])
    except Exception as exc:  # noqa: BLE001 - the parent asserts on what each opener saw
        results.put(repr(exc))
