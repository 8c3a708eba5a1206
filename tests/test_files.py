"""Atomic writes and backups of the author's files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scribe.errors import WriteError
from scribe.files import atomic_write, backup


def test_atomic_write_replaces_and_keeps_mode(tmp_path: Path) -> None:
    path = tmp_path / "draft.md"
    path.write_text("old")
    os.chmod(path, 0o640)
    atomic_write(path, "new words")
    assert path.read_text() == "new words"
    assert oct(path.stat().st_mode & 0o777) == oct(0o640)
    assert [p.name for p in tmp_path.iterdir()] == ["draft.md"]


def test_backups_never_overwrite_each_other(tmp_path: Path) -> None:
    path = tmp_path / "draft.md"
    path.write_text("v1")
    first = backup(path)
    path.write_text("v2")
    second = backup(path)
    assert first != second and first.read_text() == "v1" and second.read_text() == "v2"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only permissions")
def test_unwritable_folder_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "draft.md"
    path.write_text("keep me")
    os.chmod(tmp_path, 0o500)
    try:
        with pytest.raises(WriteError, match="nothing was changed"):
            atomic_write(path, "lost?")
    finally:
        os.chmod(tmp_path, 0o700)
    assert path.read_text() == "keep me"
