"""Helpers for the notes index tests: writing notes, reading what each store holds, a `chroma run` server."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from scribe.config import open_workspace
from scribe.index import open_index
from scribe.manifest import load_manifest


def write_note(root: Path, rel: str, body: str, **frontmatter: object) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    head = "".join(f"{key}: {value}\n" for key, value in frontmatter.items())
    path.write_text(f"---\n{head}---\n{body}" if frontmatter else body, encoding="utf-8")
    return path


def configure(ws: Path, **index_settings: object) -> None:
    """Append an [index] table to the workspace's scribe.toml."""
    lines = "".join(f"{key} = {value!r}\n".replace("'", '"') for key, value in index_settings.items())
    with (ws / "scribe.toml").open("a") as handle:
        handle.write(f"\n[index]\n{lines}")


@dataclass
class IndexState:
    """Chunk ids as each part of the index holds them, with the stores' own row counts."""

    manifest: list[str]
    chroma: set[str]
    chroma_count: int
    fts: set[str]
    fts_count: int
    manifest_files: set[str]
    fts_files: set[str]

    def consistent(self) -> bool:
        """Every part holds exactly the manifest's chunks, once each, and the same files."""
        ids = set(self.manifest)
        return (
            len(ids) == len(self.manifest) == self.chroma_count == self.fts_count
            and ids == self.chroma == self.fts
            and self.manifest_files == self.fts_files
        )


def index_state(ws: Path, chroma_url: str | None = None) -> IndexState:
    """Read the manifest, Chroma and FTS5 fresh from disk (or the server), as a new process would."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()  # another process may have written the store since
    workspace = open_workspace(ws, env={})
    manifest = load_manifest(workspace.state_dir / "manifest.json")
    with open_index(workspace, chroma_url) as index:
        state = IndexState(
            manifest=[i for e in manifest.files.values() for i in e.chunk_ids],
            chroma=index.vectors.ids(),
            chroma_count=index.vectors.count(),
            fts=index.keyword.chunk_ids(),
            fts_count=index.keyword.chunk_count(),
            manifest_files=set(manifest.files),
            fts_files=index.keyword.file_paths(),
        )
    with sqlite3.connect(workspace.state_dir / "fts.sqlite") as db:  # the FTS5 index agrees with its rows
        db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")
    return state


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_chroma_server(data: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A real `chroma run` on a free loopback port (the CLI that ships in the venv next to python)."""
    chroma = Path(sys.executable).parent / "chroma"
    port = free_port()
    log = (data.parent / "chroma-server.log").open("wb")
    proc = subprocess.Popen(
        [str(chroma), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chroma run exited with {proc.returncode}; see {log.name}")
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("chroma run did not answer within 60 s")
