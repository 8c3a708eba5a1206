"""The notes' links as the index holds them, resolved now: a note's outgoing links and backlinks,
the dangling links, and the notes a draft is linked with (for retrieval).

The keyword store keeps links as written (``scribe.fts``); they are resolved here, against the
notes indexed at the moment of asking (``scribe.links.Resolver``), so a note that appears, goes
away or gains an alias changes what links resolve to without re-reading the notes that link to it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from scribe.errors import ScribeError
from scribe.fts import KeywordStore
from scribe.links import Link, NoteName, Resolver, name_keys, parse_links


@dataclass(frozen=True)
class ResolvedLink:
    """A stored link and the note it names now (``to`` None: dangling)."""

    link: Link
    to: str | None

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self.link), "to": self.to}


@dataclass(frozen=True)
class NoteLinks:
    """What links from and to one note."""

    path: str
    outgoing: list[ResolvedLink]
    backlinks: list[ResolvedLink]
    stored: bool  # False: the note was indexed before scribe kept links (`scribe index` reads it again)


def find_note(store: KeywordStore, given: str, path: str | None = None) -> str:
    """The indexed note the user means: ``path`` (the workspace-relative path of a file they named),
    else ``given`` read as a link would be (a name, a partial path or an alias)."""
    names = store.note_names()
    known = {name.path for name in names}
    if path is not None and path in known:
        return path
    found = Resolver(names).resolve_target(given, source="")
    if found is None:
        raise ScribeError(f"{given}: no note by that path or name in the index; give a note's path or file name (run `scribe index` if it is new)")
    return found


def note_links(store: KeywordStore, path: str) -> NoteLinks:
    """The links in the note at ``path`` and the links to it, each resolved."""
    names = store.note_names()
    resolver = Resolver(names)
    outgoing = [ResolvedLink(link, resolver.resolve(link)) for link in store.links(paths=[path])]
    return NoteLinks(path, outgoing, _backlinks(store, resolver, names, {path}), path not in store.unlinked_paths())


def dangling(store: KeywordStore) -> list[Link]:
    """Every stored link that names no indexed note, by file and position."""
    resolver = Resolver(store.note_names())
    return [link for link in store.links() if resolver.resolve(link) is None]


def dangling_line(link: Link) -> str:
    """One line saying where a dangling link is and why: file:line, the link, no note named X."""
    return f"{link.source}:{link.line}: {link.markup}: no note named '{link.target}'"


def dangling_summary(lines: list[str], shown: int = 5) -> list[str]:
    """A count of dangling links, then the first ``shown`` (``dangling_line``s), for `scribe index` and doctor."""
    if not lines:
        return []
    more = len(lines) - shown
    tail = [f"  ... and {more} more (scribe index --json lists them all)"] if more > 0 else []
    return [f"{len(lines)} dangling link{'s' if len(lines) != 1 else ''}:", *(f"  {line}" for line in lines[:shown]), *tail]


def linked_notes(store: KeywordStore, text: str, draft: str | None = None) -> dict[str, set[str | None]]:
    """The notes a draft is linked with, each with the headings linked (None: the whole note).

    Those ``text`` links to (the text being written: its links resolve as if from ``draft``) and,
    when the draft is an indexed note, those its stored version links to and those linking to it.
    The draft itself is left out.
    """
    written = parse_links(text, source=draft or "")
    if not written and draft is None:
        return {}
    names = store.note_names()
    if draft is not None and all(name.path != draft for name in names):
        names.append(NoteName(draft))  # a draft outside the index is still what its backlinks name
    resolver = Resolver(names)
    linked: dict[str, set[str | None]] = {}
    found = [(resolver.resolve(link), link.heading) for link in written]
    if draft is not None:
        found += [(resolver.resolve(link), link.heading) for link in store.links(paths=[draft])]
        found += [(backlink.link.source, None) for backlink in _backlinks(store, resolver, names, {draft})]
    for path, heading in found:
        if path is not None and path != draft:
            linked.setdefault(path, set()).add(heading)
    return linked


def _backlinks(store: KeywordStore, resolver: Resolver, names: list[NoteName], paths: set[str]) -> list[ResolvedLink]:
    """Links from other notes that resolve to one of ``paths`` (only those whose target could name one are resolved)."""
    keys = {key for name in names if name.path in paths for key in name_keys(name)}
    candidates = store.links(name_keys=keys)
    return [ResolvedLink(link, to) for link in candidates if link.source not in paths and (to := resolver.resolve(link)) in paths]
