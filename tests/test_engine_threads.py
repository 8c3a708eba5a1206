"""Thread defaults: decoding leaves one core free, prompts use every core; --threads or SCRIBE_ENGINE_THREADS set both."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from conftest import start_engine, stop_engine

pytestmark = pytest.mark.engine  # these start engines of their own
from scribe.engine.runtime import default_threads


def test_decoding_leaves_one_core_free_and_prompts_use_them_all() -> None:
    assert [default_threads(n) for n in (1, 2, 4, 16)] == [(1, 1), (1, 2), (3, 4), (15, 16)]


@pytest.mark.parametrize(("env", "args", "expected"), [
    ({}, (), default_threads()),
    ({"SCRIBE_ENGINE_THREADS": "2"}, (), (2, 2)),
    ({"SCRIBE_ENGINE_THREADS": "2"}, ("--threads", "1"), (1, 1)),
])
def test_the_engine_runs_with_the_chosen_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                                                 args: tuple[str, ...], expected: tuple[int, int]) -> None:
    monkeypatch.delenv("SCRIBE_ENGINE_THREADS", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    proc, url = start_engine(tmp_path, *args)
    try:
        stats = httpx.get(f"{url}/scribe/stats").json()
        assert (stats["threads"], stats["threads_batch"]) == expected
    finally:
        stop_engine(proc)


def test_a_bad_thread_count_is_a_one_line_error(tmp_path: Path) -> None:
    env = {**os.environ, "SCRIBE_ENGINE_THREADS": "many"}
    result = subprocess.run([sys.executable, "-m", "scribe", "serve", "--port", "0"], env=env,
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == ["error: SCRIBE_ENGINE_THREADS='many': expected a whole number of threads, e.g. SCRIBE_ENGINE_THREADS=2"]
