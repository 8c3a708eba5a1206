"""Choose the model server: a running Ollama, or scribe's embedded engine started in the background.

`engine = "auto"` prefers Ollama at OLLAMA_HOST when it answers. Otherwise one engine process per
workspace is started on a free loopback port, remembered in `.scribe/engine.json`, reused by later
commands, and left to exit by itself after a quiet spell.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from scribe.config import Workspace
from scribe.errors import ConfigError, HostUnreachable
from scribe.models import is_answering

ENGINE_IDLE_EXIT_S = 900
ENGINE_START_TIMEOUT_S = 180


def is_loopback(url: str) -> bool:
    """True when `url` names this machine (127.0.0.0/8, ::1 or localhost)."""
    name = (urlsplit(url if "://" in url else f"http://{url}").hostname or "").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def privacy_notice(url: str) -> str | None:
    """The one-line notice for a model server on another machine, or None for loopback."""
    if is_loopback(url):
        return None
    return (
        f"scribe: drafts and notes will be sent to {url}, which is not this machine; "
        "set warn_remote_host = false in scribe.toml to silence this"
    )


def resolve_host(
    workspace: Workspace,
    *,
    engine: str | None = None,
    host: str | None = None,
    say: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> str:
    """The URL of the model server this command should use. Says once if it is on another machine."""
    url = _choose_host(workspace, engine=engine, host=host, say=say)
    notice = privacy_notice(url)
    if notice and workspace.settings.warn_remote_host:
        say(notice)
    return url


def _choose_host(workspace: Workspace, *, engine: str | None, host: str | None, say: Callable[[str], None]) -> str:
    if host:
        return host
    mode = engine or workspace.settings.engine
    ollama_host = workspace.settings.ollama_host
    if mode == "ollama":
        return ollama_host
    if mode == "auto" and is_answering(ollama_host):
        return ollama_host
    url, started = ensure_embedded_engine(workspace)
    if started:
        reason = "engine = embedded" if mode == "embedded" else f"no Ollama at {ollama_host}"
        say(f"scribe: {reason}; started the embedded engine at {url} (stops after {ENGINE_IDLE_EXIT_S // 60} idle minutes)")
    return url


def ensure_embedded_engine(workspace: Workspace) -> tuple[str, bool]:
    """Reuse this workspace's engine if it answers, else start one. Returns (url, started_now)."""
    from filelock import FileLock

    state_dir = workspace.ensure_state_dir()
    state_file = state_dir / "engine.json"
    with FileLock(str(state_dir / "engine.lock"), timeout=ENGINE_START_TIMEOUT_S):
        url = _known_engine(state_file)
        if url is not None:
            return url, False
        url, pid = start_engine(state_dir)
        state_file.write_text(json.dumps({"url": url, "pid": pid}), encoding="utf-8")
        return url, True


def _known_engine(state_file: Path) -> str | None:
    try:
        url = json.loads(state_file.read_text(encoding="utf-8"))["url"]
    except (OSError, ValueError, KeyError):
        return None
    return url if is_answering(url) else None


def start_engine(state_dir: Path, *, idle_exit_s: int = ENGINE_IDLE_EXIT_S) -> tuple[str, int]:
    """Start `scribe serve` detached on a free loopback port and wait until it answers."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise ConfigError(
            "no model server to use: Ollama is not running and the embedded engine is not installed; "
            "install it with: pip install 'scribe[engine]'"
        )
    url_file = state_dir / "engine.url"
    url_file.unlink(missing_ok=True)
    log_path = state_dir / "engine.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "scribe", "serve", "--port", "0", "--idle-exit", str(idle_exit_s),
             "--url-file", str(url_file)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    deadline = time.monotonic() + ENGINE_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise HostUnreachable(
                f"the embedded engine exited at start (code {proc.returncode}); see {log_path}"
            )
        if url_file.exists():
            url = url_file.read_text(encoding="utf-8").strip()
            if is_answering(url):
                return url, proc.pid
        time.sleep(0.1)
    proc.kill()
    raise HostUnreachable(f"the embedded engine did not answer within {ENGINE_START_TIMEOUT_S} s; see {log_path}")
