"""Find the chunks of the author's notes that bear on a query: the one retrieval path every caller uses.

Vector hits (Chroma, cosine) and keyword hits (FTS5, BM25) are fused by reciprocal rank fusion,
which needs no score calibration between the two: a chunk ranked well by either comes up, so an
exact term, a name or an error string is found even when the embedding model is weak. One file may
not crowd out the others: at most ``per_file`` chunks each.

Queries are embedded with the configured embed model (``NotesIndex.embed_model``). While the index
holds another model's vectors (the model changed and `scribe index` has not re-embedded yet), a
search is keyword-only and says why in ``Sources.notice``: vectors of two models are never compared.

Links are a third signal in hybrid mode: the notes the draft links to (in the query text, or in
the draft's indexed version) and the notes linking to the draft are what the author tied to it, so
their chunks come as a third ranked list into the same fusion (``link_ranking``): no weight to tune,
and a chunk both searches found and a link points at goes to the top.
"""

from __future__ import annotations

import fnmatch
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Literal, Protocol

from scribe.chunking import HEADING_SEPARATOR
from scribe.errors import NotesIndexError
from scribe.fts import StoredChunk
from scribe.index import NotesIndex
from scribe.linkgraph import linked_notes

Mode = Literal["hybrid", "vector", "keyword"]
MODES: tuple[Mode, ...] = ("hybrid", "vector", "keyword")
RRF_K = 60  # the constant from Cormack et al. (2009); damps the weight of the very first ranks
# Each half contributes its top max(MIN_CANDIDATES, 4k) hits. Deeper lists let a weak ranker's
# long tail outvote the other's top hits (recall@5 of hybrid on benchmarks/queries.json with the
# 270M engine: 40/46 fusing the top 50, 44/46 fusing the top 20).
MIN_CANDIDATES = 20


class QueryEmbedder(Protocol):
    """What retrieval needs from a model server; ``scribe.models.ModelServer`` is one."""

    def embed(self, model: str, texts: Sequence[str], *, batch_size: int = 64) -> list[list[float]]: ...


@dataclass(frozen=True)
class SearchFilters:
    """Which notes a search may return: all of ``tags`` (a tag takes the tags nested under it, as in
    Obsidian: ``scribe.tags.has_tag``), dated on or after ``since`` (YYYY-MM-DD), with a
    workspace-relative path matching the glob ``path`` (at any folder depth)."""

    tags: tuple[str, ...] = ()
    path: str | None = None
    since: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.tags or self.path or self.since)


@dataclass(frozen=True)
class Source:
    """One retrieved chunk, with where it ranked in each half of the search (None: not in that half's list)."""

    chunk_id: str
    path: str
    title: str
    heading_path: str
    text: str
    ordinal: int
    score: float
    rank: int
    vector_rank: int | None
    keyword_rank: int | None
    link_rank: int | None = None

    def snippet(self, query: str, width: int = 240) -> str:
        return make_snippet(self.text, self.heading_path, query, width)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class Sources(list[Source]):
    """What ``retrieve`` found, best first; ``notice`` says why the search was keyword-only when it had to be."""

    def __init__(self, sources: Iterable[Source] = (), notice: str | None = None) -> None:
        super().__init__(sources)
        self.notice = notice


def retrieve(
    index: NotesIndex,
    client: QueryEmbedder | None,
    query: str,
    *,
    k: int = 5,
    filters: SearchFilters | None = None,
    mode: Mode = "hybrid",
    per_file: int = 2,
    query_vector: Sequence[float] | None = None,
    draft: str | None = None,
    links: bool = True,
) -> Sources:
    """The top ``k`` chunks for ``query``, best first.

    In hybrid mode, with ``links``, chunks of the notes linked with the draft rank higher: those the
    query's own links name (resolved from ``draft``, the workspace-relative path of the note being
    written, if given) and, for an indexed ``draft``, those it links to and those linking to it.

    The query is embedded with ``index.embed_model`` (``client`` may be None in keyword mode, or when
    ``query_vector`` is given, e.g. by a benchmark that times the search alone). When the index's
    vectors cannot be compared with it, every mode falls back to keyword search, with a notice.
    """
    if mode not in MODES:
        raise ValueError(f"unknown retrieval mode {mode!r}; use one of {', '.join(MODES)}")
    if not index.exists():
        raise NotesIndexError(f"there is no notes index in {index.state_dir} yet; build it with `scribe index`")
    if k <= 0 or not query.strip():
        return Sources()
    paths = allowed_paths(index, filters or SearchFilters())
    if paths is not None and not paths:
        return Sources()
    pool = max(MIN_CANDIDATES, 4 * k)
    vector_hits: list[tuple[str, float]] = []
    keyword_hits: list[tuple[str, float]] = []
    notice = None
    if mode != "keyword":
        vector_hits, notice = _vector_hits(index, client, query, query_vector, pool, paths)
        if notice is not None:
            mode = "keyword"
    if mode != "vector":
        keyword_hits = index.keyword.search(query, pool, paths)
    vector_ranks = {chunk_id: i for i, (chunk_id, _) in enumerate(vector_hits, start=1)}
    keyword_ranks = {chunk_id: i for i, (chunk_id, _) in enumerate(keyword_hits, start=1)}
    link_ranks: dict[str, int] = {}
    if mode == "hybrid":
        searched = [[i for i, _ in vector_hits], [i for i, _ in keyword_hits]]
        ranked = reciprocal_rank_fusion(searched)
        if links and (linked := linked_notes(index.keyword, query, draft)):
            if paths is not None:
                linked = {path: headings for path, headings in linked.items() if path in paths}
            by_link = link_ranking([chunk_id for chunk_id, _ in ranked], index.keyword.file_chunks(list(linked)), linked)
            link_ranks = {chunk_id: i for i, chunk_id in enumerate(by_link, start=1)}
            ranked = reciprocal_rank_fusion([*searched, by_link])
    elif mode == "vector":
        ranked = [(chunk_id, 1.0 - distance) for chunk_id, distance in vector_hits]
    else:
        ranked = keyword_hits
    stored = index.keyword.chunks([chunk_id for chunk_id, _ in ranked])
    ranked = [(chunk_id, score) for chunk_id, score in ranked if chunk_id in stored]
    chosen = cap_per_file(ranked, lambda chunk_id: stored[chunk_id].path, per_file=per_file, limit=k)
    return Sources((
        Source(
            chunk_id=chunk_id, path=stored[chunk_id].path, title=stored[chunk_id].title,
            heading_path=stored[chunk_id].heading_path, text=stored[chunk_id].text,
            ordinal=stored[chunk_id].ordinal, score=score, rank=rank,
            vector_rank=vector_ranks.get(chunk_id), keyword_rank=keyword_ranks.get(chunk_id),
            link_rank=link_ranks.get(chunk_id),
        )
        for rank, (chunk_id, score) in enumerate(chosen, start=1)
    ), notice)


def keyword_only_notice(index: NotesIndex) -> str | None:
    """Why a search of ``index`` is keyword-only: it holds vectors from another model than ``embed_model``."""
    held, _ = index.vectors.embedding_model()
    if held is None or held == index.embed_model:
        return None
    return f"search is keyword-only: the index holds '{held}' vectors, run `scribe index` to re-embed with '{index.embed_model}'"


class SharedRetrieval:
    """One index searched by several threads (a batch over several model hosts).

    The query is embedded without holding the lock, on the model client the caller passes, so the
    embedding lands on the host that then generates for the same item and no worker waits behind
    another's embedding; only the index reads, a few milliseconds, are serialized.
    """

    def __init__(self, index: NotesIndex, filters: SearchFilters | None = None) -> None:
        self.index = index
        self.filters = filters  # what the tasks may draw on (`--tag`)
        self._lock = threading.Lock()

    def search(self, client: QueryEmbedder, query: str, k: int, *, draft: str | None = None) -> Sources:
        with self._lock:
            usable = self.index.vectors.embedding_model()[0] == self.index.embed_model
        vector = client.embed(self.index.embed_model, [query])[0] if usable and query.strip() and k > 0 else None
        with self._lock:
            return retrieve(self.index, client, query, k=k, filters=self.filters, query_vector=vector, draft=draft)

    def using(self, client: QueryEmbedder, draft: str | None = None) -> Callable[[str, int], list[Source]]:
        """A task's retriever; `draft` (workspace-relative) lets the notes linked with it rank higher."""
        return lambda query, k: self.search(client, query, k, draft=draft)


def _vector_hits(
    index: NotesIndex,
    client: QueryEmbedder | None,
    query: str,
    query_vector: Sequence[float] | None,
    limit: int,
    paths: Sequence[str] | None,
) -> tuple[list[tuple[str, float]], str | None]:
    """The nearest chunks, or none and a notice when the index's vectors do not fit the query's."""
    model, dimension = index.vectors.embedding_model()
    notice = keyword_only_notice(index)
    if model is None or notice is not None:  # nothing embedded yet, or by another model
        return [], notice
    if query_vector is None:
        if client is None:
            raise ValueError("vector and hybrid retrieval need a model client to embed the query")
        query_vector = client.embed(model, [query])[0]
    if dimension is not None and len(query_vector) != dimension:  # the server swapped the model under its name
        return [], (f"search is keyword-only: '{model}' now returns {len(query_vector)}-dimension vectors, the index holds "
                    f"{dimension}-dimension ones; run `scribe index --rebuild` to re-embed")
    return index.vectors.query(query_vector, limit, paths), None


def allowed_paths(index: NotesIndex, filters: SearchFilters) -> list[str] | None:
    """The note paths the filters allow, or None when nothing is filtered out."""
    if not filters.active:
        return None
    paths = index.keyword.matching_paths(filters.tags, filters.since)
    if filters.path:
        paths = [path for path in paths if path_matches(path, filters.path)]
    return paths


# --- pure parts --------------------------------------------------------------------------------


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = RRF_K) -> list[tuple[str, float]]:
    """Fuse ranked id lists: each id scores the sum of 1 / (k + rank) over the lists it is in.

    Best first; ties keep the order in which ids were first met (earlier lists, better ranks first).
    """
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])


def link_ranking(
    fused: Sequence[str], chunks: Sequence[StoredChunk], linked: Mapping[str, set[str | None]]
) -> list[str]:
    """The third list for the fusion: the linked notes' chunks that the searches found, in their fused
    order, then, for each linked note not among them, the chunk its link names (the section under a
    linked heading) or else its first chunk. ``chunks``: the linked notes' chunks."""
    held = {chunk.id: chunk for chunk in chunks}
    ranking = [chunk_id for chunk_id in fused if chunk_id in held]
    represented = {held[chunk_id].path for chunk_id in ranking}
    for path, headings in linked.items():
        if path in represented:
            continue
        own = sorted((chunk for chunk in chunks if chunk.path == path), key=lambda chunk: chunk.ordinal)
        wanted = {heading.rsplit("#", 1)[-1].strip().casefold() for heading in headings if heading}
        under = [chunk for chunk in own if wanted & {part.strip().casefold() for part in chunk.heading_path.split(HEADING_SEPARATOR)}]
        ranking += [chunk.id for chunk in (under or own)[:1]]
    return ranking


def cap_per_file(
    ranked: Sequence[tuple[str, float]], path_of: Callable[[str], str], *, per_file: int, limit: int
) -> list[tuple[str, float]]:
    """The first ``limit`` of ``ranked``, skipping chunks of a file that already has ``per_file``."""
    taken: dict[str, int] = {}
    chosen: list[tuple[str, float]] = []
    for chunk_id, score in ranked:
        if len(chosen) >= limit:
            break
        path = path_of(chunk_id)
        if taken.get(path, 0) < per_file:
            taken[path] = taken.get(path, 0) + 1
            chosen.append((chunk_id, score))
    return chosen


def path_matches(path: str, pattern: str) -> bool:
    """Does a workspace-relative posix path match a ``--path`` pattern?

    A pattern without wildcards names a file or folder, at any depth (``notes/sql``, ``sql``); with
    wildcards it is a glob (``*`` also crosses ``/``) matched against the whole path or any tail of
    it (``sql/*.md``).
    """
    pattern = pattern.strip().removeprefix("./")
    if not any(ch in pattern for ch in "*?["):
        return f"/{pattern.strip('/')}/" in f"/{path}/"
    return fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(path, "*/" + pattern)


_WORD = re.compile(r"\w{3,}")


def make_snippet(text: str, heading_path: str, query: str, width: int = 240) -> str:
    """A one-line excerpt of a chunk around the longest query word it contains (else its start).

    The heading-path prefix every chunk carries is left out: it is shown beside the snippet.
    """
    head, sep, rest = text.partition("\n\n")
    body = rest if sep and heading_path.startswith(head) else text
    flat = " ".join(body.split())
    if len(flat) <= width:
        return flat
    lowered = flat.casefold()
    positions = [lowered.find(w.casefold()) for w in sorted(_WORD.findall(query), key=len, reverse=True)]
    hit = next((p for p in positions if p >= 0), 0)  # the longest query word found
    start = max(0, min(hit - width // 3, len(flat) - width))
    excerpt = flat[start : start + width]
    return ("…" if start > 0 else "") + excerpt + ("…" if start + width < len(flat) else "")
