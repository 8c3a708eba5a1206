"""Fixtures for fast tests against the fake model server (`tests/fake_server.py`), loaded by
conftest.py as a plugin. None of them starts the engine or touches the network: a test that would
(a registered host mistaken for a network one) fails at once instead of waiting on a model.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fake_server import EMBED_MODEL, HOST, SCHEME, FakeModelServer

from scribe import connect
from scribe.models import ModelServer, register_server
from scribe.runlog import RunLog, RunRecord

REPO = Path(__file__).resolve().parents[1]


def _never(what: str) -> Callable[..., object]:
    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError(f"a fake-server test reached for {what}")

    return refuse


def _fixture_over(host: str) -> ModelServer:
    raise AssertionError(f"{host}: the fake model server is registered only inside the fake_server fixture")


@pytest.fixture
def fake_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeModelServer]:
    """A fresh fake, registered under `fake://` the way scribe registers its real client under
    http://, so `open_server` (the CLI, the app, doctor) gives it for any `fake://` host."""
    server = FakeModelServer()
    register_server(SCHEME, lambda host: server)
    monkeypatch.setattr(connect, "ensure_embedded_engine", _never("the embedded engine"))
    monkeypatch.setattr(connect, "is_answering", _never("a network probe"))
    yield server
    register_server(SCHEME, _fixture_over)


@pytest.fixture
def fake_workspace(tmp_path: Path, fake_server: FakeModelServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace with a copy of the repository's notes/ (drafts included) whose scribe.toml
    points at the fake (engine "auto", no model: the fake's best writer is used)."""
    ws = tmp_path / "ws"
    shutil.copytree(REPO / "notes", ws / "notes")
    (ws / "scribe.toml").write_text(f'ollama_host = "{HOST}"\nembed_model = "{EMBED_MODEL}"\n', encoding="utf-8")
    for var in ("SCRIBE_ENGINE", "OLLAMA_HOST", "SCRIBE_MODEL", "SCRIBE_EMBED_MODEL", "SCRIBE_WORKSPACE", "SCRIBE_CHROMA_URL"):
        monkeypatch.delenv(var, raising=False)
    return ws


def finished_runs(ws: Path) -> list[RunRecord]:
    """The run log's finished rows, once the app has created it."""
    path = ws / ".scribe" / "runs.sqlite"
    if not path.exists():
        return []
    with RunLog(path) as log:
        return [run for run in log.recent(50) if run.status != "running"]
