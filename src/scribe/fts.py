"""The keyword half of the index: chunk text in SQLite FTS5, ranked by BM25.

Local Chroma has no keyword search, and a small embedding model can miss an exact name or error
string that a word index finds at once. This store also holds each chunk's text and each file's
filterable fields (tags, date), so results from either half are shown and filtered from one place.
It is kept in step with the same manifest as Chroma (see ``scribe.manifest``).

It also keeps each note's links as written (``scribe.links``), written with its chunks in one
transaction, and the aliases other notes may link to it by. Links are stored unresolved: which note
a link names depends on the other notes, so it is worked out when asked (``scribe.linkgraph``), and
a note appearing or going away changes no stored row.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from scribe.errors import NotesIndexError
from scribe.files import disk_full
from scribe.links import Link, NoteName, name_key
from scribe.manifest import DISK_FULL_HINT, REBUILD_HINT
from scribe.tags import has_tag

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    n INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    heading_path TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_path ON chunks(path);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, content='chunks', content_rowid='n', tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, text) VALUES (new.n, new.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.n, old.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_au AFTER UPDATE OF text ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.n, old.text);
    INSERT INTO chunks_fts(rowid, text) VALUES (new.n, new.text);
END;
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    tags TEXT NOT NULL,
    date TEXT
);
"""
# Version 2: links. ``link_notes`` has a row for each file whose links are stored (and its aliases):
# a file without one was indexed before, and ``scribe.sync`` reads it again.
_LINKS_SCHEMA = """
CREATE TABLE IF NOT EXISTS links (
    n INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    chunk_id TEXT,
    target TEXT NOT NULL,
    name_key TEXT NOT NULL,
    heading TEXT,
    alias TEXT,
    embed INTEGER NOT NULL,
    kind TEXT NOT NULL,
    start_offset INTEGER NOT NULL,
    end_offset INTEGER NOT NULL,
    line INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS links_by_path ON links(path);
CREATE INDEX IF NOT EXISTS links_by_name ON links(name_key);
CREATE TABLE IF NOT EXISTS link_notes (
    path TEXT PRIMARY KEY,
    aliases TEXT NOT NULL
);
"""
# The schema of each version, applied in order from the store's version to the newest.
_MIGRATIONS = (_SCHEMA, _LINKS_SCHEMA)
SCHEMA_VERSION = len(_MIGRATIONS)
_LINK_COLUMNS = "path, chunk_id, target, heading, alias, embed, kind, start_offset, end_offset, line"

# Left out of the OR-ed terms (never out of the whole-query phrase): they match nearly every chunk,
# add almost nothing to BM25 and make the query scan every posting list.
_STOPWORDS = frozenset(
    """a about an and are as at be been but by can could do does did for from had has have how i if
    in into is it its me my of on or our so than that the their them then there these they this to
    was we were what when where which who why will with would you your""".split()
)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as the index holds it: enough to show it and to cite it."""

    id: str
    path: str
    heading_path: str
    ordinal: int
    text: str
    title: str


@dataclass(frozen=True)
class FileRecord:
    """A note's file-level fields that searches filter on. ``date`` is YYYY-MM-DD."""

    path: str
    title: str
    tags: list[str]
    date: str | None


@dataclass(frozen=True)
class ChunkRow:
    """One chunk to write: its id and where it sits in the note."""

    id: str
    heading_path: str
    ordinal: int
    text: str


def iso_date(value: str | None) -> str | None:
    """The YYYY-MM-DD a frontmatter date starts with, or None when it is not a date."""
    if value and _ISO_DATE.match(value):
        return value[:10]
    return None


def match_query(text: str) -> str | None:
    """An FTS5 MATCH expression for free text typed by a user, or None if it has no words.

    Every term is quoted, so FTS5 syntax in the input (``:``, ``-``, ``*``, ``"``, ``AND``, parentheses)
    is just text: ``ERROR: could not serialize access`` or ``claim_idempotency_key`` are searched
    as written. The whole input as one phrase is OR-ed with its terms, so a chunk holding the exact
    string ranks above one holding the same words apart.
    """
    words = [w for w in text.replace("\0", " ").split() if any(ch.isalnum() for ch in w)]
    if not words:
        return None
    terms = [w for w in dict.fromkeys(w.casefold() for w in words) if w not in _STOPWORDS] or [words[0]]
    quoted = [_quote(w) for w in terms]
    if len(words) > 1:
        quoted.insert(0, _quote(" ".join(words)))
    return " OR ".join(quoted)


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


class KeywordStore:
    """``.scribe/fts.sqlite``: chunk text with an FTS5 index, and the files' filterable fields."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"unknown schema version {version}")
            if version < SCHEMA_VERSION:
                for script in _MIGRATIONS[version:]:
                    self._db.executescript(script)
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            hint = DISK_FULL_HINT if disk_full(exc) else REBUILD_HINT
            raise NotesIndexError(f"{path}: the keyword index cannot be read ({exc}); {hint}") from exc

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> KeywordStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing ---------------------------------------------------------------------------------

    def write(
        self, files: Sequence[tuple[FileRecord, Sequence[ChunkRow]]], links: Sequence[tuple[NoteName, Sequence[Link]]] = ()
    ) -> None:
        """Store these files' fields and chunks, and notes' links in place of those they had, in one transaction
        (chunk ids already held are updated)."""
        with self._transaction():
            for name, note_links in links:
                self._db.execute("DELETE FROM links WHERE path = ?", (name.path,))
                self._db.execute(
                    "INSERT INTO link_notes(path, aliases) VALUES (?, ?) ON CONFLICT(path) DO UPDATE SET aliases = excluded.aliases",
                    (name.path, json.dumps(list(name.aliases))),
                )
                self._db.executemany(
                    f"INSERT INTO links(name_key, {_LINK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(name_key(link.target), name.path, link.chunk_id, link.target, link.heading, link.alias, link.embed,
                      link.kind, link.start, link.end, link.line) for link in note_links],
                )
            for record, rows in files:
                self._db.execute(
                    "INSERT INTO files(path, title, tags, date) VALUES (?, ?, ?, ?) ON CONFLICT(path) DO UPDATE"
                    " SET title = excluded.title, tags = excluded.tags, date = excluded.date",
                    (record.path, record.title, json.dumps(record.tags), record.date),
                )
                self._db.executemany(
                    "INSERT INTO chunks(id, path, heading_path, ordinal, text) VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT(id) DO UPDATE SET path = excluded.path, heading_path = excluded.heading_path,"
                    " ordinal = excluded.ordinal, text = excluded.text WHERE text != excluded.text"
                    " OR ordinal != excluded.ordinal OR heading_path != excluded.heading_path",
                    [(row.id, record.path, row.heading_path, row.ordinal, row.text) for row in rows],
                )

    def delete(self, chunk_ids: Iterable[str], paths: Iterable[str] = ()) -> None:
        """Remove chunks by id, and files' fields and links by path, in one transaction."""
        by_path = [(p,) for p in paths]
        with self._transaction():
            self._db.executemany("DELETE FROM chunks WHERE id = ?", [(i,) for i in chunk_ids])
            for table in ("files", "links", "link_notes"):
                self._db.executemany(f"DELETE FROM {table} WHERE path = ?", by_path)

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db, self.path)

    # --- reading ---------------------------------------------------------------------------------

    def chunk_ids(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT id FROM chunks")}

    def file_paths(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT path FROM files")}

    def chunk_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM chunks").fetchone()[0])

    def unlinked_paths(self) -> set[str]:
        """Files whose links the store does not hold: indexed before it kept links."""
        return {row[0] for row in self._db.execute("SELECT path FROM files WHERE path NOT IN (SELECT path FROM link_notes)")}

    def note_names(self) -> list[NoteName]:
        """Every file as link resolution knows it: its path and aliases."""
        rows = self._db.execute("SELECT f.path, coalesce(l.aliases, '[]') FROM files f LEFT JOIN link_notes l ON l.path = f.path")
        return [NoteName(path, tuple(json.loads(aliases))) for path, aliases in rows]

    def links(self, *, paths: Sequence[str] | None = None, name_keys: Iterable[str] | None = None) -> list[Link]:
        """Stored links in file and text order: all, or those in ``paths``, or those whose target's
        ``scribe.links.name_key`` is among ``name_keys``."""
        sql, params = f"SELECT {_LINK_COLUMNS} FROM links", []
        if paths is not None:
            sql += " WHERE path IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(list(paths)))
        elif name_keys is not None:
            sql += " WHERE name_key IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(sorted(name_keys)))
        rows = self._db.execute(sql + " ORDER BY path, start_offset", params)
        return [
            Link(source=path, target=target, heading=heading, alias=alias, embed=bool(embed), kind=kind,
                 start=start, end=end, line=line, chunk_id=chunk_id)
            for path, chunk_id, target, heading, alias, embed, kind, start, end, line in rows
        ]

    def search(self, query: str, limit: int, paths: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """(chunk id, BM25 score, higher is better) for the best ``limit`` matches of free text."""
        expression = match_query(query)
        if expression is None:
            return []
        params: list[object] = [expression]
        if paths is None:
            # Rank inside FTS5 first and join only the top rows: joining every match before sorting
            # doubles the cost of a query whose words are common (measured at 50k chunks).
            sql = (
                "SELECT c.id, r.score FROM (SELECT rowid AS n, -bm25(chunks_fts) AS score FROM chunks_fts"
                " WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts) LIMIT ?) r"
                " JOIN chunks c ON c.n = r.n ORDER BY r.score DESC"
            )
        else:
            sql = (
                "SELECT c.id, -bm25(chunks_fts) FROM chunks_fts JOIN chunks c ON c.n = chunks_fts.rowid"
                " WHERE chunks_fts MATCH ? AND c.path IN (SELECT value FROM json_each(?))"
                " ORDER BY bm25(chunks_fts) LIMIT ?"
            )
            params.append(json.dumps(list(paths)))
        params.append(limit)
        try:
            return [(row[0], float(row[1])) for row in self._db.execute(sql, params)]
        except sqlite3.Error as exc:
            raise NotesIndexError(f"{self.path}: keyword search failed ({exc}); {REBUILD_HINT}") from exc

    def chunks(self, chunk_ids: Sequence[str]) -> dict[str, StoredChunk]:
        """The stored chunks for these ids (ids the store lacks are left out)."""
        rows = self._db.execute(
            "SELECT c.id, c.path, c.heading_path, c.ordinal, c.text, coalesce(f.title, c.path)"
            " FROM chunks c LEFT JOIN files f ON f.path = c.path WHERE c.id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(chunk_ids)),),
        )
        return {row[0]: StoredChunk(*row) for row in rows}

    def file_chunks(self, paths: Sequence[str]) -> list[StoredChunk]:
        """Every stored chunk of these files, by file and position."""
        rows = self._db.execute(
            "SELECT c.id, c.path, c.heading_path, c.ordinal, c.text, coalesce(f.title, c.path) FROM chunks c"
            " LEFT JOIN files f ON f.path = c.path WHERE c.path IN (SELECT value FROM json_each(?)) ORDER BY c.path, c.ordinal",
            (json.dumps(list(paths)),),
        )
        return [StoredChunk(*row) for row in rows]

    def matching_paths(self, tags: Sequence[str] = (), since: str | None = None) -> list[str]:
        """Paths of the files that carry every tag in ``tags`` and are dated on or after ``since``.

        Tags match as Obsidian's do (``scribe.tags.has_tag``: any case, ``a`` takes ``a/b`` too),
        compared here rather than in SQL, whose ``lower`` knows only ASCII. A note without a date in
        its frontmatter has no date to compare, so ``since`` leaves it out.
        """
        sql = "SELECT path, tags FROM files WHERE 1"
        params: list[object] = []
        if since is not None:
            sql += " AND date >= ?"
            params.append(since)
        rows = self._db.execute(sql + " ORDER BY path", params)
        return [path for path, held in rows if all(has_tag(json.loads(held), tag) for tag in tags)]


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error; SQLite errors become NotesIndexError."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self._path = path

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is None:
            self._db.execute("COMMIT")
            return
        self._db.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error) and disk_full(exc):
            raise NotesIndexError(f"{self._path}: cannot write the keyword index ({exc}); {DISK_FULL_HINT}") from exc
        if isinstance(exc, sqlite3.Error):
            raise NotesIndexError(f"{self._path}: cannot write the keyword index ({exc}); {REBUILD_HINT}") from exc
