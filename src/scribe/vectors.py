"""The vector half of the index: chunk embeddings in Chroma. The only module that imports chromadb.

scribe always hands Chroma its own vectors and creates collections with ``embedding_function=None``:
Chroma's default embedder downloads a model, and nothing here may touch the network. The embedding
model and dimension are written into the collection's metadata, so vectors from two models are never
mixed: re-embedding with another model fills a second, staged collection beside the index's, which
then takes the index's name (``NotesIndex.promote_staged``). Telemetry is off. Every Chroma failure
becomes a ``NotesIndexError`` naming the store and the fix.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scribe.errors import NotesIndexError
from scribe.files import disk_full
from scribe.manifest import DISK_FULL_HINT, REBUILD_HINT

LOCAL_COLLECTION = "scribe-notes"
STAGED_SUFFIX = "-reembed"
# Chroma ids/metadata per call: well below the server's batch limit, big enough to amortise a round trip.
WRITE_BATCH = 1000

MetadataValue = str | int | float | bool | list[str]


@dataclass(frozen=True)
class StoreLocation:
    """Where the vectors live: a local folder (embedded Chroma) or a `chroma run` server URL.

    A server may hold several workspaces' indexes, so its collection name carries a hash of the
    workspace folder; a local store belongs to one workspace and uses a fixed name.
    """

    path: Path | None = None
    url: str | None = None
    workspace_key: str = ""

    @property
    def label(self) -> str:
        """How the manifest names this store (the index may not silently move between stores)."""
        return self.url if self.url else "local"

    @property
    def collection(self) -> str:
        if self.url is None:
            return LOCAL_COLLECTION
        return f"{LOCAL_COLLECTION}-{hashlib.sha1(self.workspace_key.encode()).hexdigest()[:12]}"

    @property
    def staged_collection(self) -> str:
        """Where a re-embed with another model builds the new vectors until they are complete."""
        return self.collection + STAGED_SUFFIX

    def describe(self) -> str:
        return f"the Chroma server at {self.url}" if self.url else f"the Chroma store at {self.path}"


class VectorStore:
    """One Chroma collection of chunk vectors with their metadata (by default the index's own), opened lazily."""

    def __init__(self, location: StoreLocation, name: str | None = None) -> None:
        self.location = location
        self.name = name or location.collection
        self._client: Any = _connect(location)
        self._collection: Any = None
        try:
            self._collection = self._client.get_collection(self.name, embedding_function=None)
        except Exception as exc:
            if not _is_missing(exc):
                raise self._unreadable(exc) from exc

    def _unreadable(self, exc: BaseException) -> NotesIndexError:
        if self.location.url is not None:
            return NotesIndexError(f"{self.location.describe()} failed ({_one_line(exc)}); check the server, or {REBUILD_HINT}")
        return _local_store_error(self.location, exc)

    @property
    def exists(self) -> bool:
        return self._collection is not None

    def embedding_model(self) -> tuple[str | None, int | None]:
        """The (model, dimension) the collection was created for; (None, None) before the first vector."""
        if self._collection is None:
            return None, None
        metadata = self._collection.metadata or {}
        return metadata.get("embed_model"), metadata.get("dimension")

    def create(self, embed_model: str, dimension: int) -> None:
        """Create the collection for vectors of this model and dimension (cosine distance)."""
        try:
            self._collection = self._client.get_or_create_collection(
                self.name,
                embedding_function=None,
                metadata={"embed_model": embed_model, "dimension": dimension},
                configuration={"hnsw": {"space": "cosine"}},
            )
        except Exception as exc:
            raise self._unreadable(exc) from exc

    def upsert(self, ids: Sequence[str], vectors: Sequence[Sequence[float]], metadatas: Sequence[Mapping[str, MetadataValue]]) -> None:
        for start in range(0, len(ids), WRITE_BATCH):
            end = start + WRITE_BATCH
            self._call("upsert", ids=list(ids[start:end]), embeddings=[list(v) for v in vectors[start:end]],
                       metadatas=[dict(m) for m in metadatas[start:end]])

    def replace_metadata(self, ids: Sequence[str], metadatas: Sequence[Mapping[str, MetadataValue]]) -> None:
        """Give existing ids exactly these metadata, vectors untouched.

        Chroma merges metadata on update (old keys survive), so the current metadata is read back:
        keys the new metadata lacks are set to None, which deletes them, and ids whose metadata is
        already right are not written at all (the usual case for the untouched sections of an edit).
        """
        if not ids:
            return
        current = self._call("get", ids=list(ids), include=["metadatas"])
        held = {i: dict(m or {}) for i, m in zip(current["ids"], current["metadatas"])}
        changed_ids: list[str] = []
        updates: list[dict[str, MetadataValue | None]] = []
        for chunk_id, metadata in zip(ids, metadatas):
            old = held.get(chunk_id, {})
            if old == dict(metadata):
                continue
            update: dict[str, MetadataValue | None] = dict(metadata)
            update.update({key: None for key in set(old) - set(metadata)})
            changed_ids.append(chunk_id)
            updates.append(update)
        for start in range(0, len(changed_ids), WRITE_BATCH):
            end = start + WRITE_BATCH
            self._call("update", ids=changed_ids[start:end], metadatas=updates[start:end])

    def metadatas(self, ids: Sequence[str]) -> dict[str, dict[str, MetadataValue]]:
        """The metadata held for these ids (ids the collection lacks are left out)."""
        if self._collection is None or not ids:
            return {}
        held: dict[str, dict[str, MetadataValue]] = {}
        for start in range(0, len(ids), WRITE_BATCH):
            result = self._call("get", ids=list(ids[start : start + WRITE_BATCH]), include=["metadatas"])
            held.update((i, dict(m or {})) for i, m in zip(result["ids"], result["metadatas"]))
        return held

    def delete(self, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), WRITE_BATCH):
            self._call("delete", ids=list(ids[start : start + WRITE_BATCH]))

    def ids(self) -> set[str]:
        if self._collection is None:
            return set()
        return set(self._call("get", include=[])["ids"])

    def count(self) -> int:
        return 0 if self._collection is None else int(self._call("count"))

    def query(self, vector: Sequence[float], limit: int, paths: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """(chunk id, cosine distance) of the ``limit`` nearest chunks, optionally only in ``paths``."""
        if self._collection is None or limit <= 0:
            return []
        where = None if paths is None else {"path": {"$in": list(paths)}}
        result = self._call("query", query_embeddings=[list(vector)], n_results=limit, where=where, include=["distances"])
        return list(zip(result["ids"][0], (float(d) for d in result["distances"][0])))

    def _call(self, method: str, **kwargs: Any) -> Any:
        assert self._collection is not None
        try:
            return getattr(self._collection, method)(**kwargs)
        except Exception as exc:
            raise self._unreadable(exc) from exc

    def rename(self, name: str) -> None:
        """Give the collection another name (one write in Chroma: readers see the old name or the new)."""
        self._call("modify", name=name)
        self.name = name

    def drop_collection(self) -> None:
        """Delete this collection (to wipe the whole local store, its folder is removed instead)."""
        try:
            self._client.delete_collection(self.name)
        except Exception as exc:
            if not _is_missing(exc):
                raise self._unreadable(exc) from exc
        self._collection = None


def wipe_local_store(location: StoreLocation) -> None:
    """Remove a local store folder even when Chroma cannot open it (that is when --rebuild is needed)."""
    from chromadb.api.shared_system_client import SharedSystemClient

    assert location.path is not None
    SharedSystemClient.clear_system_cache()  # drop Chroma's cached handle on the folder being removed
    shutil.rmtree(location.path, ignore_errors=True)


def chroma_settings() -> Any:
    """The settings every Chroma client here is built with: telemetry off (``scribe doctor`` checks it)."""
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False)


def _connect(location: StoreLocation) -> Any:
    import chromadb

    settings = chroma_settings()
    try:
        if location.url is None:
            assert location.path is not None
            return chromadb.PersistentClient(path=str(location.path), settings=settings)
        parts = urlsplit(location.url)
        client = chromadb.HttpClient(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 8000,
            ssl=parts.scheme == "https",
            settings=settings,
        )
        client.heartbeat()
        return client
    except Exception as exc:
        if location.url is not None:
            raise NotesIndexError(
                f"no Chroma server answers at {location.url} ({_one_line(exc)}); "
                f"start one with `chroma run --path DIR --host 127.0.0.1 --port {urlsplit(location.url).port or 8000}` "
                "or drop --chroma-url to use the local store"
            ) from exc
        raise _local_store_error(location, exc) from exc


def _local_store_error(location: StoreLocation, exc: BaseException) -> NotesIndexError:
    """Rebuilding cannot fix a store on a read-only disk (Chroma writes even to search): say which it is."""
    assert location.path is not None
    folder = location.path if location.path.exists() else location.path.parent
    if not os.access(folder, os.W_OK):
        return NotesIndexError(f"{location.describe()} is read-only ({_one_line(exc)}); make the workspace writable")
    if disk_full(exc):
        return NotesIndexError(f"{location.describe()} cannot be written ({_one_line(exc)}); {DISK_FULL_HINT}")
    return NotesIndexError(f"{location.describe()} cannot be read ({_one_line(exc)}); {REBUILD_HINT}")


def _is_missing(exc: BaseException) -> bool:
    from chromadb.errors import NotFoundError

    return isinstance(exc, NotFoundError) or "does not exist" in str(exc)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."
