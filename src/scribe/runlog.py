"""The run log: one SQLite row per model call, so the author can compare models later.

A row is written when the call starts (status "running") and completed when it ends, so a crash or
a kill still leaves a trace of the call and whatever text had streamed. The schema moves forward
through the numbered migrations below; `PRAGMA user_version` records how far a file has come.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scribe.errors import RunLogError
from scribe.files import disk_full


def _m001_runs(db: sqlite3.Connection) -> None:
    db.execute(
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            task TEXT NOT NULL,
            model TEXT NOT NULL,
            model_digest TEXT,
            host TEXT NOT NULL,
            options TEXT NOT NULL DEFAULT '{}',
            prompt_name TEXT,
            prompt_version TEXT,
            input_text TEXT NOT NULL DEFAULT '',
            output_text TEXT NOT NULL DEFAULT '',
            sources TEXT NOT NULL DEFAULT '[]',
            ttft_ms REAL,
            wall_ms REAL,
            total_duration_ns INTEGER,
            load_duration_ns INTEGER,
            prompt_eval_count INTEGER,
            prompt_eval_duration_ns INTEGER,
            eval_count INTEGER,
            eval_duration_ns INTEGER,
            prompt_tps REAL,
            eval_tps REAL,
            done_reason TEXT,
            status TEXT NOT NULL,
            error TEXT,
            meta TEXT NOT NULL DEFAULT '{}'
        )
        """
    )
    db.execute("CREATE INDEX runs_started ON runs(started_at)")
    db.execute("CREATE INDEX runs_model_task ON runs(model, task)")


def _m002_preferences(db: sqlite3.Connection) -> None:
    """Blind A/B picks between two runs of the same request (the TUI's compare mode)."""
    db.execute(
        """
        CREATE TABLE preferences (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at TEXT NOT NULL,
            task TEXT NOT NULL,
            run_a INTEGER NOT NULL REFERENCES runs(id),
            run_b INTEGER NOT NULL REFERENCES runs(id),
            model_a TEXT NOT NULL,
            model_b TEXT NOT NULL,
            winner TEXT NOT NULL CHECK (winner IN ('a', 'b', 'tie')),
            source TEXT NOT NULL DEFAULT 'tui'
        )
        """
    )


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_m001_runs, _m002_preferences]


def migrate(db: sqlite3.Connection) -> int:
    """Apply the migrations this file has not seen yet, each in its own transaction."""
    current = db.execute("PRAGMA user_version").fetchone()[0]
    if current > len(MIGRATIONS):
        raise RunLogError(
            f"run log schema version {current} is newer than this scribe understands "
            f"({len(MIGRATIONS)}); upgrade scribe"
        )
    for version, step in enumerate(MIGRATIONS[current:], start=current + 1):
        with db:
            step(db)
            db.execute(f"PRAGMA user_version = {version}")
    return len(MIGRATIONS)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class RunStart:
    """What is known about a call before it runs."""

    task: str
    model: str
    host: str
    input_text: str
    options: dict[str, Any] = field(default_factory=dict)
    model_digest: str | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    sources: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunRecord:
    """One logged call, as read back."""

    id: int
    started_at: str
    finished_at: str | None
    task: str
    model: str
    model_digest: str | None
    host: str
    options: dict[str, Any]
    prompt_name: str | None
    prompt_version: str | None
    input_text: str
    output_text: str
    sources: list[dict[str, Any]]
    ttft_ms: float | None
    wall_ms: float | None
    total_duration_ns: int | None
    load_duration_ns: int | None
    prompt_eval_count: int | None
    prompt_eval_duration_ns: int | None
    eval_count: int | None
    eval_duration_ns: int | None
    prompt_tps: float | None
    eval_tps: float | None
    done_reason: str | None
    status: str
    error: str | None
    meta: dict[str, Any]

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RunRecord:
        data = dict(row)
        for key in ("options", "sources", "meta"):
            data[key] = json.loads(data[key] or ("[]" if key == "sources" else "{}"))
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Preference:
    """The author's blind pick between two runs of one request."""

    task: str
    run_a: int
    run_b: int
    model_a: str
    model_b: str
    winner: str
    source: str = "tui"
    id: int | None = None
    created_at: str | None = None

    def __post_init__(self) -> None:
        if self.winner not in ("a", "b", "tie"):
            raise ValueError(f"winner must be 'a', 'b' or 'tie', not {self.winner!r}")


# Columns a finished call fills in; the values come from models.CallResult.
FINISH_COLUMNS = (
    "output_text", "ttft_ms", "wall_ms", "total_duration_ns", "load_duration_ns",
    "prompt_eval_count", "prompt_eval_duration_ns", "eval_count", "eval_duration_ns",
    "prompt_tps", "eval_tps", "done_reason", "status", "error",
)


def _open_error(path: Path, exc: sqlite3.DatabaseError) -> RunLogError:
    """Only a damaged file should be moved aside; a read-only folder or a full disk needs another fix."""
    if not os.access(path.parent, os.W_OK):  # SQLite says "unable to open database file" here too
        return RunLogError(f"{path}: cannot write the run log ({exc}); {path.parent} is read-only: make the workspace writable")
    if disk_full(exc, path.parent):
        return RunLogError(f"{path}: cannot write the run log ({exc}); the disk is full: free some space and try again")
    return RunLogError(
        f"{path}: run log unreadable ({exc}); move the file aside to start a new log (scribe never deletes it for you)"
    )


class RunLog:
    """The workspace's run log at `.scribe/runs.sqlite` (WAL, so readers never block the writer)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()  # one connection shared by a batch's worker threads
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            migrate(self._db)
        except sqlite3.DatabaseError as exc:
            raise _open_error(path, exc) from exc
        except OSError as exc:
            raise RunLogError(f"{path}: cannot open run log ({exc})") from exc

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _write(self, sql: str, params: tuple[Any, ...]) -> sqlite3.Cursor:
        try:
            with self._lock, self._db:
                return self._db.execute(sql, params)
        except sqlite3.DatabaseError as exc:
            raise RunLogError(f"{self.path}: cannot write run log ({exc})") from exc

    def start(self, run: RunStart) -> int:
        """Record a call as running; returns its id."""
        cur = self._write(
            "INSERT INTO runs (started_at, task, model, model_digest, host, options, prompt_name,"
            " prompt_version, input_text, sources, meta, status) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                utc_now(), run.task, run.model, run.model_digest, run.host,
                json.dumps(run.options, sort_keys=True), run.prompt_name, run.prompt_version,
                run.input_text, json.dumps(run.sources), json.dumps(run.meta), "running",
            ),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def finish(self, run_id: int, values: dict[str, Any]) -> None:
        """Complete a call's row with its outcome (keys from FINISH_COLUMNS)."""
        unknown = set(values) - set(FINISH_COLUMNS)
        if unknown:
            raise ValueError(f"not run log columns: {sorted(unknown)}")
        cols = ", ".join(f"{key} = ?" for key in values)
        self._write(
            f"UPDATE runs SET finished_at = ?, {cols} WHERE id = ?",
            (utc_now(), *values.values(), run_id),
        )

    def update_meta(self, run_id: int, meta: dict[str, Any]) -> None:
        self._write("UPDATE runs SET meta = ? WHERE id = ?", (json.dumps(meta), run_id))

    def get(self, run_id: int) -> RunRecord | None:
        row = self._db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return RunRecord.from_row(row) if row else None

    def recent(
        self,
        limit: int = 20,
        *,
        model: str | None = None,
        task: str | None = None,
        since: str | None = None,
    ) -> list[RunRecord]:
        """Newest first, optionally filtered by model, task and start time (ISO prefix)."""
        where, params = self._filters(model=model, task=task, since=since)
        rows = self._db.execute(
            f"SELECT * FROM runs {where} ORDER BY id DESC LIMIT ?", (*params, limit)
        ).fetchall()
        return [RunRecord.from_row(row) for row in rows]

    def iter_all(
        self, *, model: str | None = None, task: str | None = None, since: str | None = None
    ) -> Iterator[RunRecord]:
        """Oldest first, for reports over the whole log."""
        where, params = self._filters(model=model, task=task, since=since)
        for row in self._db.execute(f"SELECT * FROM runs {where} ORDER BY id", params):
            yield RunRecord.from_row(row)

    @staticmethod
    def _filters(**filters: str | None) -> tuple[str, tuple[str, ...]]:
        clauses, params = [], []
        for column, value in filters.items():
            if value is None:
                continue
            clauses.append("started_at >= ?" if column == "since" else f"{column} = ?")
            params.append(value)
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", tuple(params)

    def add_preference(self, pref: Preference) -> int:
        """Store the author's pick between two runs; `winner` is 'a', 'b' or 'tie'."""
        cur = self._write(
            "INSERT INTO preferences (created_at, task, run_a, run_b, model_a, model_b, winner, source)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (utc_now(), pref.task, pref.run_a, pref.run_b, pref.model_a, pref.model_b, pref.winner, pref.source),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def preferences(self, *, since: str | None = None) -> list[Preference]:
        where, params = ("WHERE created_at >= ?", (since,)) if since else ("", ())
        rows = self._db.execute(f"SELECT * FROM preferences {where} ORDER BY id", params).fetchall()
        return [Preference(**{k: row[k] for k in Preference.__dataclass_fields__}) for row in rows]
