"""Choose the model server: a running Ollama, or scribe's embedded engine started in the background.

`engine = "auto"` prefers Ollama at OLLAMA_HOST when it answers. Otherwise one engine process per
workspace is started on a free loopback port, remembered in `.scribe/engine.json` (url, pid, start
time, idle-exit seconds), reused by later commands, and left to exit by itself after a quiet spell.
A host whose scheme is not http or https names a model server registered in this process
(`scribe.models.register_server`, as the tests' fake is): it is not a network host, so it is never
probed, never replaced by the engine, and never announced as leaving the machine.
`engine_status` and `stop_background_engine` are behind `scribe serve status` / `scribe serve stop`.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from scribe.config import Workspace
from scribe.errors import ConfigError, HostUnreachable
from scribe.models import is_answering, is_network_host

ENGINE_IDLE_EXIT_S = 900
ENGINE_START_TIMEOUT_S = 180
ENGINE_STOP_TIMEOUT_S = 10


def is_loopback(url: str) -> bool:
    """True when `url` names this machine (127.0.0.0/8, ::1 or localhost)."""
    name = (urlsplit(url if "://" in url else f"http://{url}").hostname or "").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_on_this_machine(url: str) -> bool:
    """True for a loopback URL, and for a model server registered in this process (not http)."""
    return not is_network_host(url) or is_loopback(url)


def privacy_notice(url: str) -> str | None:
    """The one-line notice for a model server on another machine, or None for this machine."""
    if is_on_this_machine(url):
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
    if mode == "auto" and (not is_network_host(ollama_host) or is_answering(ollama_host)):
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
        started_at = time.time()
        url, pid = start_engine(state_dir)
        _write_record(state_file, EngineRecord(url, pid, started_at=started_at, idle_exit_s=ENGINE_IDLE_EXIT_S))
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


# -- the background engine's record, status and stop (`scribe serve status` / `scribe serve stop`) ------


@dataclass(frozen=True)
class EngineRecord:
    """What `.scribe/engine.json` says about the engine a command started for this workspace."""

    url: str
    pid: int
    started_at: float | None = None  # wall-clock seconds since the epoch
    idle_exit_s: float | None = None


@dataclass
class LoadedModel:
    name: str
    expires_at: str


@dataclass
class EngineStatus:
    """The background engine as `scribe serve status` reports it (not running: only a silent engine's url and pid are set)."""

    running: bool
    answering: bool | None = None  # False: the process lives but its URL does not answer
    url: str | None = None
    pid: int | None = None
    started_at: str | None = None
    uptime_s: float | None = None
    idle_exit_s: float | None = None
    exits_if_idle_at: str | None = None  # the earliest: every request, this status check's included, restarts the clock
    rss_bytes: int | None = None
    models: list[LoadedModel] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    stale_record_removed: bool = False


@dataclass
class StopResult:
    stopped: bool
    url: str | None = None
    pid: int | None = None
    killed: bool = False  # it ignored SIGTERM for ENGINE_STOP_TIMEOUT_S and got SIGKILL
    stale_record_removed: bool = False
    message: str = ""


def engine_state_file(workspace: Workspace) -> Path:
    return workspace.state_dir / "engine.json"


def read_engine_record(state_file: Path) -> EngineRecord | None:
    """The record, or None when there is none or it cannot be read (a broken record counts as none)."""
    try:
        data = json.loads(state_file.read_text(encoding="utf-8"))
        return EngineRecord(str(data["url"]), int(data["pid"]), _number(data.get("started_at")), _number(data.get("idle_exit_s")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _write_record(state_file: Path, record: EngineRecord) -> None:
    tmp = state_file.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(asdict(record)), encoding="utf-8")
    os.replace(tmp, state_file)


def engine_status(workspace: Workspace, *, remove_stale: bool = True) -> EngineStatus:
    """Whether this workspace's background engine runs (record present, pid alive and ours, URL answering), and how it is doing.

    A stale record (pid gone, or now another program's) is removed when `remove_stale`. An engine whose
    process lives but does not answer keeps its record, so that `stop_background_engine` can end it.
    """
    import httpx

    state_file = engine_state_file(workspace)
    record = read_engine_record(state_file)
    if record is None:
        return EngineStatus(running=False, stale_record_removed=remove_stale and _forget_broken(state_file))
    if not (_pid_alive(record.pid) and _is_our_engine(record)):
        return EngineStatus(running=False, stale_record_removed=remove_stale and _forget(state_file, record))
    if not is_answering(record.url, timeout=3):
        # Alive and ours, but silent (wedged, or swamped): keep the record so `scribe serve stop` can end it.
        return EngineStatus(running=False, answering=False, url=record.url, pid=record.pid, rss_bytes=_rss_bytes(record.pid))
    status = EngineStatus(running=True, answering=True, url=record.url, pid=record.pid, idle_exit_s=record.idle_exit_s, rss_bytes=_rss_bytes(record.pid))
    if record.started_at is not None:
        status.started_at = datetime.fromtimestamp(record.started_at, UTC).isoformat(timespec="seconds")
        status.uptime_s = round(max(0.0, time.time() - record.started_at), 1)
    try:
        status.models = [LoadedModel(m.get("name", "?"), m.get("expires_at", "")) for m in httpx.get(f"{record.url}/api/ps", timeout=5).json().get("models", [])]
        status.stats = httpx.get(f"{record.url}/scribe/stats", timeout=5).json()
    except (httpx.HTTPError, ValueError, AttributeError):
        pass  # it answered /api/version a moment ago; the details are a bonus
    if record.idle_exit_s is not None:
        status.exits_if_idle_at = datetime.fromtimestamp(time.time() + record.idle_exit_s, UTC).isoformat(timespec="seconds")
    return status


def stop_background_engine(workspace: Workspace) -> StopResult:
    """SIGTERM this workspace's engine (only if the pid is really a scribe engine), SIGKILL after a wait; drop its record."""
    from filelock import FileLock

    state_file = engine_state_file(workspace)
    nothing = "no background engine is running for this workspace"
    if not workspace.state_dir.is_dir():
        return StopResult(False, message=nothing)
    # The lock keeps a command from starting (or adopting) an engine while this one is being stopped.
    with FileLock(str(workspace.state_dir / "engine.lock"), timeout=ENGINE_START_TIMEOUT_S):
        record = read_engine_record(state_file)
        if record is None:
            removed = _forget_broken(state_file)
            return StopResult(False, stale_record_removed=removed, message=nothing + (" (unreadable record removed)" if removed else ""))
        if not _pid_alive(record.pid):
            _remove_record(state_file)
            return StopResult(False, stale_record_removed=True, message=f"{nothing} (stale record removed)")
        if not _is_our_engine(record):
            _remove_record(state_file)
            return StopResult(False, stale_record_removed=True,
                              message=f"{nothing} (stale record removed; pid {record.pid} is another program, left alone)")
        killed = _terminate(record.pid)
        _remove_record(state_file)
    how = f"pid {record.pid}, killed after {ENGINE_STOP_TIMEOUT_S} s without exiting" if killed else f"pid {record.pid}"
    return StopResult(True, url=record.url, pid=record.pid, killed=killed, message=f"stopped the engine at {record.url} ({how})")


def _forget(state_file: Path, record: EngineRecord) -> bool:
    """Remove a stale record unless a command replaced it meanwhile (or is starting an engine right now)."""
    from filelock import FileLock, Timeout

    try:
        with FileLock(str(state_file.parent / "engine.lock"), timeout=2):
            if read_engine_record(state_file) != record:
                return False
            _remove_record(state_file)
            return True
    except (Timeout, OSError):
        return False


def _forget_broken(state_file: Path) -> bool:
    """Remove a record that exists but cannot be read."""
    if not state_file.exists():
        return False
    from filelock import FileLock, Timeout

    try:
        with FileLock(str(state_file.parent / "engine.lock"), timeout=2):
            if not state_file.exists() or read_engine_record(state_file) is not None:
                return False
            _remove_record(state_file)
            return True
    except (Timeout, OSError):
        return False


def _remove_record(state_file: Path) -> None:
    state_file.unlink(missing_ok=True)
    (state_file.parent / "engine.url").unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, exited but not yet reaped, counts as gone; so does a pid we may not signal)."""
    if pid <= 0:
        return False
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False  # our own child, which had exited: now reaped
    except ChildProcessError:
        pass  # not our child: the usual case, the engine was started by an earlier command
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (not Linux): kill(0) is all we know


def _is_our_engine(record: EngineRecord) -> bool:
    """Whether `record.pid` is a scribe engine: its command line says `scribe ... serve`, or (without /proc) the URL says so."""
    try:
        args = Path(f"/proc/{record.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return _engine_name(record.url).startswith("scribe")
    return b"serve" in args and any(b"scribe" in arg for arg in args)


def _engine_name(url: str) -> str:
    import httpx

    try:
        return str(httpx.get(f"{url}/api/version", timeout=2).json().get("engine", ""))
    except (httpx.HTTPError, ValueError, AttributeError):
        return ""


def _terminate(pid: int) -> bool:
    """SIGTERM, wait, then SIGKILL. Returns True when it had to kill."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    if _wait_gone(pid, ENGINE_STOP_TIMEOUT_S):
        return False
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    _wait_gone(pid, 5)
    return True


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        time.sleep(0.1)
    return not _pid_alive(pid)


def _rss_bytes(pid: int) -> int | None:
    """Resident memory from /proc/PID/status (Linux); None elsewhere."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
