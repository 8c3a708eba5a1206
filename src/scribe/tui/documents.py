"""The draft being edited, as data: its file on disk, its frontmatter, its sections (no Textual here).

The editor holds the whole file (frontmatter included); the frontmatter is split and the title
found by `scribe.notes`, as for the CLI and the index. The writing tasks work on the body, so
offsets the core returns (critique quotes, sections) are body offsets: `EditorText` maps them to
editor offsets and (row, column) locations. `DraftFile` reads and writes the file so that a change
made on disk by someone else is noticed instead of overwritten.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from scribe.chunking import heading_sections
from scribe.errors import ScribeError
from scribe.notes import note_title, split_frontmatter

NOTE_SUFFIXES = frozenset({".md", ".markdown", ".txt"})
BOM = "\ufeff"


class FileConflict(ScribeError):
    """The file changed on disk since it was opened or last saved."""


class NotAText(ScribeError):
    """The file cannot be edited as text."""


# --- the text in the editor ---------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What a task works on: the whole draft, one section, or a selection (editor offsets)."""

    kind: str  # "draft" | "section" | "selection"
    start: int
    end: int
    heading: str | None = None

    @property
    def label(self) -> str:
        if self.kind == "section":
            return f"section “{self.heading}”"
        return "selection" if self.kind == "selection" else "whole draft"


class EditorText:
    """A snapshot of the editor's text (newlines as LF) with its frontmatter split off."""

    def __init__(self, text: str, path: Path | None = None) -> None:
        self.text = text
        self.path = path
        self.metadata, self.body = split_frontmatter(text, suffix=path.suffix if path else ".md")
        self.body_start = len(text) - len(self.body)  # the body is always a suffix of the text

    @classmethod
    def from_lines(cls, lines: list[str], path: Path | None = None) -> EditorText:
        return cls("\n".join(lines), path)

    @property
    def title(self) -> str:
        return note_title(self.metadata, self.body, self.path.stem if self.path else "Untitled")

    # offsets <-> locations
    def location(self, offset: int) -> tuple[int, int]:
        """(row, column) of an editor offset."""
        offset = max(0, min(offset, len(self.text)))
        row = self.text.count("\n", 0, offset)
        line_start = self.text.rfind("\n", 0, offset) + 1
        return row, offset - line_start

    def offset(self, location: tuple[int, int]) -> int:
        row, column = location
        start = 0
        for _ in range(row):
            nl = self.text.find("\n", start)
            if nl < 0:
                return len(self.text)
            start = nl + 1
        line_end = self.text.find("\n", start)
        line_end = len(self.text) if line_end < 0 else line_end
        return min(start + column, line_end)

    def body_span_to_editor(self, span: tuple[int, int]) -> tuple[int, int]:
        return span[0] + self.body_start, span[1] + self.body_start

    # sections
    def section_at(self, offset: int) -> Scope | None:
        """The innermost headed section holding `offset` (subsections included), or None."""
        body_offset = offset - self.body_start
        if body_offset < 0:
            return None
        sections = heading_sections(self.body)
        for i, section in enumerate(sections):
            inside = section.start <= body_offset < section.end or (
                body_offset == len(self.body) and section.end == len(self.body)
            )
            if inside and section.heading is not None:
                end = next((s.start for s in sections[i + 1 :] if 0 < s.level <= section.level), len(self.body))
                return Scope("section", section.start + self.body_start, end + self.body_start, section.heading)
        return None

    def draft_scope(self) -> Scope:
        return Scope("draft", self.body_start, len(self.text))


# --- the file on disk -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DiskState:
    mtime_ns: int
    size: int
    sha256: str

    @classmethod
    def of(cls, path: Path, raw: bytes | None = None) -> DiskState:
        stat = path.stat()
        raw = path.read_bytes() if raw is None else raw
        return cls(stat.st_mtime_ns, stat.st_size, hashlib.sha256(raw).hexdigest())


def decode(raw: bytes, path: Path) -> tuple[str, bool]:
    """(text, had_bom). Binary or non-UTF-8 files are refused rather than mangled."""
    if b"\0" in raw[:8192]:
        raise NotAText(f"{path.name}: a binary file; scribe edits text notes only")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotAText(
            f"{path.name}: not UTF-8 text (byte {exc.start}); convert it with `iconv -t utf-8` to edit it here"
        ) from exc
    return (text[1:], True) if text.startswith(BOM) else (text, False)


class DraftFile:
    """One file the editor holds: what was last read from or written to disk, to detect outside changes."""

    def __init__(self, path: Path, text: str, state: DiskState | None, bom: bool = False) -> None:
        self.path = path
        self.saved_text = text
        self.state = state
        self.bom = bom

    @classmethod
    def open(cls, path: Path) -> DraftFile:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ScribeError(f"{path}: cannot read ({exc.strerror}); check the file's permissions") from exc
        text, bom = decode(raw, path)
        return cls(path, text, DiskState.of(path, raw), bom)

    @classmethod
    def new(cls, path: Path, text: str) -> DraftFile:
        return cls(path, text, None)

    def disk_changed(self) -> bool:
        """True when the file on disk is no longer what this editor last read or wrote."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return self.state is not None
        if self.state is None:
            return True  # created by someone else since we started a new file here
        if stat.st_mtime_ns == self.state.mtime_ns and stat.st_size == self.state.size:
            return False
        try:
            now = DiskState.of(self.path)
        except OSError:
            return True
        if now.sha256 == self.state.sha256:
            self.state = now  # touched, not changed
            return False
        return True

    def read_disk(self) -> str:
        text, _ = decode(self.path.read_bytes(), self.path)
        return text

    def save(self, text: str, *, force: bool = False) -> bool:
        """Write `text` atomically; False when there was nothing to write. Raises FileConflict when
        the file changed on disk (unless `force`, which first keeps their version as a .bak)."""
        from scribe.files import atomic_write, backup

        if text == self.saved_text:
            return False  # nothing of ours to write (a change on disk is the caller's to offer)
        if self.disk_changed():
            if not force:
                raise FileConflict(f"{self.path.name} changed on disk since it was opened")
            if self.path.exists():
                backup(self.path)
        payload = (BOM + text) if self.bom else text
        atomic_write(self.path, payload)
        self.saved_text = text
        self.state = DiskState.of(self.path)
        return True

    def write_aside(self, text: str) -> Path:
        """Keep `text` in a `.mine.bak` file beside this one (when it cannot go into the file itself)."""
        from scribe.files import atomic_write

        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        side = self.path.with_name(f"{self.path.name}.{stamp}.mine.bak")
        n = 1
        while side.exists():
            side = self.path.with_name(f"{self.path.name}.{stamp}-{n}.mine.bak")
            n += 1
        atomic_write(side, text)
        return side

    def reload(self, keep_mine: str | None = None) -> tuple[str, Path | None]:
        """Take the disk version; `keep_mine` (the editor's text) is first written beside the file."""
        side: Path | None = None
        if keep_mine is not None and keep_mine != self.saved_text:
            side = self.write_aside(keep_mine)
        raw = self.path.read_bytes()
        text, self.bom = decode(raw, self.path)
        self.saved_text = text
        self.state = DiskState.of(self.path, raw)
        return text, side


def is_note_file(path: Path) -> bool:
    return path.suffix.lower() in NOTE_SUFFIXES and not path.name.startswith(".")


def slug(title: str) -> str:
    import re

    words = re.findall(r"[a-z0-9]+", title.lower())
    return "-".join(words)[:60] or "untitled"


def create_draft(path: Path, title: str) -> None:
    """A new draft at `path`: frontmatter with its title and status, then the title as its heading.
    Raises ScribeError saying why it could not be written."""
    import json

    from scribe.files import atomic_write

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, f"---\ntitle: {json.dumps(title)}\nstatus: draft\n---\n\n# {title}\n\n")  # JSON strings are YAML
    except OSError as exc:
        raise ScribeError(f"cannot create {path.name} ({exc})") from exc
