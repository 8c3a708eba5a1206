"""What the app shows a newcomer, against the fake model server: an honest wait while the model
reads the prompt, a palette of what applies now, a compare footer that follows the state, Esc that
stops a stream while the prompt is still being read."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fake_server import FakeModelServer, Reply
from pilot_support import DRAFT, SIZE, fake_app, palette_titles, until
from textual.screen import Screen
from textual.widgets._footer import FooterKey

from scribe.config import open_workspace
from scribe.runlog import RunLog
from scribe.tui.app import ScribeApp
from scribe.tui.index_link import NoIndex
from scribe.tui.screens.compare import CompareScreen
from scribe.tui.screens.dialogs import ChoiceScreen
from scribe.tui.widgets.footer import KeysFooter


def make_app(ws: Path) -> ScribeApp:
    return fake_app(ws, index=NoIndex())


def metrics(app: ScribeApp) -> str:
    return str(app.main.panel.view.query_one(".metrics").render())


def footer_keys(screen: Screen) -> list[FooterKey]:
    """The keys the screen's footer draws now."""
    return list(screen.query_one(KeysFooter).query(FooterKey))


def test_while_the_model_reads_the_prompt_the_panel_says_so_with_its_size_and_esc_stops_it(
        fake_workspace: Path, fake_server: FakeModelServer) -> None:
    fake_server.script(Reply("late words", chunks=2, delay_s=30))  # the first token would take 30 s

    async def scenario() -> None:
        app = make_app(fake_workspace)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f3")
            await until(pilot, lambda: "reading the prompt" in metrics(app), "the wait to be shown")
            shown = metrics(app)
            tokens = int(shown.split("(~")[1].split(" tokens")[0].replace(",", ""))
            assert tokens > 200  # the draft and the instructions, counted
            await until(pilot, lambda: " · 1 s" in metrics(app) or " · 2 s" in metrics(app), "the elapsed time to tick")
            await pilot.press("escape")
            await until(pilot, lambda: app.main.panel.current is None, "the cancel", 5)
            assert "cancelled" in metrics(app)

    asyncio.run(scenario())
    with RunLog(fake_workspace / ".scribe" / "runs.sqlite") as log:
        (run,) = log.recent(5)
    assert run.status == "cancelled" and run.output_text == ""


def test_the_palette_lists_what_applies_now(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    async def scenario() -> None:
        app = make_app(fake_workspace)
        async with app.run_test(size=SIZE) as pilot:
            none_selected = await palette_titles(pilot, "crit")
            assert any("Critique: whole draft" in t for t in none_selected)
            assert not any("Critique: selection" in t for t in none_selected)
            theme = await palette_titles(pilot, "them")
            assert len([t for t in theme if "theme" in t.lower()]) == 1  # scribe's toggle, not Textual's picker too
            assert not any("Cancel generation" in t for t in await palette_titles(pilot, "canc"))
            app.main.editor.focus()
            await pilot.press("shift+right", "shift+right", "shift+right")
            assert any("Critique: selection" in t for t in await palette_titles(pilot, "crit"))

    asyncio.run(scenario())


def test_after_a_pick_the_compare_footer_no_longer_offers_a_pick(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    async def scenario() -> None:
        app = make_app(fake_workspace)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f6")
            await until(pilot, lambda: isinstance(app.screen, ChoiceScreen), "the task menu")
            await pilot.press("enter")  # outline
            await until(pilot, lambda: isinstance(app.screen, ChoiceScreen) and "second" in app.screen.title_text, "the model menu")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, CompareScreen), "compare")
            screen = app.screen
            await until(pilot, lambda: len(screen.done) == 2, "both sides", 30)

            def offered() -> set[str]:
                return {b.binding.action for b in screen.active_bindings.values() if b.enabled}

            assert "pick('a')" in offered()
            await until(pilot, lambda: "pick('a')" in {key.action for key in footer_keys(screen)}, "the pick in the footer")
            await pilot.press("a")
            assert screen.picked == "a" and "pick('a')" not in offered() and "pick('b')" not in offered()
            await until(pilot, lambda: "pick('a')" not in {key.action for key in footer_keys(screen)}, "the footer without the pick")

    asyncio.run(scenario())


def test_a_bindings_refresh_that_changes_no_key_leaves_the_footer_as_it_is(
        fake_workspace: Path, fake_server: FakeModelServer) -> None:
    async def scenario() -> None:
        app = make_app(fake_workspace)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: footer_keys(app.main), "the footer's keys")
            drawn = footer_keys(app.main)
            app.main.refresh_bindings()
            await pilot.pause()
            await pilot.pause()
            assert footer_keys(app.main) == drawn and all(key.is_attached for key in drawn)

    asyncio.run(scenario())


def test_a_restart_shows_the_drafts_latest_result_from_the_run_log(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    def app_on_draft() -> ScribeApp:
        return ScribeApp(open_workspace(fake_workspace), fake_workspace / DRAFT, index=NoIndex(), warm_pause=None)

    async def critique_once() -> str:
        app = make_app(fake_workspace)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f3")
            await until(pilot, lambda: app.main.panel.last is not None, "the critique")
            return app.main.panel.view.source

    async def restart() -> None:
        app = app_on_draft()
        async with app.run_test(size=SIZE) as pilot:
            panel = app.main.panel
            await until(pilot, lambda: "from the run log" in str(panel.view.query_one(".metrics").render()), "the history")
            assert panel.view.source == shown  # the same markdown as when the run ended
            assert "Critique · run 1" in str(panel.query_one("#run-title").render())
            assert panel.issues  # listed again, and Enter on one selects its quote
            panel.query_one("#issues").focus()
            await pilot.press("enter")
            selected = app.main.editor.selected_text
            assert selected and " ".join(selected.split()) in " ".join(app.main.editor.text.split())

    shown = asyncio.run(critique_once())
    asyncio.run(restart())


def test_esc_in_compare_while_a_model_reads_the_prompt_stops_both_sides(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    fake_server.script(Reply("late words", chunks=2, delay_s=30), Reply("late words", chunks=2, delay_s=30))

    async def scenario() -> None:
        app = make_app(fake_workspace)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f6")
            await until(pilot, lambda: isinstance(app.screen, ChoiceScreen), "the task menu")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, ChoiceScreen) and "second" in app.screen.title_text, "the model menu")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, CompareScreen), "compare")
            screen = app.screen
            await until(pilot, lambda: any("reading the prompt" in str(v.query_one(".metrics").render())
                                           for v in screen.query("StreamView")), "side A reading its prompt")
            await pilot.press("escape")
            await until(pilot, lambda: len(screen.done) == 2, "both sides to end", 5)
            assert set(screen.done.values()) == {"cancelled"}
            assert "pick('a')" not in {b.binding.action for b in screen.active_bindings.values() if b.enabled}
            await pilot.press("escape")
            assert app.screen is app.main

    asyncio.run(scenario())
