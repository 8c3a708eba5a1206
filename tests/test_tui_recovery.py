"""The app for a newcomer: focus you can see and that starts in the right place, not one keystroke
lost (the journal, recovery after a crash, reloads that keep the cursor), `scribe tui FILE`.

No model is needed, so these run without the engine: the real app under Pilot, and for the crash a
real app process in tmux killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pilot_support import SIZE, notified, until
from processes import gone, terminal_env

from scribe.config import open_workspace
from scribe.tui.app import ScribeApp
from scribe.tui.index_link import NoIndex
from scribe.tui.journal import journal_file, read_journal, write_journal
from scribe.tui.screens.dialogs import ButtonsScreen
from scribe.tui.state import TuiState
from scribe.tui.widgets.tree import NotesTree

DRAFT_TEXT = "---\ntitle: Retries\n---\n\n# Retries\n\n" + "".join(f"Line {i} of the draft.\n\n" for i in range(1, 40))


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace with one draft and a model server that is not there (nothing here needs one)."""
    root = tmp_path / "ws"
    (root / "notes" / "drafts").mkdir(parents=True)
    (root / "notes" / "drafts" / "retries.md").write_text(DRAFT_TEXT, encoding="utf-8")
    (root / "scribe.toml").write_text('engine = "ollama"\nollama_host = "http://127.0.0.1:9"\n', encoding="utf-8")
    for var in ("SCRIBE_ENGINE", "OLLAMA_HOST", "SCRIBE_MODEL", "SCRIBE_WORKSPACE"):
        monkeypatch.delenv(var, raising=False)
    return root


def draft_of(ws: Path) -> Path:
    return ws / "notes" / "drafts" / "retries.md"


def make_app(ws: Path, draft: Path | None) -> ScribeApp:
    return ScribeApp(open_workspace(ws), draft, index=NoIndex(), autoconnect=False, warm_pause=None, autosave_delay=60)


def run(scenario: Callable[[], object]) -> None:
    asyncio.run(scenario())  # type: ignore[arg-type]


# --- focus ---------------------------------------------------------------------------------------------


def test_with_no_file_open_focus_starts_in_the_tree_and_enter_opens_a_file_in_the_editor(ws: Path) -> None:
    async def scenario() -> None:
        app = make_app(ws, None)
        async with app.run_test(size=SIZE) as pilot:
            tree = app.main.query_one(NotesTree)
            assert app.focused is tree and app.main.file is None
            assert tree.styles.border_right[0] == "tall"  # the focused pane is marked
            await until(pilot, lambda: any(n.data and n.data.path.name == "drafts" for n in tree.root.children), "the tree")
            drafts = next(n for n in tree.root.children if n.data and n.data.path.name == "drafts")
            drafts.expand()
            await until(pilot, lambda: drafts.children, "the drafts folder")
            tree.move_cursor(drafts.children[0])
            await pilot.press("enter")
            await until(pilot, lambda: app.main.file is not None, "the file to open")
            assert app.main.file is not None and app.main.file.path == draft_of(ws)
            assert app.focused is app.main.editor
            assert tree.styles.border_right[0] == "solid"  # the mark moved with the focus
            assert app.main.editor.styles.outline_left[0] == "tall"

    run(scenario)


# --- the journal and recovery --------------------------------------------------------------------------


def test_typing_is_journaled_within_a_fraction_of_a_second_and_a_save_removes_the_journal(ws: Path) -> None:
    state = ws / ".scribe"

    async def scenario() -> None:
        app = make_app(ws, draft_of(ws))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press(*"typed words")
            await until(pilot, lambda: (entry := read_journal(state, draft_of(ws))) and "typed words" in entry.text, "the journal", 2)
            assert draft_of(ws).read_text(encoding="utf-8") == DRAFT_TEXT  # the file waits for its autosave
            await pilot.press("ctrl+s")
            await pilot.pause(0.1)
            assert "typed words" in draft_of(ws).read_text(encoding="utf-8")
            assert not journal_file(state, draft_of(ws)).exists()

    run(scenario)


def crashed_with(ws: Path, text: str) -> None:
    """What a crash leaves: a journal holding edits the file does not have."""
    write_journal(ws / ".scribe", draft_of(ws), text)


@pytest.mark.parametrize("choice", ["r", "k", "d"])
def test_after_a_crash_opening_the_file_offers_its_journal(ws: Path, choice: str) -> None:
    edited = DRAFT_TEXT.replace("Line 3 of the draft.", "Line 3, rewritten before the crash.")
    crashed_with(ws, edited)

    async def scenario() -> None:
        app = make_app(ws, draft_of(ws))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, ButtonsScreen), "the recovery question")
            shown = app.screen.detail.code  # the diff shown under the question
            assert "Recover unsaved edits?" in str(app.screen.query_one(".dialog-title").render())
            assert "+Line 3, rewritten before the crash." in shown and "-Line 3 of the draft." in shown  # the difference
            await pilot.press(choice)
            await pilot.pause(0.1)
            editor = app.main.editor
            if choice == "r":
                assert editor.text == edited and app.main.keeper.dirty
                assert editor.selection.start == editor.selection.end  # nothing selected: typing replaces nothing
                await pilot.press("ctrl+s")
                assert draft_of(ws).read_text(encoding="utf-8") == edited
            else:
                assert editor.text == DRAFT_TEXT
            aside = list(draft_of(ws).parent.glob("retries.recovered-*.md"))
            assert [p.read_text(encoding="utf-8") for p in aside] == ([edited] if choice == "k" else [])
        assert not journal_file(ws / ".scribe", draft_of(ws)).exists()

    run(scenario)


def test_a_journal_equal_to_the_file_is_dropped_without_a_question(ws: Path) -> None:
    crashed_with(ws, DRAFT_TEXT)

    async def scenario() -> None:
        app = make_app(ws, draft_of(ws))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause(0.2)
            assert app.screen is app.main

    run(scenario)
    assert not journal_file(ws / ".scribe", draft_of(ws)).exists()


# --- reloads ---------------------------------------------------------------------------------------------


def test_a_reload_after_an_outside_change_keeps_the_cursor_and_says_so(ws: Path) -> None:
    async def scenario() -> None:
        app = make_app(ws, draft_of(ws))
        async with app.run_test(size=SIZE) as pilot:
            app.main.editor.move_cursor((20, 3))
            draft_of(ws).write_text(DRAFT_TEXT + "A line added by another program.\n", encoding="utf-8")
            await until(pilot, lambda: "another program" in app.main.editor.text, "the reload", 10)
            assert app.main.editor.cursor_location == (20, 3)
            await notified(pilot, "reloaded", "line 21")
            await pilot.press("X")
            assert app.main.editor.text.startswith("---\ntitle: Retries")  # the frontmatter is untouched

    run(scenario)


# --- a real crash ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sigkill_half_a_second_after_typing_and_the_restart_offers_the_text(ws: Path) -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    draft = draft_of(ws)
    server = ["tmux", "-L", f"scribe-recovery-{os.getpid()}"]
    env = terminal_env()

    def tmux(*args: str) -> str:
        return subprocess.run([*server, *args], capture_output=True, text=True, check=True, env=env, cwd=ws).stdout

    # `scribe tui FILE` opens the file in the workspace around it
    tmux("new-session", "-d", "-s", "app", "-x", "140", "-y", "40", f"{sys.executable} -m scribe tui {draft}")
    try:
        pane = int(tmux("display-message", "-p", "-t", "app", "#{pane_pid}"))
        deadline = time.monotonic() + 60
        while "Line 1 of the draft" not in tmux("capture-pane", "-p", "-t", "app"):
            assert time.monotonic() < deadline, "the draft never showed"
            time.sleep(0.1)
        tmux("send-keys", "-t", "app", "-l", "words typed just before the crash")
        while "just before the crash" not in tmux("capture-pane", "-p", "-t", "app"):  # the author sees them
            assert time.monotonic() < deadline + 60, "the typing never showed"
            time.sleep(0.02)
        time.sleep(0.5)
        os.kill(pane, signal.SIGKILL)
    finally:
        subprocess.run([*server, "kill-server"], capture_output=True, check=False)
    assert draft.read_text(encoding="utf-8") == DRAFT_TEXT  # autosave had not run: only the journal has them

    async def scenario() -> None:
        app = make_app(ws, draft)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, ButtonsScreen), "the recovery question")
            await pilot.press("r")
            assert "words typed just before the crash" in app.main.editor.text

    run(scenario)


def test_the_tree_widens_for_long_names_and_remembers_its_width(ws: Path) -> None:
    long_name = "why-retries-need-idempotency-keys-in-every-payment-flow.md"
    (ws / "notes" / "drafts" / long_name).write_text("# Long\n", encoding="utf-8")

    async def scenario(widen: bool) -> int:
        app = make_app(ws, draft_of(ws))
        async with app.run_test(size=SIZE) as pilot:
            tree = app.main.query_one(NotesTree)
            await until(pilot, lambda: tree.cursor_node is not None and tree.cursor_node.data is not None
                        and tree.cursor_node.data.path == draft_of(ws), "the tree to show the open draft")
            if widen:
                await pilot.press("alt+right", "alt+right", "alt+right")
            tree.move_cursor(next(n for n in tree.cursor_node.parent.children if n.data.path.name == long_name))
            await pilot.pause(0.1)
            assert tree.tooltip == long_name  # the whole name, however narrow the column
            return tree.outer_size.width

    narrow = asyncio.run(scenario(True))
    assert narrow == 30 + 3 * 8
    assert asyncio.run(scenario(False)) == 54  # remembered in .scribe/tui.json


def test_a_cited_note_opens_with_its_heading_at_the_top_and_says_how_to_close(ws: Path) -> None:
    from textual.widgets import TextArea

    from scribe.tui.screens.note import NoteScreen

    note = ws / "notes" / "long.md"
    note.write_text("# Long note\n\n" + "".join(f"Filler line {i}.\n\n" for i in range(80)) + "## Deep heading\n\nThe cited part.\n\n"
                    + "".join(f"More filler {i}.\n\n" for i in range(40)),
                    encoding="utf-8")

    async def scenario() -> None:
        app = make_app(ws, draft_of(ws))
        async with app.run_test(size=SIZE) as pilot:
            await app.push_screen(NoteScreen(note, "notes/long.md", note.read_text(encoding="utf-8"), "Long note > Deep heading"))
            await pilot.pause(0.3)
            area = app.screen.query_one(TextArea)
            row = area.document.lines.index("## Deep heading")
            assert area.scroll_offset.y == area.wrapped_document.location_to_offset((row, 0)).y > 0  # the heading on top
            assert any("esc" in str(label.render()) and "closes" in str(label.render()) for label in app.screen.query(".dialog-note"))
            await pilot.press("escape")
            assert app.screen is app.main

    run(scenario)


@pytest.mark.slow
def test_ctrl_q_right_after_the_first_paint_exits_the_app(ws: Path) -> None:
    """Startup work still in flight (the index status, the history, a warm-up) must not hold the
    exit: the tree opening its folders to the open file once kept the process alive, blank."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    server = ["tmux", "-L", f"scribe-quit-{os.getpid()}"]
    env = terminal_env()

    def tmux(*args: str) -> str:
        return subprocess.run([*server, *args], capture_output=True, text=True, check=True, env=env, cwd=ws).stdout

    tmux("new-session", "-d", "-s", "hold", "sleep 120")  # keeps the tmux server up when the app's session ends
    try:
        exits = []
        for attempt in range(3):
            tmux("new-session", "-d", "-s", f"app{attempt}", "-x", "140", "-y", "40", f"{sys.executable} -m scribe tui {draft_of(ws)}")
            pid = int(tmux("display-message", "-p", "-t", f"app{attempt}", "#{pane_pid}"))
            deadline = time.monotonic() + 60
            while "Line 1 of the draft" not in tmux("capture-pane", "-p", "-t", f"app{attempt}"):
                assert time.monotonic() < deadline, "the draft never showed"
                time.sleep(0.05)
            tmux("send-keys", "-t", f"app{attempt}", "C-q")  # the first key, sent at the first paint
            deadline = time.monotonic() + 10
            while not gone(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            exits.append(gone(pid))
            if not exits[-1]:
                os.kill(pid, signal.SIGKILL)
    finally:
        subprocess.run([*server, "kill-server"], capture_output=True, check=False)
    assert exits == [True, True, True]


def test_the_open_file_is_shown_where_it_lives_and_open_folders_open_again_after_a_restart(ws: Path) -> None:
    (ws / "notes" / "ideas").mkdir()
    (ws / "notes" / "ideas" / "dlq.md").write_text("# DLQ\n", encoding="utf-8")

    def folder(tree: NotesTree, name: str):  # type: ignore[no-untyped-def]
        return next((n for n in tree.root.children if n.data and n.data.path.name == name), None)

    async def first() -> None:
        app = make_app(ws, draft_of(ws))
        async with app.run_test(size=SIZE) as pilot:
            tree = app.main.query_one(NotesTree)
            await until(pilot, lambda: tree.cursor_node is not None and tree.cursor_node.data is not None
                        and tree.cursor_node.data.path == draft_of(ws), "the tree to reach the draft")
            assert tree.cursor_node.parent is folder(tree, "drafts") and app.focused is app.main.editor
            ideas = folder(tree, "ideas")
            ideas.expand()
            await until(pilot, lambda: ideas.children, "the ideas folder")
            await pilot.press("ctrl+q")

    async def second() -> None:
        app = make_app(ws, None)  # no file: only the remembered folders open
        async with app.run_test(size=SIZE) as pilot:
            tree = app.main.query_one(NotesTree)
            await until(pilot, lambda: (ideas := folder(tree, "ideas")) is not None and ideas.is_expanded and ideas.children,
                        "the ideas folder to open again")

    run(first)
    assert TuiState.load(ws / ".scribe").open_folders == ["notes/drafts", "notes/ideas"]  # drafts: opened to show the file
    run(second)
