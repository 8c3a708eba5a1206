"""The `scribe` command end to end, as a user runs it: real processes, real engine, real run log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import MODEL, WRITER, run_scribe
from test_models import free_port

HEAVY = ("chromadb", "llama_cpp", "textual", "ollama", "httpx", "matplotlib")


def test_help_lists_commands_without_heavy_imports(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "sys.argv = ['scribe', '--help']\n"
        "from scribe.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print('LOADED', [m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, check=True).stdout
    assert "LOADED []" in out
    for command in ("serve", "ask", "log", "models", "doctor", "tui"):
        assert command in out


def test_no_arguments_without_a_terminal_prints_help_instead_of_the_app(tmp_path: Path) -> None:
    result = run_scribe(cwd=tmp_path)
    assert result.returncode == 0
    assert "Usage:" in result.stdout and "tui" in result.stdout


def test_tui_on_a_missing_workspace_or_draft_is_one_line(tmp_path: Path) -> None:
    missing_ws = run_scribe("tui", str(tmp_path / "nope"), cwd=tmp_path)
    assert missing_ws.returncode == 1
    assert missing_ws.stderr.strip().count("\n") == 0 and "does not exist" in missing_ws.stderr
    missing_draft = run_scribe("tui", str(tmp_path), "--draft", "gone.md", cwd=tmp_path)
    assert missing_draft.returncode == 1
    assert "gone.md: no such draft" in missing_draft.stderr


def test_ask_streams_logs_and_log_shows_it(workspace: Path) -> None:
    asked = run_scribe("ask", "What is an outbox table?", "--seed", "5", "--num-predict", "20", cwd=workspace)
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout.strip()
    assert "run 1 · gemma3:270m · TTFT" in asked.stderr

    listed = json.loads(run_scribe("log", "--json", cwd=workspace).stdout)
    (run,) = listed
    assert run["task"] == "ask" and run["status"] == "ok" and run["model"] == MODEL
    assert run["output_text"].strip() == asked.stdout.strip()
    assert run["eval_count"] <= 20 and run["ttft_ms"] > 0 and run["eval_tps"] > 0
    assert len(run["model_digest"]) == 64 and run["options"] == {"num_predict": 20, "seed": 5}

    table = run_scribe("log", cwd=workspace).stdout
    assert "ask" in table and MODEL in table
    shown = run_scribe("log", "show", "1", cwd=workspace)
    assert "What is an outbox table?" in shown.stdout and "eval:" in shown.stdout
    missing = run_scribe("log", "show", "99", cwd=workspace)
    assert missing.returncode == 1 and "no run 99" in missing.stderr


def test_ask_json_and_filters(workspace: Path) -> None:
    out = run_scribe("ask", "Define RBAC.", "--num-predict", "8", "--json", cwd=workspace)
    data = json.loads(out.stdout)
    assert data["status"] == "ok" and data["eval_count"] <= 8 and data["run_id"] == 1
    assert json.loads(run_scribe("log", "--json", "--task", "critique", cwd=workspace).stdout) == []
    assert len(json.loads(run_scribe("log", "--json", "--model", MODEL, cwd=workspace).stdout)) == 1


def test_unknown_model_is_one_line_with_the_fix(workspace: Path) -> None:
    out = run_scribe("ask", "hi", "--model", "mystery:7b", cwd=workspace)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(" ".join(lines)) < 400 and "scribe pull mystery:7b" in out.stderr
    (run,) = json.loads(run_scribe("log", "--json", cwd=workspace).stdout)
    assert run["status"] == "failed" and "mystery:7b" in run["error"]


def test_models_and_doctor(workspace: Path) -> None:
    models = json.loads(run_scribe("models", "--json", cwd=workspace).stdout)
    assert [m["name"] for m in models] == [WRITER, "qwen2.5-coder:0.5b", MODEL, "all-minilm:latest"]
    assert [m["family"] for m in models] == ["qwen2", "qwen2", "gemma3", "bert"]
    doctor = run_scribe("doctor", "--json", cwd=workspace)
    assert doctor.returncode == 0, doctor.stdout
    checks = {c["name"]: c for c in json.loads(doctor.stdout)}
    assert all(c["ok"] for c in checks.values())
    assert "all-minilm" in checks["embed model"]["detail"] and "384-dimension" in checks["embeddings"]["detail"]


def test_with_no_model_configured_tasks_use_the_best_writer_the_server_has(workspace: Path) -> None:
    (workspace / "scribe.toml").write_text((workspace / "scribe.toml").read_text().replace(f'model = "{MODEL}"\n', ""))
    checks = {c["name"]: c for c in json.loads(run_scribe("doctor", "--json", cwd=workspace).stdout)}
    assert checks["chat model"]["detail"] == f"{WRITER} present (the best writer this server has)"
    asked = run_scribe("ask", "Reply with one word: ready", "--num-predict", "4", "--json", cwd=workspace)
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["model"] == WRITER


def test_unreachable_ollama_is_a_clear_error(tmp_path: Path) -> None:
    host = f"http://127.0.0.1:{free_port()}"
    out = run_scribe("ask", "hi", cwd=tmp_path, env={"SCRIBE_ENGINE": "ollama", "OLLAMA_HOST": host})
    assert out.returncode == 1 and host in out.stderr and "scribe serve" in out.stderr
    doctor = run_scribe("doctor", cwd=tmp_path, env={"SCRIBE_ENGINE": "ollama", "OLLAMA_HOST": host})
    assert doctor.returncode == 1 and "FAIL" in doctor.stderr


def test_bad_config_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "scribe.toml").write_text("engine = 'cloud'\n")
    out = run_scribe("log", cwd=tmp_path)
    assert out.returncode == 1 and "scribe.toml" in out.stderr and "Traceback" not in out.stderr


def test_serve_on_a_busy_port_says_so(tmp_path: Path, engine_url: str) -> None:
    port = engine_url.rsplit(":", 1)[1]
    out = run_scribe("serve", "--port", port, cwd=tmp_path, timeout=120)
    assert out.returncode == 1 and f"127.0.0.1:{port}" in out.stderr and "--port" in out.stderr


@pytest.fixture
def auto_workspace(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A workspace with no Ollama around; kills the engine scribe starts for it."""
    yield tmp_path
    state = tmp_path / ".scribe" / "engine.json"
    if state.exists():
        try:
            os.kill(json.loads(state.read_text())["pid"], signal.SIGTERM)
        except ProcessLookupError:
            pass


@pytest.mark.engine
def test_auto_starts_the_embedded_engine_once_and_reuses_it(auto_workspace: Path) -> None:
    env = {"OLLAMA_HOST": f"http://127.0.0.1:{free_port()}"}
    first = run_scribe("ask", "hello", "--num-predict", "4", cwd=auto_workspace, env=env)
    assert first.returncode == 0, first.stderr
    assert "no Ollama at" in first.stderr and "started the embedded engine" in first.stderr
    url = json.loads((auto_workspace / ".scribe" / "engine.json").read_text())["url"]
    second = run_scribe("ask", "again", "--num-predict", "4", cwd=auto_workspace, env=env)
    assert second.returncode == 0 and "started" not in second.stderr
    hosts = {run["host"] for run in json.loads(run_scribe("log", "--json", cwd=auto_workspace).stdout)}
    assert hosts == {url}
