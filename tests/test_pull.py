"""`scribe pull` and `scribe models`: against a recorded Ollama reply (no Ollama runs here), the
fake server (CLI and app plumbing), the engine's `/api/pull` in this process over a catalog of our
making, and the real engine."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_support import ok, one_line_error, scribe
from conftest import MODEL
from fake_server import CHAT_MODEL, EMBED_MODEL, FakeModelServer
from pilot_support import SIZE, fake_app, until

from scribe.engine.catalog import Catalog, CatalogEntry
from scribe.engine.runtime import Runtime
from scribe.engine.server import make_server
from scribe.engine.weights import BUNDLED, FAST_WRITER
from scribe.errors import ModelRequestError
from scribe.models import ModelClient, PullProgress

# What Ollama streams for `POST /api/pull` (stream: true), in the shape its server writes
# (server/images.go PullModel, server/download.go): the manifest, each layer's bytes every 60 ms as
# "pulling <first 12 hex of its digest>", the check, the manifest written, success. The digests and
# sizes are placeholders of the real lengths; no Ollama runs on this machine to record them from.
LAYER = "sha256:" + "8c17c2ebb0ea" + "0" * 52
SMALL = "sha256:" + "2e0493f67d0c" + "1" * 52
RECORDED_PULL = [
    {"status": "pulling manifest"},
    {"status": "pulling 8c17c2ebb0ea", "digest": LAYER, "total": 397807936, "completed": 0},
    {"status": "pulling 8c17c2ebb0ea", "digest": LAYER, "total": 397807936, "completed": 181190656},
    {"status": "pulling 8c17c2ebb0ea", "digest": LAYER, "total": 397807936, "completed": 397807936},
    {"status": "pulling 2e0493f67d0c", "digest": SMALL, "total": 59, "completed": 59},
    {"status": "verifying sha256 digest"},
    {"status": "writing manifest"},
    {"status": "success"},
]
# Ollama, asked for a name its registry does not have: a 200 stream that ends in an error line.
RECORDED_REFUSAL = [{"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}]
PULLED = "qwen2.5-coder:0.5b"


class RecordedOllama:
    """A fake HTTP server replaying recorded Ollama replies: `/api/pull` streams `lines`, and
    `/api/tags` lists the model once the pull has run. `asked` keeps each pull request's body."""

    def __init__(self, lines: list[dict[str, Any]]) -> None:
        self.lines = lines
        self.asked: list[dict[str, Any]] = []
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                listed = [{"name": PULLED, "model": PULLED, "size": 397807995, "digest": "f" * 64, "modified_at": "2025-01-01T00:00:00Z",
                           "details": {"family": "qwen2", "parameter_size": "494.03M", "quantization_level": "Q4_K_M"}}]
                self._send(200, b"application/json", json.dumps({"models": listed if replay.asked else []}).encode())

            def do_POST(self) -> None:
                replay.asked.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self._send(200, b"application/x-ndjson", b"".join(json.dumps(line).encode() + b"\n" for line in replay.lines))

            def _send(self, status: int, kind: bytes, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind.decode())
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> RecordedOllama:
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()  # shutdown() waits out a poll
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorded_ollama_pull() -> Iterator[RecordedOllama]:
    with RecordedOllama(RECORDED_PULL) as server:
        yield server


@pytest.fixture
def recorded_ollama_refusal() -> Iterator[RecordedOllama]:
    with RecordedOllama(RECORDED_REFUSAL) as server:
        yield server


# -- Ollama's streaming shape, through the real `ollama` client -------------------------------------


def test_a_pull_from_ollama_yields_its_progress_in_order(recorded_ollama_pull: RecordedOllama) -> None:
    seen = list(ModelClient(recorded_ollama_pull.url).pull(PULLED))
    assert recorded_ollama_pull.asked == [{"model": PULLED, "insecure": False, "stream": True}]
    assert seen == [PullProgress(line["status"], line.get("digest"), line.get("total"), line.get("completed")) for line in RECORDED_PULL]


def test_scribe_pull_against_ollama_prints_the_final_status(recorded_ollama_pull: RecordedOllama, tmp_path: Path) -> None:
    done = ok(tmp_path, "pull", PULLED, "--host", recorded_ollama_pull.url, "--json").json()
    assert done == {"model": PULLED, "host": recorded_ollama_pull.url, "status": "success", "digest": "f" * 64}


def test_scribe_pull_shows_each_status_and_layer_away_from_a_terminal(recorded_ollama_pull: RecordedOllama, tmp_path: Path) -> None:
    ran = ok(tmp_path, "pull", PULLED, "--host", recorded_ollama_pull.url)
    lines = ran.stderr.splitlines()
    assert lines[:3] == ["pulling manifest", "pulling 8c17c2ebb0ea (397.8 MB)", "pulling 2e0493f67d0c (59 bytes)"]
    assert lines[3:6] == ["verifying sha256 digest", "writing manifest", "success"]
    assert ran.stdout == ""


def test_a_pull_ollama_refuses_is_a_one_line_error(recorded_ollama_refusal: RecordedOllama, tmp_path: Path) -> None:
    with pytest.raises(ModelRequestError, match="cannot pull 'nosuch:1b': pull model manifest: file does not exist"):
        list(ModelClient(recorded_ollama_refusal.url).pull("nosuch:1b"))
    error = one_line_error(scribe(tmp_path, "pull", "nosuch:1b", "--host", recorded_ollama_refusal.url))
    assert "nosuch:1b" in error and "file does not exist" in error


# -- the CLI against the fake server ----------------------------------------------------------------


def test_scribe_pull_fetches_a_model_the_server_can_get(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    fake_server.pullable = ["fresh:1b"]
    done = ok(fake_workspace, "pull", "fresh:1b", "--json").json()
    assert done["status"] == "success" and done["digest"]
    assert "fresh:1b" in [m["name"] for m in ok(fake_workspace, "models", "--json").json()]


def test_scribe_pull_of_a_model_nobody_has_is_a_one_line_error(fake_workspace: Path) -> None:
    error = one_line_error(scribe(fake_workspace, "pull", "nosuch:1b"))
    assert "cannot pull 'nosuch:1b'" in error


def test_models_says_what_each_model_does_and_its_context(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    fake_server.context_length = 8192
    listed = {m["name"]: m for m in ok(fake_workspace, "models", "--json").json()}
    assert (listed[CHAT_MODEL]["chats"], listed[CHAT_MODEL]["embeds"], listed[CHAT_MODEL]["context_length"]) == (True, False, 8192)
    assert (listed[EMBED_MODEL]["chats"], listed[EMBED_MODEL]["embeds"], listed[EMBED_MODEL]["context_length"]) == (False, True, 512)
    table = ok(fake_workspace, "models").stdout
    assert "does" in table and "context" in table and "8,192" in table and "embed" in table


# -- the TUI's model picker ------------------------------------------------------------------------


def test_the_model_picker_pulls_a_missing_writer_and_then_uses_it(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    from scribe.tui.screens.dialogs import ChoiceScreen

    fake_server.pullable = [FAST_WRITER]
    app = fake_app(fake_workspace)

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f7")
            await until(pilot, lambda: isinstance(app.screen, ChoiceScreen), "the model list")
            keys = [key for key, _ in app.screen.options]
            labels = dict(app.screen.options)
            assert keys[0] == CHAT_MODEL and FAST_WRITER in keys and "pull it" in labels[FAST_WRITER]
            await pilot.press(*["down"] * keys.index(FAST_WRITER), "enter")
            await until(pilot, lambda: app.main.session.model == FAST_WRITER, "the pulled model in use")

    asyncio.run(scenario())
    assert FAST_WRITER in [m.name for m in fake_server.list_models()]
    assert json.loads((fake_workspace / ".scribe" / "tui.json").read_text())["model"] == FAST_WRITER


# -- the engine's /api/pull, in this process over a catalog of our making --------------------------


@pytest.fixture
def engine_over(tmp_path: Path) -> Iterator[Any]:
    """Start `scribe serve`'s HTTP server (no model loads for a pull) over a given catalog."""
    servers = []

    def start(catalog: Catalog) -> str:
        server = make_server(Runtime(catalog), "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_the_engine_names_the_extra_that_provides_a_bundled_model_it_lacks(engine_over: Any) -> None:
    writer = next(m for m in BUNDLED if m.name == FAST_WRITER)
    url = engine_over(Catalog([], missing=[writer]))
    with pytest.raises(ModelRequestError, match=r"not installed in scribe's engine; install it with: pip install 'scribe\[writers\]'"):
        list(ModelClient(url).pull(FAST_WRITER))
    unstreamed = httpx.post(f"{url}/api/pull", json={"model": FAST_WRITER, "stream": False})
    assert unstreamed.status_code == 500 and "scribe[writers]" in unstreamed.json()["error"]


def test_the_engine_answers_a_pull_of_a_model_it_serves_as_ollama_does_for_one_it_has(engine_over: Any, tmp_path: Path) -> None:
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF" + bytes(96))
    url = engine_over(Catalog([CatalogEntry("tiny:1b", gguf, _digest="ab" * 32)]))
    seen = list(ModelClient(url).pull("tiny:1b"))
    assert [p.status for p in seen] == ["pulling manifest", "pulling abababababab", "verifying sha256 digest", "writing manifest", "success"]
    assert (seen[1].digest, seen[1].total, seen[1].completed) == ("sha256:" + "ab" * 32, 100, 100)
    assert httpx.post(f"{url}/api/pull", json={"model": "tiny:1b", "stream": False}).json() == {"status": "success"}


# -- the real engine -----------------------------------------------------------------------------


def test_scribe_pull_against_the_engine_succeeds_for_a_model_it_serves(workspace: Path) -> None:
    done = ok(workspace, "pull", MODEL, "--json").json()
    assert done["status"] == "success" and done["digest"] == next(m.sha256 for m in BUNDLED if m.name == MODEL)


def test_scribe_pull_against_the_engine_says_where_other_models_come_from(workspace: Path) -> None:
    error = one_line_error(scribe(workspace, "pull", "llama9:70b"))
    assert 'no model "llama9:70b"' in error and "scribe serve --model NAME=PATH" in error and "Ollama" in error


def test_the_engine_reports_each_models_context_length_and_abilities(engine_url: str) -> None:
    client = ModelClient(engine_url)
    facts = {name: client.show(name) for name in (MODEL, "all-minilm")}
    assert (facts[MODEL].context_length, facts[MODEL].chats) == (32768, True)
    assert (facts["all-minilm"].context_length, facts["all-minilm"].chats, facts["all-minilm"].embeds) == (512, False, True)
