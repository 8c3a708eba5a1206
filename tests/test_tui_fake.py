"""The drafting app against the fake model server: the real app, core, notes index and run log, in
seconds. Only the app's public constructor and key presses are used, and results are read where a
user would find them (the run log) and from what the fake received, so the app's inside can change.
The engine-backed app tests (tests/test_tui.py) stay; these add fast ones.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from fake_fixtures import finished_runs
from fake_server import CHAT_MODEL, EMBED_MODEL, FakeModelServer, Reply
from pilot_support import DRAFT, SIZE, fake_app, until

from scribe.config import open_workspace
from scribe.index import open_index
from scribe.sync import SyncOptions, sync_notes


def index_notes(ws: Path, server: FakeModelServer) -> None:
    with open_index(open_workspace(ws, env={})) as index:
        sync_notes(index, [ws / "notes"], root=ws, client=server, options=SyncOptions(embed_model=EMBED_MODEL))


def test_f2_outlines_the_draft_grounded_in_the_indexed_notes(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    index_notes(fake_workspace, fake_server)

    async def scenario() -> None:
        async with fake_app(fake_workspace).run_test(size=SIZE) as pilot:
            await pilot.press("f2")
            await until(pilot, lambda: finished_runs(fake_workspace), "the outline to finish")

    asyncio.run(scenario())
    (run,) = finished_runs(fake_workspace)
    assert (run.task, run.status, run.model) == ("outline", "ok", CHAT_MODEL)
    assert run.meta.via == "tui" and run.meta.draft == DRAFT.as_posix()
    (chat,) = fake_server.chats
    assert "charges someone twice" in chat.prompt
    assert run.sources and all(source["path"] in chat.prompt for source in run.sources)
    assert DRAFT.as_posix() not in {source["path"] for source in run.sources}
    sections = chat.format["properties"]["sections"]  # type: ignore[index]
    assert sections["minItems"] == sections["maxItems"] == run.meta.sections
    assert run.eval_count == 5 and run.output_text.startswith('{"title"')


def test_quitting_while_a_stream_is_slow_to_stop_still_logs_it_cancelled(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    # The app unmounts before the stream's thread has ended (a busy engine finishes its step first):
    # the run log must stay open until that thread has written the row.
    fake_server.script(Reply("word " * 200, chunks=100, delay_s=0.1, stop_s=0.5))

    async def scenario() -> None:
        async with fake_app(fake_workspace).run_test(size=SIZE) as pilot:
            await pilot.press("f3")
            await until(pilot, lambda: fake_server.chats, "the critique to reach the model server")
            await pilot.pause(0.3)
            await pilot.press("ctrl+q")

    asyncio.run(scenario())  # returns once the stream's thread has ended
    (run,) = finished_runs(fake_workspace)
    assert run.status == "cancelled" and run.output_text.startswith("word")


def test_esc_stops_a_stream_at_once_and_keeps_what_arrived(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    fake_server.script(Reply("word " * 200, chunks=100, delay_s=0.1))  # 10 s if nobody stops it

    async def scenario() -> None:
        async with fake_app(fake_workspace).run_test(size=SIZE) as pilot:
            await pilot.press("f3")
            await until(pilot, lambda: fake_server.chats, "the critique to reach the model server")
            await pilot.pause(0.5)
            await pilot.press("escape")
            # well before the 10 s the stream would take: the cancel event ends the call at once
            await until(pilot, lambda: finished_runs(fake_workspace), "the cancelled run to be logged", timeout=5)

    asyncio.run(scenario())
    (run,) = finished_runs(fake_workspace)
    assert (run.task, run.status, run.error) == ("critique", "cancelled", "cancelled by the user")
    assert run.output_text and set(run.output_text.split()) == {"word"} and len(run.output_text) < len("word " * 200)
