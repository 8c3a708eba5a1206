"""The run log: migrations, one row per call, filters, and a damaged file reported, never deleted."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from scribe.errors import RunLogError
from scribe.runlog import MIGRATIONS, RunLog, RunStart


def start(log: RunLog, **overrides: object) -> int:
    fields = {"task": "ask", "model": "gemma3:270m", "host": "http://127.0.0.1:1", "input_text": "hi"}
    fields.update(overrides)
    return log.start(RunStart(**fields))  # type: ignore[arg-type]


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
                       sources=[{"path": "notes/a.md", "heading": "A > B"}], meta={"bench": "b1"})
        running = log.get(run_id)
        assert running is not None and running.status == "running" and running.finished_at is None
        log.finish(run_id, {"status": "ok", "output_text": "done", "eval_count": 10, "eval_duration_ns": 10**9,
                            "eval_tps": 10.0, "ttft_ms": 12.5})
        run = log.get(run_id)
    assert run is not None
    assert (run.status, run.output_text, run.eval_count, run.eval_tps, run.ttft_ms) == ("ok", "done", 10, 10.0, 12.5)
    assert run.options == {"seed": 1} and run.meta == {"bench": "b1"}
    assert run.sources == [{"path": "notes/a.md", "heading": "A > B"}]
    assert (run.prompt_name, run.prompt_version) == ("critique", "abc123")
    assert run.finished_at is not None


def test_finish_rejects_unknown_columns(tmp_path: Path) -> None:
    with RunLog(tmp_path / "runs.sqlite") as log:
        run_id = start(log)
        with pytest.raises(ValueError, match="not run log columns"):
            log.finish(run_id, {"status": "ok", "id": 4})


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
        one.finish(b, {"status": "ok"})
        two.finish(a, {"status": "failed", "error": "x"})
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
