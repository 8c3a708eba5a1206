"""Follow-ups in the drafting app: a result in the assistant panel is continued by a typed follow-up,
the draft's conversations are listed and reopened, a fork leaves the original as it was, and the
history survives a restart.

The fast tests run the real app, core and run log against the fake model server, and read what the
model was sent from the fake's `chats`; the restart test at the end runs against the real engine and
reads what it received from the engine's request log.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

from fake_server import FakeModelServer, Reply
from pilot_support import DRAFT, SIZE, fake_app, notified, palette_titles, until

from scribe.config import open_workspace
from scribe.conversations import CUT_OFF_NOTE, conversations, turns
from scribe.runlog import MIGRATIONS, RunLog
from scribe.tui.app import ScribeApp
from scribe.tui.index_link import NoIndex
from scribe.tui.screens.dialogs import ChoiceScreen


def make_app(ws: Path) -> ScribeApp:
    return fake_app(ws, index=NoIndex())


def reopened_app(ws: Path) -> ScribeApp:
    """The app again on the same workspace (`fake_app` names the model in scribe.toml once)."""
    return ScribeApp(open_workspace(ws), ws / DRAFT, index=NoIndex(), warm_pause=None)


def title(app: ScribeApp) -> str:
    return str(app.main.panel.query_one("#run-title").render())


def turn_lines(app: ScribeApp) -> list[str]:
    options: Any = app.main.panel.query_one("#turns")
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


def run_log(ws: Path) -> RunLog:
    return RunLog(ws / ".scribe" / "runs.sqlite")


async def task(pilot: Any, key: str) -> None:
    """Run a task and wait until the panel shows the conversation it began."""
    panel = pilot.app.main.panel
    before = panel.conversation.conversation_id
    await pilot.press(key)
    await until(pilot, lambda: panel.current is None and panel.conversation.display
                and panel.conversation.conversation_id not in (None, before), f"the conversation {key} begins")


async def follow_up(pilot: Any, text: str) -> None:
    """Type a follow-up (ctrl+f, the words, enter) and wait until the panel lists it as a turn."""
    panel = pilot.app.main.panel
    await pilot.press("ctrl+f")
    assert panel.conversation.input.has_focus
    await pilot.press(*text, "enter")
    await until(pilot, lambda: panel.current is None and panel.conversation.turns
                and panel.conversation.turns[-1].asked == text, f"the follow-up {text!r} to be a turn")


def test_a_follow_up_sends_the_earlier_turns_and_streams_into_the_panel(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    async def scenario() -> None:
        app = make_app(fake_workspace)
        async with app.run_test(size=SIZE) as pilot:
            assert app.main.check_action("follow_up", ()) is False  # nothing to follow up yet: not in the footer
            await task(pilot, "f3")
            assert app.main.check_action("follow_up", ()) is True
            fake_server.script(Reply("Cut the second paragraph."), Reply("Because it repeats the first."))
            await follow_up(pilot, "shorter")
            assert app.main.panel.view.source.strip() == "Cut the second paragraph."
            assert "Follow-up · turn 2" in title(app)
            await follow_up(pilot, "why?")
            lines = turn_lines(app)
            assert [line.split(" ")[0] for line in lines] == ["1", "2", "3"]
            assert "› shorter" in lines[1] and "Cut the second paragraph." in lines[1] and "› why?" in lines[2]

    asyncio.run(scenario())
    critique, second, third = fake_server.chats
    assert isinstance(critique.format, dict) and second.format is None and third.format is None  # follow-ups answer in words
    with run_log(fake_workspace) as log:
        (summary,) = conversations(log, "notes/drafts/idempotency-in-payment-flows.md")
        first, *_ = logged = turns(log, summary.id)
        assert [(t.turn, t.task) for t in logged] == [(1, "critique"), (2, "followup"), (3, "followup")]
        assert log.recent(1)[0].meta.via == "tui"
    assert second.messages == [*critique.messages,  # the task's own prompt: instructions, draft and sources
                               {"role": "assistant", "content": first.output_text}, {"role": "user", "content": "shorter"}]
    assert third.messages == [*second.messages, {"role": "assistant", "content": "Cut the second paragraph."},
                              {"role": "user", "content": "why?"}]


def test_esc_cuts_a_follow_up_off_and_the_turn_stays_marked(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    fake_server.script(Reply("An outline."), Reply("word " * 200, chunks=100, delay_s=0.1))  # 10 s if nobody stops it

    async def scenario() -> None:
        app = make_app(fake_workspace)
        panel = app.main.panel
        async with app.run_test(size=SIZE) as pilot:
            await task(pilot, "f4")
            await pilot.press("ctrl+f", *"longer please", "enter")
            await until(pilot, lambda: panel.current is not None and panel.view.feed.count >= 3, "the follow-up to stream")
            assert "answering" in turn_lines(app)[-1]
            await pilot.press("escape")
            await until(pilot, lambda: panel.current is None and panel.conversation.turns[-1].asked == "longer please",
                        "the cut-off turn", timeout=5)
            assert panel.conversation.turns[-1].status == "cancelled"
            assert "✂ cut off" in turn_lines(app)[-1] and "cut off" in title(app)
            assert "cut off" in panel.conversation.input.placeholder
            await follow_up(pilot, "go on")

    asyncio.run(scenario())
    with run_log(fake_workspace) as log:
        (summary,) = conversations(log)
        cut, after = turns(log, summary.id)[1:]
    assert cut.cut_off and cut.output_text and set(cut.output_text.split()) == {"word"}
    assert fake_server.chats[-1].messages[-2:] == [
        {"role": "assistant", "content": cut.output_text},  # the partial answer, kept
        {"role": "user", "content": f"{CUT_OFF_NOTE}\n\ngo on"}]
    assert after.turn == 3 and not after.cut_off


def test_a_refused_follow_up_gives_the_words_back_and_the_next_one_continues(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    fake_server.script(Reply("An expansion."), Reply(refuse="the model is loading"), Reply("A shorter one."))

    async def scenario() -> None:
        app = make_app(fake_workspace)
        panel = app.main.panel
        async with app.run_test(size=SIZE) as pilot:
            await task(pilot, "f4")
            conversation = panel.conversation.conversation_id
            await pilot.press("ctrl+f", *"shorter", "enter")
            await until(pilot, lambda: panel.current is None and len(panel.conversation.turns) == 2, "the refused turn, logged")
            await notified(pilot, "the model is loading")
            assert panel.conversation.input.value == "shorter"  # to send again
            assert panel.conversation.turns[-1].status == "failed" and "✂ cut off" in turn_lines(app)[-1]
            await pilot.press("enter")
            await until(pilot, lambda: panel.current is None and len(panel.conversation.turns) == 3, "the follow-up")
            assert panel.conversation.conversation_id == conversation  # continued, not forked

    asyncio.run(scenario())
    assert fake_server.chats[-1].messages[-3:] == [
        {"role": "user", "content": "shorter"}, {"role": "assistant", "content": ""},
        {"role": "user", "content": f"{CUT_OFF_NOTE}\n\nshorter"}]


def test_the_drafts_conversations_are_listed_and_one_reopens_to_continue(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    fake_server.script(Reply("An expansion."), Reply("A shorter one."), Reply("A rewrite."), Reply("Back to the expansion."))

    async def scenario() -> None:
        app = make_app(fake_workspace)
        panel = app.main.panel
        async with app.run_test(size=SIZE) as pilot:
            assert not any("Conversations" in t for t in await palette_titles(pilot, "conversations"))
            await task(pilot, "f4")
            first = panel.conversation.conversation_id
            await follow_up(pilot, "shorter")
            await task(pilot, "f9")
            second = panel.conversation.conversation_id
            assert any("Conversations of this draft" in t for t in await palette_titles(pilot, "conversations"))
            await pilot.press("ctrl+g")
            await until(pilot, lambda: isinstance(app.screen, ChoiceScreen), "the list")
            listed = app.screen
            assert [key for key, _ in listed.options] == [second, first]  # newest first
            assert "shown now" in str(listed.options[0][1]) and "2 turns" in str(listed.options[1][1])
            await pilot.press("down", "enter")
            await until(pilot, lambda: panel.conversation.conversation_id == first, "the first conversation reopened")
            await until(pilot, lambda: panel.view.source.strip() == "A shorter one.", "its last answer")
            assert len(panel.conversation.turns) == 2 and "Follow-up · turn 2" in title(app)
            await follow_up(pilot, "back to it")
            assert panel.conversation.conversation_id == first

    asyncio.run(scenario())
    assert fake_server.chats[-1].messages[-3:] == [
        {"role": "user", "content": "shorter"}, {"role": "assistant", "content": "A shorter one."},
        {"role": "user", "content": "back to it"}]
    with run_log(fake_workspace) as log:
        assert [s.turns for s in conversations(log)] == [3, 1]


def test_a_fork_from_an_earlier_turn_leaves_the_original_as_it_was(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    fake_server.script(Reply("An outline."), Reply("One."), Reply("Two."), Reply("Instead."))

    async def scenario() -> None:
        app = make_app(fake_workspace)
        panel = app.main.panel
        async with app.run_test(size=SIZE) as pilot:
            await task(pilot, "f4")
            original = panel.conversation.conversation_id
            await follow_up(pilot, "one")
            await follow_up(pilot, "two")
            with run_log(fake_workspace) as log:
                before = turns(log, original or "")
            panel.query_one("#turns").focus()
            await pilot.press("up", "enter")  # turn 2: its answer is shown
            await until(pilot, lambda: panel.view.source.strip() == "One.", "turn 2's answer")
            await pilot.press("f")
            assert panel.conversation.input.has_focus and "Fork from turn 2" in panel.conversation.input.placeholder
            await pilot.press("escape")  # not after all
            assert panel.conversation.fork_from is None and "Fork" not in panel.conversation.input.placeholder
            panel.query_one("#turns").focus()
            await pilot.press("f", *"instead", "enter")
            await until(pilot, lambda: panel.current is None and panel.conversation.conversation_id not in (None, original),
                        "the fork")
            assert [t.asked for t in panel.conversation.turns][1:] == ["one", "instead"]
            with run_log(fake_workspace) as log:
                assert turns(log, original or "") == before  # the original, untouched
                fork = turns(log, panel.conversation.conversation_id or "")
            assert [t.run_id for t in fork[:2]] == [t.run_id for t in before[:2]] and fork[2].turn == 3

    asyncio.run(scenario())
    assert fake_server.chats[-1].messages[-3:] == [
        {"role": "user", "content": "one"}, {"role": "assistant", "content": "One."}, {"role": "user", "content": "instead"}]


def test_after_a_restart_the_drafts_last_conversation_is_back_and_continues(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    fake_server.script(Reply("An expansion."), Reply("A shorter one."), Reply("Shorter still."))

    async def before_restart() -> str:
        app = make_app(fake_workspace)
        async with app.run_test(size=SIZE) as pilot:
            await task(pilot, "f4")
            await follow_up(pilot, "shorter")
            return app.main.panel.conversation.conversation_id or ""

    async def after_restart(conversation: str) -> None:
        app = reopened_app(fake_workspace)
        panel = app.main.panel
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: panel.conversation.conversation_id == conversation, "the conversation reopened")
            assert [t.asked for t in panel.conversation.turns] == ["expand", "shorter"]
            assert panel.view.source.strip() == "A shorter one." and "Follow-up · turn 2" in title(app)
            await follow_up(pilot, "shorter still")

    conversation = asyncio.run(before_restart())
    asyncio.run(after_restart(conversation))
    assert fake_server.chats[-1].messages[-3:] == [
        {"role": "user", "content": "shorter"}, {"role": "assistant", "content": "A shorter one."},
        {"role": "user", "content": "shorter still"}]


def test_a_result_logged_before_conversations_is_shown_after_the_upgrade_and_continues(
        fake_workspace: Path, fake_server: FakeModelServer) -> None:
    path = fake_workspace / ".scribe" / "runs.sqlite"
    path.parent.mkdir()
    db = sqlite3.connect(path)
    for step in MIGRATIONS[:4]:
        step(db)
    db.execute("INSERT INTO runs (started_at, task, model, host, status, input_text, output_text, meta)"
               " VALUES ('2025-01-01T00:00:00', 'rewrite', ?, 'fake://writer', 'ok', '[user]\nRewrite it.', 'An old rewrite.', ?)",
               (fake_server.chat_model, json.dumps({"via": "tui", "draft": DRAFT.as_posix()})))
    db.execute("PRAGMA user_version = 4")
    db.commit()
    db.close()

    async def scenario() -> None:
        app = make_app(fake_workspace)
        panel = app.main.panel
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: panel.conversation.display, "the old result, as a conversation")
            assert panel.view.source.strip() == "An old rewrite." and "Rewrite · run 1" in title(app)
            await follow_up(pilot, "shorter")

    asyncio.run(scenario())
    assert fake_server.chats[-1].messages == [  # the old prompt as it was logged: no roles guessed
        {"role": "user", "content": "[user]\nRewrite it."}, {"role": "assistant", "content": "An old rewrite."},
        {"role": "user", "content": "shorter"}]


# --- the real engine ------------------------------------------------------------------------------


def test_history_survives_an_app_restart_on_the_engine(workspace: Path, engine_requests) -> None:  # type: ignore[no-untyped-def]
    """Two short calls before the restart, one after: the engine receives the earlier turns."""
    from test_tui import make_app as engine_app
    from test_tui import setup_workspace

    draft = setup_workspace(workspace)
    options = {"num_predict": 8, "seed": 1}

    async def before_restart() -> str:
        app = engine_app(workspace, draft, task_options=options)
        async with app.run_test(size=SIZE) as pilot:
            await task(pilot, "f9")
            await follow_up(pilot, "Shorter.")
            return app.main.panel.conversation.conversation_id or ""

    async def after_restart(conversation: str) -> None:
        app = engine_app(workspace, draft, task_options=options)
        panel = app.main.panel
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: panel.conversation.conversation_id == conversation, "the conversation reopened", 60)
            assert [t.asked for t in panel.conversation.turns] == ["rewrite", "Shorter."]
            await pilot.press("ctrl+g")
            await until(pilot, lambda: isinstance(app.screen, ChoiceScreen), "the list")
            assert [key for key, _ in app.screen.options] == [conversation]
            await pilot.press("escape")
            await follow_up(pilot, "One word.")

    conversation = asyncio.run(before_restart())
    asyncio.run(after_restart(conversation))
    with run_log(workspace) as log:
        first, second, third = turns(log, conversation)
    chats = [r for r in engine_requests() if r["endpoint"] == "/api/chat"]
    assert len(chats) == 3 and chats[-1]["options"]["num_predict"] == 8
    assert chats[-1]["messages"] == [
        *chats[0]["messages"],
        {"role": "assistant", "content": first.output_text},
        {"role": "user", "content": "Shorter."},
        {"role": "assistant", "content": second.output_text},
        {"role": "user", "content": "One word."},
    ]
    assert third.turn == 3 and third.status == "ok"
