"""Find the author's note files and parse them into ``Note`` records.

Pure apart from reading files: nothing here ever writes, renames or touches an input file.
Problems with one file (bad encoding, broken frontmatter) become warnings on its ``Note`` so one
bad note never stops an index run. Discovery says why it left each other path out (``Skip``), so
an Obsidian vault's attachments, settings and trash are accounted for, not silently dropped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import Any, Literal

import pathspec
import toml
import yaml
from frontmatter.default_handlers import BaseHandler, JSONHandler, TOMLHandler, YAMLHandler

from scribe.chunking import first_heading
from scribe.tags import body_tags, frontmatter_tags, unique_tags

logger = logging.getLogger(__name__)

NOTE_SUFFIXES = frozenset({".md", ".markdown", ".txt"})
IGNORE_FILES = (".gitignore", ".scribeignore")
BINARY_SNIFF_BYTES = 8192
# Real frontmatter hardly ever uses aliases; a "billion laughs" bomb needs dozens to blow up.
MAX_YAML_ALIASES = 16

MetadataValue = str | int | float | bool | list[str]

# Why a path under the notes folders is not in the index. "unreadable" is a failure (the file is a
# note that could not be read); the others are skips. "too_large" and "empty" are found by the
# indexer (``scribe.sync``), the rest by discovery.
SkipReason = Literal[
    "hidden", "ignored", "attachment", "symlink", "broken_link", "duplicate", "binary", "too_large", "empty", "unreadable"
]

# What Obsidian embeds or opens besides notes, by suffix (its "accepted file formats"), for a
# skip's wording; any other suffix is "a .xyz file".
ATTACHMENT_KINDS = {
    **dict.fromkeys((".png", ".jpg", ".jpeg", ".gif", ".bmp", ".svg", ".webp", ".avif", ".heic", ".tif", ".tiff"), "an image"),
    **dict.fromkeys((".mp3", ".wav", ".m4a", ".ogg", ".3gp", ".flac"), "an audio file"),
    **dict.fromkeys((".mp4", ".webm", ".ogv", ".mov", ".mkv"), "a video"),
    ".pdf": "a PDF",
    ".canvas": "an Obsidian canvas",
    ".base": "an Obsidian base",
}
HIDDEN_KINDS = {".obsidian": "Obsidian's settings", ".trash": "Obsidian's trash", ".scribe": "scribe's index and run log", ".git": "git's history"}


@dataclass(frozen=True)
class Note:
    """One parsed note file. ``body`` is the text after the frontmatter, newlines normalised to LF."""

    path: Path
    rel_path: str
    title: str
    body: str
    metadata: dict[str, MetadataValue]
    tags: list[str]
    date: str | None
    status: str | None
    size: int
    mtime_ns: int
    content_hash: str
    warnings: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Skip:
    """Why a path was left out of the index: a ``SkipReason`` and, in words, the detail."""

    reason: SkipReason
    detail: str

    @property
    def failed(self) -> bool:
        """A note that could not be read, not a path scribe chose to leave out."""
        return self.reason == "unreadable"


def attachment_kind(path: Path) -> str | None:
    """What a file that is not a note is, in words ("an image", "a PDF"...), or None for a note.

    Excalidraw drawings are markdown files by suffix (``.excalidraw.md``) but hold a compressed
    drawing, not prose.
    """
    name = path.name.lower()
    if name.endswith(".excalidraw.md"):
        return "an Excalidraw drawing"
    suffix = path.suffix.lower()
    if suffix in NOTE_SUFFIXES:
        return None
    return ATTACHMENT_KINDS.get(suffix) or (f"a {suffix} file" if suffix else "a file without a note suffix")


# --- discovery ---------------------------------------------------------------------------------

_IgnoreRules = tuple[tuple[Path, pathspec.GitIgnoreSpec], ...]


def discover_notes(
    paths: Iterable[Path], *, root: Path, follow_symlinks: bool = False, on_skip: Callable[[Path, str], None] | None = None
) -> Iterator[Path]:
    """Yield the note files under ``paths`` (absolute, each real file once), depth-first by name.

    Directories are walked recursively: ``.md``, ``.markdown`` and ``.txt`` files are taken; hidden
    names (leading ``.``) and binary files (a NUL byte in the first 8 KiB) are skipped;
    ``.gitignore`` and ``.scribeignore`` apply to the folder holding them and below, deeper files
    overriding shallower ones as in git, and those between ``root`` and a given directory apply
    too. Symlinked directories are followed once each, so a symlink loop ends the walk there.

    A symlink (file or folder) met on the walk that points outside ``root`` is skipped unless
    ``follow_symlinks``: what it points at goes into the index and so into prompts, maybe to a
    model server elsewhere, and the author did not put it in the workspace.

    Every path left out is told to ``on_skip(path, skip)`` with the reason: hidden and ignored
    folders once each (not the files in them), attachments (``attachment_kind``), binary files,
    links out of the workspace or to nothing, and a second path to a file already taken.

    A file named directly in ``paths`` is taken even if hidden or ignored (the user asked for it)
    as long as it is a text note. Relative ``paths`` are relative to the cwd; a path that does not
    exist yields nothing (checking that the user's paths exist is the caller's).
    """
    root = root.absolute()
    visited_dirs: set[Path] = set()
    seen_files: dict[tuple[int, int], Path] = {}
    links = _Links(root.resolve(), follow_symlinks, on_skip)
    for given in paths:
        given = given.absolute()
        if given.is_dir():
            yield from _walk(given, _inherited_rules(given, root), visited_dirs, seen_files, links)
        elif given.exists() and links.take(given, _note_or_skip(given, seen_files)):
            yield given


@dataclass(frozen=True)
class _Links:
    """Which symlinks the walk follows: those inside the workspace, or all when the author says so."""

    root: Path  # resolved
    follow_all: bool
    on_skip: Callable[[Path, str], None] | None

    def allowed(self, path: Path) -> bool:
        if self.follow_all or not path.is_symlink():
            return True
        target = path.resolve()
        if target.is_relative_to(self.root):
            return True
        return self.take(path, Skip("symlink", f"a link to {target}, outside the workspace (set follow_symlinks = true under [index] in scribe.toml to index it)"))

    def take(self, path: Path, skip: Skip | None) -> bool:
        """True for a path to take (``skip`` None); else tell ``on_skip`` why not."""
        if skip is not None and self.on_skip is not None:
            self.on_skip(path, skip)
        return skip is None


def _walk(
    directory: Path, rules: _IgnoreRules, visited_dirs: set[Path], seen_files: dict[tuple[int, int], Path], links: _Links
) -> Iterator[Path]:
    real = directory.resolve()
    if real in visited_dirs:
        return
    visited_dirs.add(real)
    rules = rules + _own_rules(directory)
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError as error:
        logger.warning("skipping folder %s: %s", directory, error)
        return
    for entry in entries:
        path = directory / entry.name
        try:
            is_dir = entry.is_dir()
        except OSError:  # e.g. a symlink pointing at itself
            continue
        if entry.name.startswith("."):
            what = HIDDEN_KINDS.get(entry.name) or ("a hidden folder" if is_dir else "a hidden file")
            links.take(path, Skip("hidden", f"{what} (names starting with a dot are never notes)"))
        elif _is_ignored(path, is_dir, rules):
            links.take(path, Skip("ignored", "matched by a .gitignore or .scribeignore"))
        elif not links.allowed(path):
            continue
        elif is_dir:
            yield from _walk(path, rules, visited_dirs, seen_files, links)
        elif links.take(path, _note_or_skip(path, seen_files)):
            yield path


def _inherited_rules(directory: Path, root: Path) -> _IgnoreRules:
    """Ignore files in the folders from ``root`` down to (not including) ``directory``."""
    try:
        parts = directory.relative_to(root).parts
    except ValueError:
        return ()
    folders = [root.joinpath(*parts[:i]) for i in range(len(parts))]
    return tuple(rule for folder in folders for rule in _own_rules(folder))


def _own_rules(directory: Path) -> _IgnoreRules:
    rules = []
    for name in IGNORE_FILES:
        try:
            lines = (directory / name).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        rules.append((directory, pathspec.GitIgnoreSpec.from_lines(lines)))
    return tuple(rules)


def _is_ignored(path: Path, is_dir: bool, rules: _IgnoreRules) -> bool:
    """Git's rule: the last matching pattern wins, and deeper ignore files come later."""
    ignored = False
    for base, spec in rules:
        relative = path.relative_to(base).as_posix() + ("/" if is_dir else "")
        result = spec.check_file(relative)
        if result.include is not None:
            ignored = result.include
    return ignored


def _note_or_skip(path: Path, seen_files: dict[tuple[int, int], Path]) -> Skip | None:
    """None for a text note met for the first time; else why the file is left out.

    A file is known by its device and inode, so two links to one file yield it once: one
    ``stat``, where resolving the path would cost a syscall per path component (this runs for
    every note on every index run).
    """
    kind = attachment_kind(path)
    if kind is not None:
        return Skip("attachment", f"{kind}, not a note")
    try:
        stat = path.stat()
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) and path.is_symlink():
            return Skip("broken_link", f"a link to {path.resolve()}, which does not exist")
        return Skip("unreadable", f"cannot read ({exc.strerror})")
    if not S_ISREG(stat.st_mode):
        return Skip("attachment", "not a regular file")
    key = (stat.st_dev, stat.st_ino)
    if key in seen_files:
        return Skip("duplicate", f"the same file as {os.path.relpath(seen_files[key], path.parent)}, indexed once")
    try:
        with path.open("rb") as handle:
            if b"\0" in handle.read(BINARY_SNIFF_BYTES):
                return Skip("binary", "binary content, not text")
    except OSError as exc:
        return Skip("unreadable", f"cannot read ({exc.strerror})")
    seen_files[key] = path
    return None


# --- parsing -----------------------------------------------------------------------------------


class _BoundedSafeLoader(yaml.SafeLoader):
    """SafeLoader that refuses more than ``MAX_YAML_ALIASES`` aliases (YAML "billion laughs").

    The pure-Python loader, because libyaml's C composer cannot be hooked per node.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"more than {MAX_YAML_ALIASES} aliases (refused as a possible alias bomb)",
                    self.peek_event().start_mark,  # type: ignore[no-untyped-call]
                )
        return super().compose_node(parent, index)


class _BoundedYAMLHandler(YAMLHandler):
    def load(self, fm: str, **kwargs: object) -> Any:
        return yaml.load(fm, Loader=_BoundedSafeLoader)


def parse_note(path: Path, *, root: Path) -> Note | None:
    """Parse one note file; None if it is empty, whitespace-only or binary.

    YAML (``---``), TOML (``+++``) and, in markdown files, JSON (first line ``{``) frontmatter are
    read; ``.txt`` files only get YAML or TOML frontmatter when they open with its fence. The body
    is always kept: broken frontmatter becomes a warning naming the file and line. Raises
    ``OSError`` only if the file cannot be read at all.
    """
    path = path.absolute()
    rel_path = _relative_path(path, root.absolute())
    stat = path.stat()
    raw = path.read_bytes()
    if b"\0" in raw[:BINARY_SNIFF_BYTES]:
        return None
    warnings: list[str] = []
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("utf-8-sig", errors="replace")
        warnings.append(f"{rel_path}: not valid UTF-8; decoded with replacement characters")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        return None
    metadata, body = split_frontmatter(text, suffix=path.suffix, rel_path=rel_path, warnings=warnings)
    return Note(
        path=path,
        rel_path=rel_path,
        title=note_title(metadata, body, path.stem),
        body=body,
        metadata=metadata,
        tags=unique_tags([*frontmatter_tags(metadata.get("tags")), *frontmatter_tags(metadata.get("tag")), *body_tags(body)]),
        date=_text(metadata.get("date")),
        status=_text(metadata.get("status")),
        size=len(raw),
        mtime_ns=stat.st_mtime_ns,
        content_hash=hashlib.sha256(raw).hexdigest(),
        warnings=warnings,
        aliases=[*_aliases(metadata.get("aliases")), *_aliases(metadata.get("alias"))],
    )


def split_frontmatter(
    text: str, *, suffix: str = ".md", rel_path: str = "", warnings: list[str] | None = None
) -> tuple[dict[str, MetadataValue], str]:
    """(metadata, body) of a note's text (LF newlines): the one frontmatter parser, the TUI's too.

    YAML (aliases capped), TOML and, except in ``.txt`` files, JSON frontmatter. The body is always
    kept and is a suffix of ``text``; a problem with the frontmatter goes to ``warnings`` (naming
    ``rel_path`` and the line) and gives no metadata.
    """
    handlers: list[BaseHandler] = [_BoundedYAMLHandler(), TOMLHandler()]
    if suffix.lower() != ".txt":
        handlers.append(JSONHandler())
    raw_metadata, body = _split_frontmatter(text, handlers, rel_path, [] if warnings is None else warnings)
    return _clean_metadata(raw_metadata), body


def note_title(metadata: Mapping[str, MetadataValue], body: str, fallback: str) -> str:
    """The frontmatter's ``title``, else the body's first heading, else ``fallback`` (the file's name)."""
    return _text(metadata.get("title")) or first_heading(body) or fallback


def _relative_path(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return Path(os.path.relpath(path, root)).as_posix()


def _split_frontmatter(
    text: str, handlers: list[BaseHandler], rel_path: str, warnings: list[str]
) -> tuple[Mapping[Any, Any], str]:
    """(raw metadata, body). On any frontmatter problem: a warning, no metadata, body kept."""
    handler = next((h for h in handlers if h.detect(text)), None)
    if handler is None:
        return {}, text
    try:
        fm, content = handler.split(text)
    except ValueError:
        warnings.append(f"{rel_path}:1: frontmatter is never closed; read the whole file as body")
        return {}, text
    body = content.lstrip("\n")
    # 1-based line in the file where the frontmatter text handed to the parser begins.
    assert handler.FM_BOUNDARY is not None
    opening = handler.FM_BOUNDARY.match(text)
    assert opening is not None
    first_line = text.count("\n", 0, opening.end()) + 1
    try:
        loaded = handler.load(fm)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        line = first_line + mark.line if mark is not None else first_line
        problem = getattr(error, "problem", None) or str(error)
        warnings.append(f"{rel_path}:{line}: malformed YAML frontmatter ({problem}); ignored it")
        return {}, body
    except (toml.TomlDecodeError, json.JSONDecodeError) as error:
        line = first_line + error.lineno - 1
        kind = "TOML" if isinstance(error, toml.TomlDecodeError) else "JSON"
        warnings.append(f"{rel_path}:{line}: malformed {kind} frontmatter ({error}); ignored it")
        return {}, body
    except RecursionError:
        warnings.append(f"{rel_path}:{first_line}: frontmatter nested too deeply; ignored it")
        return {}, body
    if loaded is None:
        return {}, body
    if not isinstance(loaded, Mapping):
        warnings.append(
            f"{rel_path}:{first_line}: frontmatter is not a mapping of keys to values;"
            " read the whole file as body"
        )
        return {}, text
    return loaded, body


def _clean_metadata(raw: Mapping[Any, Any]) -> dict[str, MetadataValue]:
    """Keep scalars (dates as ISO strings) and lists of scalars (as strings); drop the rest.

    Whatever crosses into the index must be a plain value: nested maps and nulls are dropped.
    """
    metadata: dict[str, MetadataValue] = {}
    for key, value in raw.items():
        if isinstance(value, list):
            items = [_scalar(item) for item in value]
            if all(item is not None for item in items):
                metadata[str(key)] = [_as_string(item) for item in items if item is not None]
        else:
            scalar = _scalar(value)
            if scalar is not None:
                metadata[str(key)] = scalar
    return metadata


def _scalar(value: object) -> str | int | float | bool | None:
    if isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (dt.date, dt.time)):  # datetime is a date
        return value.isoformat()
    return None


def _as_string(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _text(value: MetadataValue | None) -> str | None:
    """A scalar metadata value as non-empty text, else None."""
    if value is None or isinstance(value, list):
        return None
    text = _as_string(value).strip()
    return text or None


def _aliases(value: MetadataValue | None) -> list[str]:
    """Frontmatter ``aliases`` (or ``alias``): a list, or one comma-separated string as Obsidian once wrote them."""
    if value is None or isinstance(value, bool):
        return []
    items = value if isinstance(value, list) else _as_string(value).split(",")
    return list(dict.fromkeys(alias.strip() for alias in items if alias.strip()))
