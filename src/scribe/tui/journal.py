"""The edit journal: what the editor holds, written a few hundred milliseconds after typing, so a
crash (kill -9, a closed terminal, a power cut after the OS wrote it) never loses more than that.

Autosave waits for a pause (seconds) and writes the author's file; the journal is written sooner
and beside the workspace state (`.scribe/journal/`), never over the author's file. A clean save
removes it. On the next open, a journal whose text differs from the file is a crash's leftover:
the app offers to recover it. A process crash keeps what was written (the page cache survives it),
so the journal is replaced atomically but not fsynced: typing must not wait for the disk.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

JOURNAL_DIR = "journal"


@dataclass(frozen=True)
class JournalEntry:
    path: str  # the file edited, resolved
    text: str  # what the editor held
    written_at: str  # ISO time, local


def journal_file(state_dir: Path, path: Path) -> Path:
    """One journal file per edited file, named by a hash of its resolved path."""
    key = hashlib.sha1(str(path.resolve()).encode("utf-8")).hexdigest()[:16]
    return state_dir / JOURNAL_DIR / f"{key}.json"


def write_journal(state_dir: Path, path: Path, text: str) -> None:
    target = journal_file(state_dir, path)
    target.parent.mkdir(parents=True, exist_ok=True)
    entry = JournalEntry(str(path.resolve()), text, datetime.now().isoformat(timespec="seconds"))
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(entry)), encoding="utf-8")
    os.replace(tmp, target)


def read_journal(state_dir: Path, path: Path) -> JournalEntry | None:
    """The journal for `path`, or None (none, unreadable, or another file's after a hash clash)."""
    try:
        data = json.loads(journal_file(state_dir, path).read_text(encoding="utf-8"))
        entry = JournalEntry(str(data["path"]), str(data["text"]), str(data["written_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return entry if entry.path == str(path.resolve()) else None


def remove_journal(state_dir: Path, path: Path) -> None:
    journal_file(state_dir, path).unlink(missing_ok=True)


def recovered_path(path: Path, now: datetime | None = None) -> Path:
    """Where "keep both" puts the recovered text: beside the file, named so it sorts next to it."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return path.with_name(f"{path.stem}.recovered-{stamp}{path.suffix}")


def text_diff(disk: str, journal: str, name: str) -> str:
    """A unified diff from the file on disk to the journal's text, for the recovery dialog."""
    lines = difflib.unified_diff(disk.splitlines(keepends=True), journal.splitlines(keepends=True),
                                 f"{name} (on disk)", f"{name} (recovered)", n=2)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
