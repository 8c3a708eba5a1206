"""Writing the author's files safely: atomically, and never over their words without a backup."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

from scribe.errors import WriteError


def disk_full(exc: BaseException, folder: Path | None = None) -> bool:
    """True when ``exc`` says the disk is full (as an OSError, or in SQLite's or Chroma's words), or when
    ``folder``'s disk has under 1 MiB left (SQLite reports a failed WAL setup as a plain "disk I/O error")."""
    if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or "disk is full" in str(exc):
        return True
    try:
        return folder is not None and shutil.disk_usage(folder).free < 1 << 20
    except OSError:
        return False


def atomic_write(path: Path, text: str) -> None:
    """Write `text` to `path` so a reader (or a crash) sees the old file or the new one, never half."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            shutil.copymode(path, tmp)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        hint = "; free some space and try again" if disk_full(exc) else ""
        raise WriteError(f"{path}: cannot write ({exc.strerror}){hint}; nothing was changed") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def backup(path: Path) -> Path:
    """Copy `path` to a timestamped `.bak` beside it (earlier backups are kept) and return the copy."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.{stamp}.bak")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.{stamp}-{n}.bak")
        n += 1
    try:
        shutil.copy2(path, target)
    except OSError as exc:
        target.unlink(missing_ok=True)  # a full disk leaves half a copy
        raise WriteError(f"{path}: cannot make a backup ({exc.strerror}); the file was not changed") from exc
    return target
