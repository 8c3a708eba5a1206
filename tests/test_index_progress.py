"""Indexing progress against the fake model server: `scribe index`'s bar (chunks embedded of the
expected total, then the summary line as before) and the app's status line while F8 re-indexes,
with the app still usable during a first index. The estimate itself is tests/test_progress.py.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from cli_support import ok
from fake_fixtures import finished_runs
from fake_server import FakeModelServer
from pilot_support import SIZE, fake_app

import scribe.sync
import scribe.tui.indexing
from scribe.progress import IndexMeter, expected_chunks
from scribe.sync import SyncProgress, SyncReport

SUMMARY = re.compile(r"^indexed: (\d+) files scanned, \1 new, 0 changed, 0 removed, (\d+) chunks embedded \(\2 in the index\) in [\d.]+ s$")


@pytest.fixture
def reported(monkeypatch: pytest.MonkeyPatch) -> list[SyncProgress]:
    """Every count `scribe index` hands its progress callback."""
    seen: list[SyncProgress] = []
    real = scribe.sync.sync_notes

    def spy(*args: Any, on_progress: Callable[[SyncProgress], None], **kwargs: Any) -> SyncReport:
        def record(counts: SyncProgress) -> None:
            seen.append(counts)
            on_progress(counts)

        return real(*args, on_progress=record, **kwargs)

    monkeypatch.setattr(scribe.sync, "sync_notes", spy)
    return seen


def test_index_on_a_terminal_shows_chunks_embedded_ending_at_the_total(
    fake_workspace: Path, reported: list[SyncProgress], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # stderr is a terminal, as far as Rich can tell
    ran = ok(fake_workspace, "index")
    out, err = ran.stdout, ran.stderr
    summary = SUMMARY.match(out.rstrip("\n"))
    assert summary and out.count("\n") == 1, out  # the summary line, unchanged
    chunks = int(summary[2])
    embedded = [p.chunks_embedded for p in reported]
    assert embedded == sorted(embedded) and embedded[-1] == chunks
    totals = [expected_chunks(p) for p in reported]
    assert totals[-1] == chunks  # the estimate ends exact
    assert None in totals and any(t not in (None, chunks) for t in totals)  # files first, then an estimate
    assert "indexing" in err and f"{chunks}/{chunks} chunks" in err  # the bar, drawn on stderr


def test_index_piped_or_with_json_prints_no_bar_and_the_same_json(
    fake_workspace: Path, reported: list[SyncProgress], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    ran = ok(fake_workspace, "index")
    out, err = ran.stdout, ran.stderr
    assert SUMMARY.match(out.rstrip("\n")) and err == ""

    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    ran = ok(fake_workspace, "index", "--rebuild", "--json")
    out, err = ran.stdout, ran.stderr
    assert err == ""  # --json on a terminal: no bar either
    report = json.loads(out)
    assert list(report) == [f.name for f in fields(SyncReport)]
    assert report["rebuilt"] and report["chunks_embedded"] == report["chunks_total"] == reported[-1].chunks_embedded


# --- the app ---------------------------------------------------------------------------------------


def slow_embeds(server: FakeModelServer, monkeypatch: pytest.MonkeyPatch, delay_s: float) -> None:
    """Each embed request takes `delay_s`, as on a real model, so a re-index lasts long enough to watch."""
    real = server.embed

    def embed(model: str, texts: Sequence[str], *, batch_size: int = 64) -> list[list[float]]:
        time.sleep(delay_s)
        return real(model, texts, batch_size=batch_size)

    monkeypatch.setattr(server, "embed", embed)


def index_status(app: Any) -> str:
    return str(app.screen.query_one("#index-status").render())


async def watch(pilot: Any, app: Any, until: Callable[[], object], what: str, timeout: float = 30.0) -> list[str]:
    """The index status line as it changes, until `until()` holds."""
    seen = [index_status(app)]
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, f"timed out waiting for {what}; the status showed {seen}"
        await pilot.pause(0.02)
        if index_status(app) != seen[-1]:
            seen.append(index_status(app))
    return seen


PROGRESS = re.compile(r"^indexing (\d+)/~?(\d+) chunks( · ~.+ left)?$")
DONE = re.compile(r"^index: (\d+) notes · (\d+) chunks$")


def test_f8_shows_chunks_embedded_then_the_index_status(
    fake_workspace: Path, fake_server: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The estimate waits for 2 s of measured throughput: on a clock running 4 times fast that is half
    # a second, and notes/ takes about a second and a half.
    monkeypatch.setattr(scribe.tui.indexing, "IndexMeter", lambda: IndexMeter(clock=lambda: 4 * time.monotonic()))
    slow_embeds(fake_server, monkeypatch, 0.08)
    app = fake_app(fake_workspace)
    app.session.state.related_notes = False  # the related-notes panel embeds its queries: every embed here is the index's

    async def scenario() -> list[str]:
        async with app.run_test(size=SIZE) as pilot:
            await watch(pilot, app, lambda: "not built" in index_status(app), "the status of a missing index")
            await pilot.press("f8")
            seen = await watch(pilot, app, lambda: DONE.match(index_status(app)), "the re-index to finish")
            assert not app.screen.query_one("#index-progress").display
            return seen

    seen = asyncio.run(scenario())
    progress = [m for m in map(PROGRESS.match, seen) if m]
    assert len(progress) >= 3, seen
    done = [int(m[1]) for m in progress]
    assert done == sorted(done) and all(int(m[1]) <= int(m[2]) for m in progress)
    assert any(m[3] for m in progress), seen  # the time left, once 2 s of throughput are measured
    finished = DONE.match(seen[-1])
    assert finished and int(finished[2]) == sum(len(batch) for batch in fake_server.embeds)


def test_a_task_during_the_first_index_runs_and_the_index_still_finishes(
    fake_workspace: Path, fake_server: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_embeds(fake_server, monkeypatch, 0.1)
    app = fake_app(fake_workspace)

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await watch(pilot, app, lambda: "not built" in index_status(app), "the status of a missing index")
            await pilot.press("f8")
            await watch(pilot, app, lambda: (m := PROGRESS.match(index_status(app))) and int(m[1]) >= 48, "some chunks in the index")
            await pilot.press("f2")
            await watch(pilot, app, lambda: finished_runs(fake_workspace), "the outline")
            assert PROGRESS.match(index_status(app)), "the outline should finish while the index is still being built"
            await watch(pilot, app, lambda: DONE.match(index_status(app)), "the re-index to finish")

    asyncio.run(scenario())
    (run,) = finished_runs(fake_workspace)
    assert (run.task, run.status) == ("outline", "ok")
    # grounded in what was indexed by then (or in nothing, before the first chunks are stored)
    assert all((fake_workspace / source["path"]).is_file() for source in run.sources)
