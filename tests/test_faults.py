"""Faults, for real: kill -9 at exact commit steps, engines killed mid-stream, damaged files, a read-only
workspace and a full disk, two writers and the TUI at once.

Kills are real SIGKILLs: either from outside (``proc.kill()``) or, to hit one exact step, by the
process itself through tests/subprocess_hooks/killpoint.py (FAULT_KILL_AT). Disks are real tmpfs
mounts; where the container may not mount, those tests skip and say why.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from conftest import MODEL, run_scribe, start_engine, stop_engine
from index_support import configure, index_state, write_note
from processes import child_env

from scribe.config import open_workspace

WIDE = {"COLUMNS": "400"}  # keep Rich from wrapping one-line messages
LONG = f"{MODEL}@num_predict=400,seed=5"
DRAFT_TEXT = "# Retries\n\nRetries need idempotency keys.\n\n## Testing\n\nReplay the request twice and compare.\n"


def scribe(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_scribe(*args, cwd=cwd, env={**WIDE, **(env or {})})


def scribe_env(**extra: str) -> dict[str, str]:
    env = child_env()
    return {**env, **WIDE, **extra}


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` with the hash of its bytes: the inputs, to prove nothing changed."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith((".tmp", ".partial"))]


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


# --- kill -9 of `scribe index` at each commit step --------------------------------------------------

def index_killed_at(ws: Path, point: str) -> None:
    """Run `scribe index` with a kill point; it must die there (not finish, not fail otherwise)."""
    result = subprocess.run([sys.executable, "-m", "scribe", "index"], cwd=ws, env=scribe_env(FAULT_KILL_AT=point),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == -signal.SIGKILL, f"{point} was not reached: {result.returncode} {result.stderr}"


def assert_committed_work_is_whole(ws: Path) -> None:
    """What the saved manifest names is in both stores, once; the index answers a search meanwhile."""
    state = index_state(ws)  # also runs FTS5's integrity check
    assert len(state.manifest) == len(set(state.manifest))
    assert set(state.manifest) <= state.chroma and set(state.manifest) <= state.fts
    assert state.chroma_count == len(state.chroma) and state.fts_count == len(state.fts)
    result = scribe("search", "topic", "--json", cwd=ws)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_index_killed_at_each_commit_step_then_completes(workspace: Path) -> None:
    """Kill points cover every step of the commit order in scribe.index, including a kill mid-recovery."""
    configure(workspace, embed_batch_size=2)
    for i in range(12):
        write_note(workspace, f"notes/n{i:02}.md", f"# Note {i}\n\nTopic {i} is about item{i} only.\n")
    for point in (
        "scribe.vectors:VectorStore.upsert:2",  # one batch in, the next one's vectors not yet written
        "scribe.vectors:VectorStore.upsert:2:after",  # vectors written, their keyword rows not
        "scribe.fts:_Transaction.__exit__:3",  # keyword rows inserted, their transaction not committed
        "scribe.fts:KeywordStore.write:2:after",  # both stores written, the manifest not yet saved
    ):
        index_killed_at(workspace, point)
        assert_committed_work_is_whole(workspace)
    assert scribe("index", cwd=workspace).returncode == 0
    assert index_state(workspace).consistent()

    for i in range(3):  # changed chunks leave stale ids, removed notes leave whole files to delete
        write_note(workspace, f"notes/n{i:02}.md", f"# Note {i}\n\nTopic {i} is now about pears{i}.\n")
    for i in (10, 11):
        (workspace / "notes" / f"n{i:02}.md").unlink()
    index_killed_at(workspace, "scribe.manifest:save_manifest:1:after")  # saved; stale chunks not yet deleted
    assert_committed_work_is_whole(workspace)
    assert len(index_state(workspace).chroma) > len(index_state(workspace).manifest)  # orphans, for now
    index_killed_at(workspace, "scribe.vectors:VectorStore.delete:1:after")  # during recovery: vectors gone, rows not
    assert_committed_work_is_whole(workspace)

    result = scribe("index", "--json", cwd=workspace)
    assert result.returncode == 0, result.stderr
    state = index_state(workspace)
    assert state.consistent() and len(state.manifest_files) == 10 and len(state.manifest) == 10
    assert not (workspace / ".scribe" / "index.pending").exists() and not temp_files(workspace)
    hits = json.loads(scribe("search", "pears1", "--mode", "keyword", "--json", cwd=workspace).stdout)
    assert hits[0]["path"] == "notes/n01.md"


# --- the engine killed while tokens stream ------------------------------------------------------------

def tokens_generated(url: str) -> int:
    try:
        return int(httpx.get(f"{url}/scribe/stats", timeout=5).json()["tokens_generated"])
    except httpx.HTTPError:
        return 0


@contextmanager
def private_engines(tmp: Path, n: int) -> Iterator[list[tuple[subprocess.Popen[bytes], str]]]:
    engines = [start_engine(tmp, "--threads", "1") for _ in range(n)]
    try:
        yield engines
    finally:
        for proc, _ in engines:
            stop_engine(proc)


def runs(ws: Path) -> list[dict[str, object]]:
    result = scribe("log", "--json", "-n", "50", cwd=ws)
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


@pytest.mark.slow
def test_engine_killed_mid_task_keeps_the_partial_text_as_failed(workspace: Path, tmp_path: Path) -> None:
    write_note(workspace, "notes/drafts/retries.md", DRAFT_TEXT)
    with private_engines(tmp_path, 1) as [(engine, url)]:
        # expand: a text task streams to stdout (a JSON task's reply streams to stderr, then its markdown is printed)
        task = subprocess.Popen([sys.executable, "-m", "scribe", "expand", "notes/drafts/retries.md", "--host", url, "-m", LONG, "-k", "0"],
                                cwd=workspace, env=scribe_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_until(lambda: tokens_generated(url) >= 5 or task.poll() is not None, "tokens to stream")
        engine.kill()
        out, err = task.communicate(timeout=120)
    assert task.returncode == 1 and "Traceback" not in err and "error: " in err, err
    (run,) = runs(workspace)
    assert run["status"] == "failed" and run["error"]
    assert str(run["output_text"]).strip() and str(run["output_text"]).strip() == out.strip()  # what was shown is kept


@pytest.mark.slow
def test_batch_with_every_host_killed_reports_each_item_failed(workspace: Path, tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        write_note(workspace, f"notes/drafts/{name}.md", DRAFT_TEXT.replace("Retries", f"Retries {name}"))
    drafts = [f"notes/drafts/{name}.md" for name in ("a", "b", "c")]
    with private_engines(tmp_path, 2) as engines:
        args = [sys.executable, "-m", "scribe", "critique", *drafts, "-m", LONG, "-k", "0", "--out", "crit", "--json"]
        for _, url in engines:
            args += ["--host", url]
        batch = subprocess.Popen(args, cwd=workspace, env=scribe_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_until(lambda: sum(tokens_generated(url) for _, url in engines) >= 5 or batch.poll() is not None, "tokens to stream")
        for proc, _ in engines:
            proc.kill()
        out, err = batch.communicate(timeout=180)
    assert batch.returncode == 1 and "Traceback" not in err, err
    items = json.loads(out)["items"]
    assert len(items) == 3 and all(item["status"] == "failed" for item in items), items
    summary = json.loads((workspace / "crit" / "summary.json").read_text())
    assert summary["totals"]["failed"] == 3
    logged = runs(workspace)
    assert logged and all(run["status"] == "failed" for run in logged)
    assert any(run["output_text"] for run in logged)  # the streams cut off mid-way kept their text
    assert not temp_files(workspace)


# --- damaged files --------------------------------------------------------------------------------------

def truncate_half(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 2)


@pytest.mark.slow
def test_damaged_index_files_and_run_log_give_one_line_and_the_recovery(workspace: Path) -> None:
    write_note(workspace, "notes/a.md", "Apples grow on trees.\n")
    assert scribe("index", cwd=workspace).returncode == 0
    state_dir = workspace / ".scribe"

    truncate_half(state_dir / "manifest.json")
    line = one_line_error(scribe("index", cwd=workspace))
    assert "manifest.json" in line and "damaged" in line and "scribe index --rebuild" in line
    assert scribe("index", "--rebuild", cwd=workspace).returncode == 0

    with sqlite3.connect(state_dir / "fts.sqlite") as db:  # fold the WAL in, so truncating cuts real pages
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    truncate_half(state_dir / "fts.sqlite")
    line = one_line_error(scribe("index", cwd=workspace))  # even with no note changed, the damage is caught
    assert "fts.sqlite" in line and "scribe index --rebuild" in line
    assert scribe("index", "--rebuild", cwd=workspace).returncode == 0
    for suffix in ("", "-wal", "-shm"):  # the keyword store lost: the next run repairs it by itself
        Path(f"{state_dir / 'fts.sqlite'}{suffix}").unlink(missing_ok=True)
    assert scribe("index", cwd=workspace).returncode == 0
    assert index_state(workspace).consistent()
    assert json.loads(scribe("search", "apples", "--mode", "keyword", "--json", cwd=workspace).stdout)

    assert scribe("ask", "hi", "--num-predict", "2", cwd=workspace).returncode == 0
    log = state_dir / "runs.sqlite"
    with sqlite3.connect(log) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    truncate_half(log)
    damaged = log.read_bytes()
    for args in (("log",), ("ask", "hi", "--num-predict", "2")):
        line = one_line_error(scribe(*args, cwd=workspace))
        assert str(log) in line and "move the file aside" in line
    assert log.read_bytes() == damaged  # never deleted or rewritten without the user


# --- a read-only workspace and a full disk ----------------------------------------------------------------

@contextmanager
def tmpfs(mountpoint: Path, size: str) -> Iterator[Path]:
    mountpoint.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN): {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def tmpfs_workspace(root: Path, engine_url: str) -> Path:
    ws = root / "ws"
    ws.mkdir()
    (ws / "scribe.toml").write_text(f'engine = "ollama"\nollama_host = "{engine_url}"\n')
    write_note(ws, "notes/a.md", "# Apples\n\nApples grow on trees.\n")
    write_note(ws, "notes/drafts/retries.md", DRAFT_TEXT)
    return ws


@pytest.mark.slow
def test_read_only_workspace_is_a_clear_error_and_changes_nothing(tmp_path: Path, engine_url: str) -> None:
    with tmpfs(tmp_path / "mnt", "16m") as mnt:
        ws = tmpfs_workspace(mnt, engine_url)
        assert scribe("index", cwd=ws).returncode == 0
        write_note(ws, "notes/b.md", "# Pears\n\nPears too.\n")  # work for the next index run
        before = tree_digest(ws)
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        for args in (("index",), ("search", "apples"), ("log",),
                     ("expand", "notes/drafts/retries.md", "--in-place", "-m", f"{MODEL}@num_predict=4", "-k", "0")):
            line = one_line_error(scribe(*args, cwd=ws))
            assert ("read-only" in line or "Read-only" in line) and "writable" in line, (args, line)
        assert tree_digest(ws) == before and not temp_files(ws)


@pytest.mark.slow
def test_full_disk_is_a_clear_error_leaves_no_partial_files_and_recovers(tmp_path: Path, engine_url: str) -> None:
    with tmpfs(tmp_path / "mnt", "8m") as mnt:
        ws = tmpfs_workspace(mnt, engine_url)
        assert scribe("ask", "hi", "--num-predict", "2", cwd=ws).returncode == 0  # the run log exists
        for i in range(30):
            write_note(ws, f"notes/n{i:02}.md", f"# Note {i}\n\nTopic {i} is about item{i}.\n")
        notes_before = tree_digest(ws / "notes")
        filler = mnt / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        for size in (1 << 16, 4096, 1):  # fill the disk to the last byte
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError:
                pass
        os.close(fd)

        line = one_line_error(scribe("index", cwd=ws))
        assert "disk is full" in line or "No space left" in line, line
        line = one_line_error(scribe("expand", "notes/drafts/retries.md", "--in-place", "-m", f"{MODEL}@num_predict=4", "-k", "0", cwd=ws))
        assert "disk is full" in line or "No space left" in line, line
        assert tree_digest(ws / "notes") == notes_before and not temp_files(ws)
        assert not list((ws / "notes" / "drafts").glob("*.bak"))

        filler.unlink()
        result = scribe("index", cwd=ws)
        assert result.returncode == 0, result.stderr
        assert index_state(ws).consistent() and len(index_state(ws).manifest_files) == 32


# --- two writers and the TUI on one workspace ---------------------------------------------------------------

@pytest.mark.slow
def test_two_index_runs_and_the_tui_at_once_one_writes_and_the_others_wait_or_say_why(workspace: Path) -> None:
    configure(workspace, embed_batch_size=2)
    for i in range(16):
        write_note(workspace, f"notes/n{i:02}.md", f"# Note {i}\n\nTopic {i} is about item{i} only.\n")
    draft = write_note(workspace, "notes/drafts/retries.md", DRAFT_TEXT)
    index = [sys.executable, "-m", "scribe", "index"]
    first = subprocess.Popen(index, cwd=workspace, env=scribe_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: (workspace / ".scribe" / "index.pending").exists() or first.poll() is not None, "the first run to write")
    second = subprocess.Popen(index, cwd=workspace, env=scribe_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    messages: list[str] = []

    async def tui() -> None:
        from scribe.tui.app import (
            ScribeApp,  # Textual only when the app runs, as in the product
        )

        app = ScribeApp(open_workspace(workspace, env={}), draft, index=None, autosave_delay=0.3, warm_pause=None)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f8")
            deadline = time.monotonic() + 240
            while any(w.group == "reindex" and w.is_running for w in app.workers) or not app._notifications:
                assert time.monotonic() < deadline, "the TUI's re-index did not end"
                await pilot.pause(0.1)
            messages.extend(n.message for n in app._notifications)

    asyncio.run(tui())
    _, first_err = first.communicate(timeout=300)
    _, second_err = second.communicate(timeout=300)
    assert first.returncode == 0, first_err
    waited_then_said = "another `scribe index` is updating the index" in second_err and "wait for it to finish" in second_err
    assert second.returncode == 0 or (second.returncode == 1 and waited_then_said), second_err
    assert any(m.startswith("indexed:") or "another `scribe index` is updating the index" in m for m in messages), messages

    assert scribe("index", cwd=workspace).returncode == 0
    state = index_state(workspace)  # FTS5 integrity check included
    assert state.consistent() and len(state.manifest_files) == 17


# --- the TUI killed while typing ------------------------------------------------------------------------------

def app_pid(shell_pid: int) -> int:
    """The Python process running the app: the pane's own process, or its child if a shell stayed."""
    def cmdline(pid: int) -> str:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")

    if "run_tui" in cmdline(shell_pid):
        return shell_pid
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == shell_pid and "run_tui" in cmdline(int(stat.parent.name)):
                return int(stat.parent.name)
        except (OSError, IndexError, ValueError):
            continue
    raise AssertionError("the app process was not found")


@pytest.mark.slow
def test_tui_killed_while_typing_leaves_the_last_autosave_whole(workspace: Path) -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    draft = write_note(workspace, "notes/drafts/retries.md", DRAFT_TEXT)
    code = f"from pathlib import Path; from scribe.tui import run_tui; run_tui(Path({str(workspace)!r}), Path({str(draft)!r}))"
    server = ["tmux", "-L", f"scribe-faults-{os.getpid()}"]  # a private tmux server, with this test's environment

    def tmux(*args: str) -> str:
        return subprocess.run([*server, *args], capture_output=True, text=True, check=True, env=scribe_env(TERM="xterm-256color")).stdout

    tmux("new-session", "-d", "-s", "app", "-x", "120", "-y", "40", f"{sys.executable} -c {code!r}")
    try:
        pid = app_pid(int(tmux("display-message", "-p", "-t", "app", "#{pane_pid}")))
        wait_until(lambda: "Retries need idempotency keys" in tmux("capture-pane", "-p", "-t", "app"), "the draft on screen", 60)
        tmux("send-keys", "-t", "app", "-l", "alpha ")
        wait_until(lambda: "alpha " in draft.read_text(encoding="utf-8"), "the autosave", 60)
        saved = draft.read_text(encoding="utf-8")
        tmux("send-keys", "-t", "app", "-l", "beta gamma")
        os.kill(pid, signal.SIGKILL)  # while those keys are still arriving, before their autosave
    finally:
        subprocess.run([*server, "kill-server"], capture_output=True, check=False)
    after = draft.read_text(encoding="utf-8")
    # Whole versions only: the last autosave, or (had a save slipped in) one with some of the new keys.
    assert after in {saved.replace("alpha ", "alpha " + "beta gamma"[:n], 1) for n in range(11)}, after
    assert after.endswith(DRAFT_TEXT.splitlines()[-1] + "\n")
    assert not temp_files(workspace / "notes")
