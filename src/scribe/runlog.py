"""The run log: one SQLite row per model call, so the author can compare models later.

A row is written when the call starts (status "running") and completed when it ends, so a crash or
a kill still leaves a trace of the call and whatever text had streamed. The schema moves forward
through the numbered migrations below; `PRAGMA user_version` records how far a file has come.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scribe.errors import RunLogError
from scribe.files import disk_full
from scribe.runmeta import RunMeta


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


def _m003_drafts(db: sqlite3.Connection) -> None:
    """The text of each draft a task worked on, once per version (runs name it by `meta.draft_hash`),
    so a report can check a critique's quotes against the draft without parsing it out of a prompt."""
    db.execute("CREATE TABLE drafts (hash TEXT PRIMARY KEY, text TEXT NOT NULL, first_seen TEXT NOT NULL)")


def _m004_decisions(db: sqlite3.Connection) -> None:
    """The author's verdict on each edit a run proposed (review mode, `scribe review`): what the author
    keeps is a measure of the model that proposed it. `hunk_id` is the hunk's index among that run's
    edits; the texts are kept as proposed, so a report needs neither the draft nor the run's output."""
    db.execute(
        """
        CREATE TABLE decisions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at TEXT NOT NULL,
            run_id INTEGER NOT NULL REFERENCES runs(id),
            hunk_id INTEGER NOT NULL,
            draft_path TEXT NOT NULL,
            old_text TEXT NOT NULL,
            new_text TEXT NOT NULL,
            decision TEXT NOT NULL CHECK (decision IN ('accept', 'reject', 'edit')),
            edited_text TEXT CHECK ((edited_text IS NOT NULL) = (decision = 'edit')),
            source TEXT NOT NULL DEFAULT 'tui'
        )
        """
    )
    db.execute("CREATE INDEX decisions_run ON decisions(run_id)")


def _m005_conversations(db: sqlite3.Connection) -> None:
    """Conversations (scribe.conversations): every run is a turn of one. `parent_run_id` is the run a
    follow-up continues (a fork's first turn names a run of another conversation), and
    `turn_messages` the JSON messages the run added: a first turn's whole prompt, a follow-up's user
    message. Runs logged before become first turns of their own (12 random hex digits, as
    `new_conversation_id`), so they are listed and continued like any; they have no messages stored."""
    for column in ("conversation_id TEXT", "turn INTEGER", "parent_run_id INTEGER REFERENCES runs(id)", "turn_messages TEXT"):
        db.execute(f"ALTER TABLE runs ADD COLUMN {column}")
    db.execute("UPDATE runs SET conversation_id = lower(hex(randomblob(6))), turn = 1")
    db.execute("CREATE UNIQUE INDEX runs_conversation ON runs(conversation_id, turn)")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _m001_runs, _m002_preferences, _m003_drafts, _m004_decisions, _m005_conversations,
]


def _use_wal(db: sqlite3.Connection, wait_s: float = 30.0) -> None:
    """Switch the log to WAL (readers never block the writer). SQLite answers "database is locked"
    at once, without waiting, when another process is switching a new file too: try again."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _schema_version(db: sqlite3.Connection) -> int:
    current: int = db.execute("PRAGMA user_version").fetchone()[0]
    if current > len(MIGRATIONS):
        raise RunLogError(
            f"run log schema version {current} is newer than this scribe understands "
            f"({len(MIGRATIONS)}); upgrade scribe"
        )
    return current


def migrate(db: sqlite3.Connection) -> int:
    """Apply the migrations this file has not seen yet, in one write transaction.

    The connection autocommits (isolation_level=None), so the transaction is explicit: two processes
    opening a new or older log at once (the app and a CLI command, a bench and the test watching it)
    would otherwise both see the old version and the second would fail half-way ("table runs
    already exists"). BEGIN IMMEDIATE makes the second wait, then it reads the version again."""
    if _schema_version(db) == len(MIGRATIONS):
        return len(MIGRATIONS)
    db.execute("BEGIN IMMEDIATE")
    try:
        current = _schema_version(db)
        for version, step in enumerate(MIGRATIONS[current:], start=current + 1):
            step(db)
            db.execute(f"PRAGMA user_version = {version}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return len(MIGRATIONS)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_conversation_id() -> str:
    """12 hex digits: short enough to type (a unique prefix will do), and at 48 bits a log of a
    million conversations is unlikely to draw the same one twice (the unique index would refuse it)."""
    return secrets.token_hex(6)


@dataclass(frozen=True)
class FollowUp:
    """Where a follow-up call goes in its conversation (scribe.conversations makes one)."""

    conversation_id: str
    turn: int
    parent_run_id: int
    text: str  # the author's message, stored as the one message this turn adds


@dataclass
class CallRequest:
    """A call before it runs: what to ask which model, and what the log records about it.

    `calls.run_call` sends it and `RunLog.start` writes it; the host and the model's digest are
    the client's, added when the call is made.
    """

    task: str
    model: str
    messages: Sequence[dict[str, str]]
    options: dict[str, Any] = field(default_factory=dict)
    format: str | dict[str, Any] | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    sources: list[dict[str, Any]] = field(default_factory=list)
    meta: RunMeta = field(default_factory=RunMeta)
    follows: FollowUp | None = None  # None: the call starts a conversation of its own

    @property
    def input_text(self) -> str:
        """The prompt as the run log stores it: each message under its role."""
        return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in self.messages)


@dataclass(kw_only=True)
class CallTimings:
    """Timings of one call: the client's own clock plus the durations Ollama reports (nanoseconds).
    Declared once: models.CallMetrics measures them, and they are run log columns (RunOutcome)."""

    ttft_ms: float | None = None
    wall_ms: float | None = None
    total_duration_ns: int | None = None
    load_duration_ns: int | None = None
    prompt_eval_count: int | None = None
    prompt_eval_duration_ns: int | None = None
    eval_count: int | None = None
    eval_duration_ns: int | None = None
    done_reason: str | None = None


@dataclass(kw_only=True)
class RunOutcome(CallTimings):
    """How a call ended: the columns `RunLog.finish` fills (models.CallResult.log_values makes one)."""

    status: str  # "ok", "failed" or "cancelled" ("running" until the row is finished)
    output_text: str = ""
    error: str | None = None
    prompt_tps: float | None = None
    eval_tps: float | None = None


FINISH_COLUMNS = tuple(f.name for f in fields(RunOutcome))


@dataclass(kw_only=True)
class RunRecord(RunOutcome):
    """One logged call, as read back: what started it, then its outcome (a running call has none yet)."""

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
    sources: list[dict[str, Any]]
    meta: RunMeta
    # The run's place in its conversation (scribe.conversations); all None for a run logged before them.
    conversation_id: str | None = None
    turn: int | None = None
    parent_run_id: int | None = None
    turn_messages: list[dict[str, str]] | None = None  # the messages this run added to the conversation

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RunRecord:
        data = dict(row)
        data["options"] = json.loads(data["options"] or "{}")
        data["sources"] = json.loads(data["sources"] or "[]")
        data["meta"] = RunMeta.from_json(json.loads(data["meta"] or "{}"))
        data["turn_messages"] = json.loads(data["turn_messages"]) if data.get("turn_messages") else None
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "meta": self.meta.to_json()}


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


DECISIONS = ("accept", "reject", "edit")


@dataclass
class Decision:
    """The author's verdict on one proposed edit (a hunk of run `run_id`'s output).

    'edit' means accepted with changes: `edited_text` is what went into the draft instead of
    `new_text`, and it counts as kept, like 'accept'.
    """

    run_id: int
    hunk_id: int
    draft_path: str
    old_text: str
    new_text: str
    decision: str
    edited_text: str | None = None
    source: str = "tui"  # or "cli" (scribe review)
    id: int | None = None
    created_at: str | None = None

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise ValueError(f"decision must be 'accept', 'reject' or 'edit', not {self.decision!r}")
        if (self.edited_text is not None) != (self.decision == "edit"):
            raise ValueError("edited_text goes with an 'edit' decision, and only with one")

    @property
    def kept(self) -> bool:
        """Whether the edit went into the draft, as proposed or changed."""
        return self.decision != "reject"


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
            _use_wal(self._db)
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

    def start(self, request: CallRequest, *, host: str, model_digest: str | None = None) -> int:
        """Record a call as running; returns its id. The format sent goes in the meta: a task's
        schema is made per input (tasks.task_format), so it is part of what was asked. A call that
        follows no other starts a conversation: turn 1, adding all its messages."""
        meta = replace(request.meta, format=request.format)
        follows = request.follows
        if follows is None:
            place: tuple[Any, ...] = (new_conversation_id(), 1, None, list(request.messages))
        else:
            place = (follows.conversation_id, follows.turn, follows.parent_run_id, [{"role": "user", "content": follows.text}])
        cur = self._write(
            "INSERT INTO runs (started_at, task, model, model_digest, host, options, prompt_name,"
            " prompt_version, input_text, sources, meta, status, conversation_id, turn, parent_run_id, turn_messages)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                utc_now(), request.task, request.model, model_digest, host,
                json.dumps(request.options, sort_keys=True), request.prompt_name, request.prompt_version,
                request.input_text, json.dumps(request.sources), json.dumps(meta.to_json()), "running",
                *place[:3], json.dumps(place[3]),
            ),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def finish(self, run_id: int, outcome: RunOutcome) -> None:
        """Complete a call's row with its outcome."""
        cols = ", ".join(f"{name} = ?" for name in FINISH_COLUMNS)
        values = asdict(outcome)
        self._write(
            f"UPDATE runs SET finished_at = ?, {cols} WHERE id = ?",
            (utc_now(), *(values[name] for name in FINISH_COLUMNS), run_id),
        )

    def keep_draft(self, draft_hash: str, text: str) -> None:
        """Store a draft's text under its hash, once: every run on that version names it by the hash."""
        self._write("INSERT OR IGNORE INTO drafts (hash, text, first_seen) VALUES (?,?,?)", (draft_hash, text, utc_now()))

    def draft_text(self, draft_hash: str | None) -> str | None:
        """One kept draft text by its hash (None: not kept, or no hash)."""
        row = self._db.execute("SELECT text FROM drafts WHERE hash = ?", (draft_hash,)).fetchone() if draft_hash else None
        return row[0] if row else None

    def drafts(self) -> dict[str, str]:
        """Every draft text the log keeps, by hash."""
        return dict(self._db.execute("SELECT hash, text FROM drafts").fetchall())

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

    def chain(self, run_id: int) -> list[RunRecord]:
        """The run and the runs it follows, back to its conversation's first turn: first turn first."""
        rows = self._db.execute(
            "WITH RECURSIVE chain(id, depth) AS (SELECT id, 0 FROM runs WHERE id = ?"
            " UNION ALL SELECT runs.parent_run_id, chain.depth + 1 FROM runs JOIN chain ON runs.id = chain.id"
            " WHERE runs.parent_run_id IS NOT NULL)"
            " SELECT runs.* FROM chain JOIN runs ON runs.id = chain.id ORDER BY chain.depth DESC",
            (run_id,),
        ).fetchall()
        return [RunRecord.from_row(row) for row in rows]

    def last_turn(self, conversation_id: str) -> RunRecord | None:
        """A conversation's newest turn (its own rows only: a fork's inherited turns are the original's)."""
        row = self._db.execute(
            "SELECT * FROM runs WHERE conversation_id = ? ORDER BY turn DESC LIMIT 1", (conversation_id,)
        ).fetchone()
        return RunRecord.from_row(row) if row else None

    def conversation_ids(self, prefix: str, limit: int = 2) -> list[str]:
        """Conversation ids starting with `prefix` (hex digits: nothing to escape for LIKE)."""
        rows = self._db.execute(
            "SELECT DISTINCT conversation_id FROM runs WHERE conversation_id LIKE ? || '%' LIMIT ?", (prefix, limit)
        ).fetchall()
        return [row[0] for row in rows]

    def conversation_heads(self, *, draft: str | None = None, limit: int = 50) -> list[RunRecord]:
        """Each conversation's newest turn, newest first: those about `draft` (RunMeta.draft) when
        given. A conversation whose newest turn is a bench item, a warm-up or a judge call is the
        benchmark's, not the author's, and is left out; so is a critique's invalid first answer,
        whose retry stands in for it."""
        where = "" if draft is None else " AND json_extract(meta, '$.draft') = ?"
        rows = self._db.execute(
            "SELECT * FROM runs r WHERE conversation_id IS NOT NULL AND NOT EXISTS"
            " (SELECT 1 FROM runs n WHERE n.conversation_id = r.conversation_id AND n.turn > r.turn)"
            " AND json_extract(meta, '$.bench') IS NULL AND json_extract(meta, '$.judge') IS NULL"
            " AND json_extract(meta, '$.warmup') IS NULL AND r.id NOT IN"
            " (SELECT json_extract(meta, '$.retry_of') FROM runs WHERE json_extract(meta, '$.retry_of') IS NOT NULL)"
            f"{where} ORDER BY id DESC LIMIT ?",
            (*(() if draft is None else (draft,)), limit),
        ).fetchall()
        return [RunRecord.from_row(row) for row in rows]

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

    def add_decision(self, decision: Decision) -> int:
        """Store the author's verdict on one proposed edit; returns its id."""
        d = decision
        cur = self._write(
            "INSERT INTO decisions (created_at, run_id, hunk_id, draft_path, old_text, new_text, decision, edited_text, source)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            (utc_now(), d.run_id, d.hunk_id, d.draft_path, d.old_text, d.new_text, d.decision, d.edited_text, d.source),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def decisions(self, *, since: str | None = None, run_id: int | None = None) -> list[Decision]:
        """Oldest first, optionally since a time (ISO prefix) or for one run's edits."""
        clauses = [(c, v) for c, v in (("created_at >= ?", since), ("run_id = ?", run_id)) if v is not None]
        where = ("WHERE " + " AND ".join(c for c, _ in clauses)) if clauses else ""
        rows = self._db.execute(f"SELECT * FROM decisions {where} ORDER BY id", tuple(v for _, v in clauses)).fetchall()
        return [Decision(**{k: row[k] for k in Decision.__dataclass_fields__}) for row in rows]
