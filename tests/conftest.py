"""Shared fixtures: one real engine process for the session (one per pytest-xdist worker), and fresh
workspaces pointed at it.

The network guard: pytest-socket (configured in pyproject.toml's addopts) lets this process connect
to loopback and Unix sockets only; for the processes the tests start, ``tests/subprocess_hooks`` is
put on PYTHONPATH with a record file in NETGUARD_LOG, so every child refuses and records non-loopback
connects and name lookups, and a test whose children attempted one fails. docs/reliability.md has more.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from processes import child_env

# Fixtures for fast tests against the fake model server (fake_server, fake_workspace).
pytest_plugins = ["fake_fixtures"]


def _settle_pilot_sooner() -> None:
    """Pilot waits after each key until the app is idle, judged by 20 ms slices of sleep with
    almost no CPU used; 5 ms slices judge it as well and end each wait sooner (the app tests spend
    a quarter less time waiting). Textual keeps these in a private module, read at each wait."""
    import textual._wait

    textual._wait.SLEEP_GRANULARITY = 0.005
    textual._wait.SLEEP_IDLE = 0.005 / 20


_settle_pilot_sooner()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Move what the imports built (Chroma, Textual, Rich: most of the heap) out of the garbage
    collector's way, as the app does for itself (`ScribeApp.freeze_heap`): every full collection
    would otherwise walk it again."""
    gc.collect()
    gc.freeze()


def pytest_runtest_teardown(item: pytest.Item) -> None:
    """Textual memoizes a colour lookup per widget render cache (`StylesCache.get_inner_outer`,
    an lru_cache of 1,024), which keeps the last 1,024 widgets' rendered lines alive after their
    app has gone: ~300,000 objects by the end of the app tests, walked by every full collection.
    Emptied after each test; with the freeze above, the app tests take a fifth less CPU."""
    styles_cache = sys.modules.get("textual._styles_cache")
    if styles_cache is not None:
        styles_cache.StylesCache.get_inner_outer.cache_clear()


# Mechanics tests use the smallest model; quality tests use the default writer.
MODEL = "gemma3:270m"
WRITER = "qwen2.5-coder:1.5b"
FAST_WRITER = "qwen2.5-coder:0.5b"
EMBED_MODEL = "all-minilm"
HOOKS_DIR = Path(__file__).resolve().parent / "subprocess_hooks"


_record_dir: list[Path] = []


def pytest_configure(config: pytest.Config) -> None:
    """Arm the subprocess network guard before any fixture starts a process (children inherit it)."""
    if os.environ.get("NETGUARD_LOG"):
        return  # a pytest run inside a test keeps its parent's record file
    _record_dir.append(Path(tempfile.mkdtemp(prefix="scribe-netguard-")))
    record = _record_dir[0] / "attempts.jsonl"
    record.touch()
    os.environ["NETGUARD_LOG"] = str(record)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(HOOKS_DIR), os.environ.get("PYTHONPATH")) if p)


ENGINE_FIXTURES = frozenset({"session_engine", "engine_url", "engine_stats", "engine_requests", "workspace", "indexed_notes", "indexed_workspace"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that reaches the engine through a fixture `engine`; tests that start engines
    of their own carry the mark in their module. `pytest -m "not engine"` then runs the rest fast."""
    for item in items:
        if ENGINE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.engine)


def pytest_unconfigure(config: pytest.Config) -> None:
    for folder in _record_dir:
        shutil.rmtree(folder, ignore_errors=True)


def netguard_attempts(record: Path | None = None, since: int = 0) -> list[dict[str, str]]:
    """The non-loopback attempts the guarded subprocesses recorded (after byte offset ``since``)."""
    path = record or Path(os.environ["NETGUARD_LOG"])
    if not path.exists():
        return []
    with path.open("rb") as handle:
        handle.seek(since)
        return [json.loads(line) for line in handle.read().splitlines() if line.strip()]


@pytest.fixture(autouse=True)
def _no_network_from_subprocesses() -> Iterator[None]:
    """Fail the test if any process it started tried to reach beyond loopback."""
    record = Path(os.environ["NETGUARD_LOG"])
    start = record.stat().st_size
    yield
    attempts = netguard_attempts(record, start)
    assert not attempts, f"a subprocess tried to use the network beyond loopback: {attempts}"


def settled(read, quiet_s: float = 0.5) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Engine counters once they stop changing."""
    last = read()
    while True:
        time.sleep(quiet_s)
        now = read()
        if now == last:
            return now
        last = now


_ENGINE_LOGS: dict[int, Path] = {}


def start_engine(tmp: Path, *extra: str, port: int = 0, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """Start `scribe serve` on a loopback port (0: a free one) as its own process; return it and its URL."""
    url_file = tmp / f"engine-{time.monotonic_ns()}.url"
    log = (tmp / (url_file.stem + ".log")).open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "scribe", "serve", "--port", str(port), "--url-file", str(url_file), *extra],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})},
    )
    _ENGINE_LOGS[proc.pid] = Path(log.name)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"engine exited with {proc.returncode}; see {log.name}")
        if url_file.exists():
            url = url_file.read_text().strip()
            try:
                if httpx.get(f"{url}/api/version", timeout=1).status_code == 200:
                    return proc, url
            except httpx.HTTPError:
                pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("engine did not start within 120 s")


def stop_engine(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def engine_exit_report(proc: subprocess.Popen[bytes], lines: int = 40) -> str:
    """How an engine process ended and the end of its log, for a test that finds it gone."""
    log = _ENGINE_LOGS.get(proc.pid)
    tail = log.read_text(errors="replace").splitlines()[-lines:] if log and log.exists() else []
    return f"the engine (pid {proc.pid}) exited with {proc.returncode}; its log ends:\n" + "\n".join(tail)


@dataclass
class SessionEngine:
    """The engine shared by the whole session. After a crash it is started again on the same port,
    so the URLs fixtures hold stay good and one crash fails one test, not every test after it."""

    proc: subprocess.Popen[bytes]
    url: str
    tmp: Path

    @property
    def requests(self) -> Path:
        """Where the engine appends each chat request it receives (SCRIBE_ENGINE_LOG_REQUESTS)."""
        return self.tmp / "requests.jsonl"

    @staticmethod
    def start(tmp: Path, port: int = 0) -> tuple[subprocess.Popen[bytes], str]:
        """The engine with its request log on, so a test can check what a client sent."""
        return start_engine(tmp, port=port, env={"SCRIBE_ENGINE_LOG_REQUESTS": str(tmp / "requests.jsonl")})

    def restart_if_gone(self) -> str | None:
        """If the engine has exited: how it ended (for the failing test), after starting a new one."""
        if self.proc.poll() is None:
            return None
        report = engine_exit_report(self.proc)
        self.proc, self.url = self.start(self.tmp, port=urlsplit(self.url).port or 0)
        return report


@pytest.fixture(scope="session")
def session_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SessionEngine]:
    """The real engine, serving every bundled model, shared by the whole session."""
    tmp = tmp_path_factory.mktemp("engine")
    engine = SessionEngine(*SessionEngine.start(tmp), tmp)
    yield engine
    stop_engine(engine.proc)


@pytest.fixture
def engine_url(session_engine: SessionEngine) -> Iterator[str]:
    """The session engine's URL. A test that finds the engine gone, or leaves it gone, fails with
    its exit code and log, so a crash is told apart from the failures it would otherwise cause."""
    report = session_engine.restart_if_gone()
    if report:
        pytest.fail("before this test " + report, pytrace=False)
    yield session_engine.url
    report = session_engine.restart_if_gone()
    if report:
        pytest.fail("during this test " + report, pytrace=False)


@pytest.fixture
def engine_stats(engine_url: str):  # type: ignore[no-untyped-def]
    """Read the engine's counters (requests, tokens, embedded inputs, cancelled streams)."""

    def read() -> dict[str, int]:
        return httpx.get(f"{engine_url}/scribe/stats", timeout=5).json()

    return read


@pytest.fixture
def engine_requests(session_engine: SessionEngine, engine_url: str):  # type: ignore[no-untyped-def]
    """Read the chat and generate requests the session engine received since the test began,
    exactly as clients sent them (the engine's request log)."""
    log = session_engine.requests
    start = log.stat().st_size if log.exists() else 0

    def read() -> list[dict[str, Any]]:
        if not log.exists():
            return []
        with log.open("rb") as handle:
            handle.seek(start)
            return [json.loads(line) for line in handle.read().splitlines() if line.strip()]

    return read


@pytest.fixture
def workspace(tmp_path: Path, engine_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty workspace whose scribe.toml points at the session engine."""
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "scribe.toml").write_text(f'engine = "ollama"\nollama_host = "{engine_url}"\nmodel = "{MODEL}"\n')
    for var in ("SCRIBE_ENGINE", "OLLAMA_HOST", "SCRIBE_MODEL", "SCRIBE_EMBED_MODEL", "SCRIBE_WORKSPACE"):
        monkeypatch.delenv(var, raising=False)
    return ws


def run_scribe(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the real `scribe` command in a subprocess."""
    full_env = child_env()
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "scribe", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
    )


REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def indexed_notes(tmp_path_factory: pytest.TempPathFactory, session_engine: SessionEngine) -> Path:
    """The repository's notes/, indexed once per session with the engine's embeddings."""
    engine_url = session_engine.url
    from scribe.config import open_workspace
    from scribe.index import open_index
    from scribe.models import ModelClient
    from scribe.sync import SyncOptions, sync_notes

    root = tmp_path_factory.mktemp("indexed") / "ws"
    shutil.copytree(REPO / "notes", root / "notes")
    (root / "scribe.toml").write_text(f'engine = "ollama"\nollama_host = "{engine_url}"\nmodel = "{MODEL}"\n')
    with open_index(open_workspace(root, env={})) as index:
        sync_notes(index, [root / "notes"], root=root, client=ModelClient(engine_url), options=SyncOptions(embed_model=EMBED_MODEL))
    return root


@pytest.fixture
def indexed_workspace(indexed_notes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the indexed notes workspace, so a test may change notes, index and log."""
    ws = tmp_path / "ws"
    shutil.copytree(indexed_notes, ws)
    for var in ("SCRIBE_ENGINE", "OLLAMA_HOST", "SCRIBE_MODEL", "SCRIBE_EMBED_MODEL", "SCRIBE_WORKSPACE"):
        monkeypatch.delenv(var, raising=False)
    return ws
