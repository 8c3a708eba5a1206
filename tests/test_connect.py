"""Choosing the model server, and saying so when drafts would leave the machine."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_server import FakeModelServer

from scribe.config import open_workspace
from scribe.connect import (
    EngineRecord,
    EngineStatus,
    engine_status,
    is_loopback,
    is_on_this_machine,
    privacy_notice,
    read_engine_record,
    resolve_host,
    stop_background_engine,
)
from scribe.models import open_server


@pytest.mark.parametrize(
    "url, loopback",
    [("http://127.0.0.1:11434", True), ("http://127.8.9.1:1", True), ("http://localhost:11434", True),
     ("http://[::1]:11434", True), ("http://10.1.2.3:11434", False), ("https://gpu-box.lan", False),
     ("http://0.0.0.0:11434", False)],
)
def test_loopback_detection(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback


def test_remote_host_is_announced_once_unless_silenced(tmp_path: Path) -> None:
    heard: list[str] = []
    remote = "http://192.0.2.10:11434"  # never contacted: --host skips probing
    ws = open_workspace(tmp_path, env={})
    assert resolve_host(ws, host=remote, say=heard.append) == remote
    assert heard == [privacy_notice(remote)] and remote in heard[0] and "warn_remote_host" in heard[0]

    (tmp_path / "scribe.toml").write_text("warn_remote_host = false\n")
    quiet: list[str] = []
    resolve_host(open_workspace(tmp_path, env={}), host=remote, say=quiet.append)
    assert quiet == []


def test_loopback_host_is_not_announced(tmp_path: Path, engine_url: str) -> None:
    heard: list[str] = []
    resolve_host(open_workspace(tmp_path, env={}), host=engine_url, say=heard.append)
    assert heard == []


@pytest.mark.parametrize(
    "url, here",
    [("fake://writer", True), ("fake://10.1.2.3:11434", True), ("http://127.0.0.1:11434", True),
     ("127.0.0.1:11434", True), ("http://10.1.2.3:11434", False), ("gpu-box.lan:11434", False)],
)
def test_a_registered_in_process_server_is_this_machine_and_is_not_announced(url: str, here: bool) -> None:
    assert is_on_this_machine(url) is here
    assert (privacy_notice(url) is None) is here


def test_auto_takes_a_registered_host_as_it_is_without_probing_or_starting_the_engine(
    fake_workspace: Path, fake_server: FakeModelServer,
) -> None:
    """The fixture makes a probe or an engine start fail the test; engine = "auto" is the default."""
    heard: list[str] = []
    ws = open_workspace(fake_workspace, env={})
    assert ws.settings.engine == "auto"
    url = resolve_host(ws, say=heard.append)
    assert url == ws.settings.ollama_host and url.startswith("fake://") and heard == []
    assert open_server(url) is fake_server
    assert not (fake_workspace / ".scribe" / "engine.json").exists()


def test_engine_record_reads_old_and_broken_records(tmp_path: Path) -> None:
    state = tmp_path / "engine.json"
    assert read_engine_record(state) is None
    state.write_text('{"url": "http://127.0.0.1:1", "pid": 42}')  # written before start time and idle exit were kept
    assert read_engine_record(state) == EngineRecord("http://127.0.0.1:1", 42)
    state.write_text('{"url": "http://127.0.0.1:1", "pid": 42, "started_at": 1700000000.5, "idle_exit_s": 900}')
    assert read_engine_record(state) == EngineRecord("http://127.0.0.1:1", 42, 1700000000.5, 900.0)
    for broken in ("{", "[]", '{"url": "x"}', '{"url": "x", "pid": "many"}'):
        state.write_text(broken)
        assert read_engine_record(state) is None


def test_status_and_stop_without_a_state_folder_touch_nothing(tmp_path: Path) -> None:
    ws = open_workspace(tmp_path, env={})
    assert engine_status(ws) == EngineStatus(running=False)
    assert stop_background_engine(ws).message == "no background engine is running for this workspace"
    assert not (tmp_path / ".scribe").exists()
