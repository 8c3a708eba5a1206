"""Related notes while the author writes: what to search for, what came back, how to link to it.

The query is the paragraph at the cursor (or the selection); the search is the core's hybrid
retrieval, as `scribe search` runs it, through the session's index link, with the draft's own
chunks left out. A hit links back into the draft as Obsidian writes links (`[[Note#Heading]]`)
when the workspace is a vault, else as a relative markdown link. No Textual here: the panel
(`widgets/related.py`) decides when to search and shows the hits.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from scribe.chunking import HEADING_SEPARATOR
from scribe.grounding import Hit, dedupe
from scribe.tui.index_link import IndexLink

HITS = 6
FRONTMATTER_FENCES = ("---", "+++")
VAULT_MARKER = ".obsidian"


@dataclass(frozen=True)
class RelatedQuery:
    """What to search for, and the draft (workspace-relative) whose own chunks are left out."""

    text: str
    draft: str | None


@dataclass(frozen=True)
class RelatedHit:
    """One related chunk as the panel lists it; a `grounding.Hit`, so a note opens at its heading
    the way a cited source does."""

    chunk_id: str
    path: str
    title: str
    heading_path: str
    text: str
    snippet: str
    score: float


@dataclass(frozen=True)
class RelatedResult:
    """The hits for `query`; `state` is the index's ("ready", "missing", "unavailable" or "error"),
    `note` a line saying why there are no hits or why they are keyword-only."""

    query: RelatedQuery
    hits: tuple[RelatedHit, ...] = ()
    state: str = "ready"
    note: str = ""


def paragraph_at(lines: Sequence[str], row: int) -> str | None:
    """The paragraph (lines between blank lines) holding `row`; on a blank line, the nearest one
    above it (else below: the paragraph just written, as the author goes on to the next). None in
    the frontmatter or where there is no text."""
    first = frontmatter_end(lines) + 1
    if not first <= row < len(lines):
        return None
    if not lines[row].strip():
        above = (r for r in range(row - 1, first - 1, -1) if lines[r].strip())
        below = (r for r in range(row + 1, len(lines)) if lines[r].strip())
        found = next(above, None)
        row = found if found is not None else next(below, -1)
        if row < 0:
            return None
    top = row
    while top > first and lines[top - 1].strip():
        top -= 1
    bottom = row + 1
    while bottom < len(lines) and lines[bottom].strip():
        bottom += 1
    return "\n".join(lines[top:bottom]).strip()


def frontmatter_end(lines: Sequence[str]) -> int:
    """The row of the frontmatter's closing fence (-1 without frontmatter)."""
    if not lines or lines[0].strip() not in FRONTMATTER_FENCES:
        return -1
    fence = lines[0].strip()
    return next((i for i in range(1, len(lines)) if lines[i].strip() == fence), -1)


def find_related(index: IndexLink, query: RelatedQuery, k: int = HITS) -> RelatedResult:
    """The `k` best chunks for the query, none of the draft's own. Blocking (it may embed the
    query on the model server): the panel calls it from a worker thread."""
    from scribe.retrieval import make_snippet
    from scribe.tasks import QUERY_TOKENS
    from scribe.tokens import truncate_to_tokens

    retrieve = index.retriever(query.draft)
    if retrieve is None:
        status = index.status()
        return RelatedResult(query, state=status.state, note=status.detail)
    text = truncate_to_tokens(query.text, QUERY_TOKENS)
    found = retrieve(text, 2 * k)  # at most two of them are the draft's (one file's share)
    exclude = frozenset({query.draft}) if query.draft else frozenset()
    hits = tuple(related_hit(hit, make_snippet(hit.text, hit.heading_path, text)) for hit in dedupe(found, exclude_paths=exclude)[:k])
    notice = getattr(found, "notice", None)  # retrieval's Sources says when the search was keyword-only
    return RelatedResult(query, hits, note=notice or ("" if hits else "no related notes for this paragraph"))


def related_hit(hit: Hit, snippet: str) -> RelatedHit:
    title = getattr(hit, "title", "") or PurePosixPath(hit.path).stem
    return RelatedHit(hit.chunk_id, hit.path, title, hit.heading_path, hit.text, snippet, hit.score)


# --- links -------------------------------------------------------------------------------------


def vault_root(root: Path, note_folders: Sequence[Path]) -> Path | None:
    """The Obsidian vault the workspace is: a notes folder, or the workspace itself, holding `.obsidian/`."""
    return next((folder for folder in (*note_folders, root) if (folder / VAULT_MARKER).is_dir()), None)


def heading_of(hit: RelatedHit) -> str | None:
    """The deepest heading of the hit's heading path; None when it is only the note's title."""
    parts = [p for p in hit.heading_path.split(HEADING_SEPARATOR) if p.strip()]
    return parts[-1].strip() if len(parts) > 1 else None


def heading_slug(heading: str) -> str:
    """The anchor GitHub and most renderers give a heading: lower case, punctuation dropped, spaces as hyphens."""
    kept = "".join(ch for ch in heading.strip().lower() if ch.isalnum() or ch in " -_")
    return kept.replace(" ", "-")


def markdown_link(hit: RelatedHit, draft: str) -> str:
    """`[Title](path.md#heading-slug)`, the path relative to the draft's folder (`draft` and
    `hit.path` are workspace-relative)."""
    target = posixpath.relpath(hit.path, posixpath.dirname(draft) or ".")
    target = re.sub(r"[ ()<>]", lambda m: f"%{ord(m.group()):02X}", target)
    heading = heading_of(hit)
    anchor = f"#{heading_slug(heading)}" if heading else ""
    title = re.sub(r"([\[\]])", r"\\\1", hit.title)
    return f"[{title}]({target}{anchor})"


def wikilink(hit: RelatedHit, vault_path: str, *, unique_name: bool) -> str:
    """`[[Note#Heading]]` as Obsidian writes it: the note's name (its path in the vault, without
    `.md`, when another note has the same name), and the heading without the characters a link
    cannot hold."""
    path = PurePosixPath(vault_path)
    if path.suffix == ".md":
        name = path.stem if unique_name else path.with_suffix("").as_posix()
    else:
        name = path.name if unique_name else path.as_posix()
    heading = heading_of(hit)
    if heading:
        heading = " ".join(re.sub(r"[\[\]#|^:]", " ", heading).split())
    return f"[[{name}#{heading}]]" if heading else f"[[{name}]]"


def name_is_unique(vault: Path, file_name: str) -> bool:
    """No other file in the vault (its hidden folders aside) has this name, in any case (Obsidian
    matches names case-insensitively)."""
    wanted = file_name.casefold()
    seen = 0
    for _folder, dirs, files in os.walk(vault):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        seen += sum(name.casefold() == wanted for name in files)
        if seen > 1:
            return False
    return True


def link_to(hit: RelatedHit, draft: str, root: Path, vault: Path | None) -> str:
    """The link to put in the draft: a wikilink in a vault (for a note inside it), else a markdown link."""
    if vault is not None:
        absolute = root / hit.path
        if absolute.is_relative_to(vault):
            inside = absolute.relative_to(vault).as_posix()
            return wikilink(hit, inside, unique_name=name_is_unique(vault, absolute.name))
    return markdown_link(hit, draft)
