"""`scribe serve status` / `scribe serve stop`: the background engine a command starts, seen and stopped for real."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import MODEL, run_scribe, start_engine, stop_engine
from processes import gone

pytestmark = pytest.mark.engine  # these start engines of their own
from test_models import free_port

from scribe.doctor import background_engine


def _engines_of(ws: Path) -> list[int]:
    """Pids of engines started for this workspace (their --url-file lies in its .scribe/), from /proc."""
    marker = str(ws / ".scribe" / "engine.url").encode()
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
        except (OSError, ValueError):
            pass
    return [pid for pid in pids if not gone(pid)]


@pytest.fixture
def embedded_ws(tmp_path: Path) -> Iterator[Path]:
    """A workspace whose commands start scribe's engine in the background; every such engine is killed afterwards."""
    ws = (tmp_path / "ws").resolve()
    ws.mkdir()
    (ws / "scribe.toml").write_text(f'engine = "embedded"\nmodel = "{MODEL}"\n')
    yield ws
    for pid in _engines_of(ws):
        os.kill(pid, signal.SIGKILL)


def test_status_and_stop_the_engine_a_command_started(embedded_ws: Path) -> None:
    asked = run_scribe("ask", "hello", "--num-predict", "2", cwd=embedded_ws)
    assert asked.returncode == 0, asked.stderr
    assert "started the embedded engine" in asked.stderr
    record = json.loads((embedded_ws / ".scribe" / "engine.json").read_text())
    url, pid = record["url"], record["pid"]
    assert record["idle_exit_s"] == 900 and record["started_at"] <= time.time()

    status = run_scribe("serve", "status", "--json", cwd=embedded_ws)
    assert status.returncode == 0, status.stderr
    seen = json.loads(status.stdout)
    assert seen["running"] is True and seen["pid"] == pid and seen["url"] == url
    assert MODEL in [m["name"] for m in seen["models"]] and all(m["expires_at"] for m in seen["models"])
    assert seen["stats"]["chat_requests"] >= 1 and seen["stats"]["tokens_generated"] >= 1
    assert seen["idle_exit_s"] == 900 and seen["exits_if_idle_at"] and seen["uptime_s"] >= 0
    if sys.platform == "linux":
        assert seen["rss_bytes"] > 10_000_000

    line = run_scribe("serve", "status", cwd=embedded_ws)
    assert line.returncode == 0 and line.stdout.startswith(f"running at {url} (pid {pid}")
    assert line.stdout.strip().count("\n") == 0 and MODEL in line.stdout and "idle" in line.stdout

    doctor_line = background_engine(embedded_ws)
    assert doctor_line is not None and doctor_line.ok and url in doctor_line.detail and str(pid) in doctor_line.detail

    stopped = run_scribe("serve", "stop", cwd=embedded_ws)
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip() == f"stopped the engine at {url} (pid {pid})"  # SIGTERM was enough: no "killed"
    assert gone(pid) and not (embedded_ws / ".scribe" / "engine.json").exists()
    log = (embedded_ws / ".scribe" / "engine.log").read_text()
    assert "SIGTERM, shutting down" in log and "Traceback" not in log  # the clean path, as the idle exit takes

    after = run_scribe("serve", "status", cwd=embedded_ws)
    assert after.returncode == 1 and after.stdout.startswith("not running")
    again = run_scribe("serve", "stop", cwd=embedded_ws)
    assert again.returncode == 0 and again.stdout.strip() == "no background engine is running for this workspace"
    off = background_engine(embedded_ws)
    assert off is not None and off.ok and "not running" in off.detail


def test_a_stale_record_is_removed_and_a_stranger_is_left_alone(embedded_ws: Path) -> None:
    state = embedded_ws / ".scribe"
    state.mkdir()
    record = state / "engine.json"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    record.write_text(json.dumps({"url": f"http://127.0.0.1:{free_port()}", "pid": dead.pid}))
    status = run_scribe("serve", "status", cwd=embedded_ws)
    assert status.returncode == 1 and status.stdout.strip() == "not running (stale record removed)"
    assert not record.exists()

    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        record.write_text(json.dumps({"url": f"http://127.0.0.1:{free_port()}", "pid": stranger.pid}))
        as_json = run_scribe("serve", "status", "--json", cwd=embedded_ws)
        assert as_json.returncode == 1 and json.loads(as_json.stdout)["stale_record_removed"] is True

        record.write_text(json.dumps({"url": f"http://127.0.0.1:{free_port()}", "pid": stranger.pid}))
        stop = run_scribe("serve", "stop", cwd=embedded_ws)
        assert stop.returncode == 0 and "left alone" in stop.stdout and str(stranger.pid) in stop.stdout
        assert stranger.poll() is None and not record.exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_a_silent_engine_keeps_its_record_and_stop_kills_it_when_sigterm_is_ignored(embedded_ws: Path) -> None:
    """A wedged engine: a process whose command line is `... scribe serve`, deaf to SIGTERM, not answering its URL."""
    state = embedded_ws / ".scribe"
    state.mkdir()
    record = state / "engine.json"
    deaf = "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(120)"
    wedged = subprocess.Popen([sys.executable, "-c", deaf, "scribe", "serve"], stdout=subprocess.PIPE, text=True)
    try:
        assert wedged.stdout is not None and wedged.stdout.readline() == "ready\n"
        url = f"http://127.0.0.1:{free_port()}"
        record.write_text(json.dumps({"url": url, "pid": wedged.pid}))
        status = run_scribe("serve", "status", cwd=embedded_ws)
        assert status.returncode == 1 and status.stdout.strip() == f"not answering at {url} (pid {wedged.pid}); scribe serve stop stops it"
        assert record.exists()

        stop = run_scribe("serve", "stop", "--json", cwd=embedded_ws)
        result = json.loads(stop.stdout)
        assert stop.returncode == 0 and result["stopped"] and result["killed"] and "killed after 10 s" in result["message"]
        assert wedged.wait(timeout=5) == -signal.SIGKILL and not record.exists()
    finally:
        wedged.kill()
        wedged.wait()


def test_sigterm_while_generating_exits_without_unloading_under_the_request(tmp_path: Path) -> None:
    """Freeing a model under a running generation crashes llama.cpp: the engine waits briefly, then exits as SIGTERM asks."""
    proc, url = start_engine(tmp_path)
    first_token, finished = threading.Event(), threading.Event()

    def generate() -> None:
        body = {"model": MODEL, "prompt": "Tell a long story.", "options": {"num_predict": 4000, "seed": 1}}
        try:
            with httpx.stream("POST", f"{url}/api/generate", json=body, timeout=60) as response:
                for line in response.iter_lines():
                    first_token.set()
                    if json.loads(line).get("done"):
                        finished.set()
        except httpx.HTTPError:
            pass  # the engine went away mid-stream, as it should
        finally:
            first_token.set()

    client = threading.Thread(target=generate, daemon=True)
    client.start()
    try:
        assert first_token.wait(60)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        client.join(10)
        # The stream is far longer than the 3 s grace, so it is cut (143); had it ended first, the exit is clean (0).
        assert code == (0 if finished.is_set() else 128 + signal.SIGTERM), code  # never -SIGSEGV
    finally:
        stop_engine(proc)
        client.join(10)
