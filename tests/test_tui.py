"""The drafting TUI driven by Textual's Pilot against the real embedded engine.

Every test goes through the app's own keys and widgets; the core (tasks, run log, index) is the real
one. Generation is kept short with num_predict overrides and a fixed seed.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import ollama
import pytest

from conftest import MODEL, WRITER
from pilot_support import notified
from scribe.config import open_workspace
from scribe.critique import Issue, normalise
from scribe.runlog import RunLog
from scribe.splice import trim_cut_off
from scribe.tui.app import ScribeApp
from scribe.tui.commands import palette_commands
from scribe.tui.index_link import NoIndex
from scribe.tui.screens.compare import CompareScreen
from scribe.tui.screens.dialogs import ButtonsScreen, ChoiceScreen
from scribe.tui.screens.help import HelpScreen
from scribe.tui.screens.note import NoteScreen

REPO = Path(__file__).resolve().parents[1]
DRAFT_NAME = "idempotency-in-payment-flows.md"
SIZE = (140, 40)

# A short draft, so prompts are quick.
SHORT_DRAFT = """---
title: Retries need keys
status: draft
---

# Retries need keys

Every payment system eventually charges someone twice, usually after a timeout and a retry.

## Why retries happen

Networks drop responses. The client cannot tell a lost request from a lost answer, so it retries.
In my experience roughly 40% of payment incidents trace back to retries.

## The fix

The client sends an idempotency key with every attempt, and the server stores the result under it.
"""


def setup_workspace(ws: Path) -> Path:
    """Copy a real draft and two notes from the repository's notes/ into the test workspace."""
    drafts = ws / "notes" / "drafts"
    drafts.mkdir(parents=True)
    shutil.copy(REPO / "notes" / "drafts" / DRAFT_NAME, drafts / DRAFT_NAME)
    for note in ("idempotency-keys-in-payment-flows.md", "exactly-once-vs-at-least-once-outbox-pattern.md"):
        shutil.copy(REPO / "notes" / note, ws / "notes" / note)
    short = drafts / "retries-need-keys.md"
    short.write_text(SHORT_DRAFT, encoding="utf-8")
    return short


def make_app(ws: Path, draft: Path, **kw: object) -> ScribeApp:
    options = kw.pop("task_options", {"num_predict": 24, "seed": 7})
    kw.setdefault("index", NoIndex())
    kw.setdefault("warm_pause", None)  # warm-ups are tested on their own: elsewhere they would race the tasks
    return ScribeApp(open_workspace(ws), draft, task_options=options, autosave_delay=0.3, **kw)  # type: ignore[arg-type]


def run(scenario: Callable[[], object]) -> None:
    asyncio.run(scenario())  # type: ignore[arg-type]


async def wait_until(pilot, condition: Callable[[], bool], timeout: float = 90.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def finish_task(pilot, app: ScribeApp, key: str) -> None:  # type: ignore[no-untyped-def]
    before = app.main.panel.last
    await pilot.press(key)
    await wait_until(pilot, lambda: app.main.panel.last is not before and app.main.panel.current is None, 300, "the task to finish")
    await pilot.pause(0.1)


def runs(ws: Path) -> list:  # type: ignore[type-arg]
    with RunLog(ws / ".scribe" / "runs.sqlite") as log:
        return log.recent(50)


def cursor_to_line(app: ScribeApp, text: str) -> None:
    row = next(i for i, line in enumerate(app.main.editor.document.lines) if line.startswith(text))
    app.main.editor.move_cursor((row, 0))


# --- warm-ups while the author pauses ---------------------------------------------------------------


def long_draft(ws: Path) -> Path:
    """A draft of ~5,000 tokens (four of the sample notes), so its prompt takes seconds to read."""
    bodies = [(REPO / "notes" / name).read_text(encoding="utf-8").split("---", 2)[2] for name in (
        "tenant-isolation-rls-schema-db.md", "writing-clear-postmortems.md",
        "job-retries-backoff-and-execution-history.md", "structured-logging-and-tracing-for-latency.md")]
    path = ws / "notes" / "drafts" / "long-draft.md"
    path.write_text("---\ntitle: Notes from the backend\n---\n\n# Notes from the backend\n\n" + "\n\n".join(bodies),
                    encoding="utf-8")
    return path


def test_a_pause_warms_the_draft_an_edit_cancels_it_and_the_task_reuses_it(workspace: Path, engine_url: str, engine_stats) -> None:  # type: ignore[no-untyped-def]
    setup_workspace(workspace)
    draft = long_draft(workspace)
    # loaded with the tasks' context first, so the warm-up's wait is reading the prompt, not loading
    ollama.Client(host=engine_url).chat(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                                        options={"num_ctx": 8192, "num_predict": 1})

    async def scenario() -> None:
        before = engine_stats()
        app = make_app(workspace, draft, warm_pause=0.3)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: engine_stats()["chat_requests"] > before["chat_requests"], 60,
                             "the warm-up to reach the engine")
            await pilot.press("x")  # an edit while the engine reads the prompt
            await wait_until(pilot, lambda: app.main.warming.cancelled == 1, 30, "the warm-up to be cancelled")
            await wait_until(pilot, lambda: engine_stats()["cancelled_requests"] > before["cancelled_requests"], 60,
                             "the engine to stop reading the prompt")
            # the pause after the edit warms the new text, to the end
            await wait_until(pilot, lambda: app.main.warming.done == 1, 300, "the second warm-up")
            assert app.main.warming.last is not None and app.main.warming.last.metrics.eval_count <= 1
            assert "primed" in str(app.main.status.query_one("#model-status").render())
            warmed = engine_stats()
            await finish_task(pilot, app, "f2")
            result = app.main.panel.last.result
            assert result is not None and result.call.status == "ok"
            cached = engine_stats()["prompt_tokens_cached"] - warmed["prompt_tokens_cached"]
            assert cached >= 0.8 * result.call.metrics.prompt_eval_count  # only the task's own words were read
            assert {r.task for r in runs(workspace)} == {"outline"}  # a warm-up is not a task in the run log
            # an edit clears the "primed" mark
            await pilot.press("y")
            assert "primed" not in str(app.main.status.query_one("#model-status").render())

    run(scenario)


# --- tasks into the panel --------------------------------------------------------------------------


def test_outline_streams_into_the_panel_with_model_and_metrics(workspace: Path) -> None:
    draft = setup_workspace(workspace)

    async def scenario() -> None:
        app = make_app(workspace, draft)
        async with app.run_test(size=SIZE) as pilot:
            await finish_task(pilot, app, "f2")
            result = app.main.panel.last.result
            assert result is not None and result.call.status == "ok" and result.call.text.strip()
            # 24 tokens cannot hold five sections of JSON: the reply is cut off, and the panel ends with
            # the raw reply under a note saying so
            assert result.outline is not None and result.outline.cut_off and result.attempts == 1
            assert app.main.panel.view.source.strip() == result.output.strip()
            assert "raise num_predict" in result.output and result.call.text in result.output
            metrics = str(app.main.panel.view.query_one(".metrics").render())
            assert MODEL in metrics and "TTFT" in metrics and "tok/s" in metrics and "ok" in metrics
            assert f"run {result.run_id}" in str(app.main.panel.query_one("#run-title").render())
            # the core logged it: one row, the same text, via the TUI
            (row,) = runs(workspace)
            assert row.task == "outline" and row.status == "ok" and row.output_text == result.call.text
            assert row.meta.via == "tui" and row.meta.draft == "notes/drafts/retries-need-keys.md"
            assert row.options["num_predict"] == 24 and row.ttft_ms > 0

    run(scenario)


def test_critique_issue_selects_its_quote_in_the_editor(workspace: Path) -> None:
    """The real critique runs through the app; its issues are listed; choosing one selects its quote.

    The bundled 270M model rarely quotes the draft (it copies the template's "..." or invents
    words), its output is not reproducible across engine processes, and JSON-constrained decoding
    is slow on this machine, so the model's part is kept short (it may not finish its JSON; then the
    panel shows its raw reply, as the app does). The selection itself is driven for sure with issues
    quoting real sentences of the draft, chosen in the panel's Issues list like any other; any
    grounded issue the model does return is checked the same way.
    """
    draft = setup_workspace(workspace)

    async def scenario() -> None:
        app = make_app(workspace, draft, task_options={"num_predict": 16, "seed": 1})
        async with app.run_test(size=SIZE) as pilot:
            await finish_task(pilot, app, "f3")
            result = app.main.panel.last.result
            critique = result.critique
            assert result.call.status == "ok" and critique is not None, result.call.text
            assert app.main.panel.view.source.strip() == result.output.strip()  # the critique as markdown
            issues_list = app.main.panel.query_one("#issues")
            assert issues_list.option_count == len(critique.issues)
            (row,) = [r for r in runs(workspace) if r.id == result.run_id]
            assert row.task == "critique" and row.status == "ok"

            async def choose(index: int) -> None:
                issues_list.focus()
                issues_list.highlighted = index
                await pilot.press("enter")
                await pilot.pause(0.1)

            # 1) whatever the model quoted that is really in the draft selects exactly that
            for index, issue in enumerate(critique.issues):
                if issue.grounded:
                    await choose(index)
                    assert app.main.editor.has_focus
                    assert normalise(app.main.editor.selected_text) == normalise(issue.quote)
            # 2) issues quoting real sentences: offsets map past the frontmatter to the right line,
            #    and a quote with other whitespace and curly quotes still finds its span
            exact = "In my experience roughly 40% of payment incidents trace back to retries."
            loose = "The client cannot tell a lost request  from a lost answer,\nso it retries."
            critique.issues[:] = [
                *critique.issues,
                Issue("high", exact, "unsupported number", "cite a source", grounded=True),
                Issue("medium", loose, "vague", "say what the client sees", grounded=True),
            ]
            app.main.panel.show_issues(critique.issues)
            await choose(len(critique.issues) - 2)
            assert app.main.editor.selected_text == exact
            line = next(i for i, text in enumerate(app.main.editor.document.lines) if text.startswith("In my experience"))
            assert app.main.editor.selection.start == (line, 0) and app.main.editor.selection.end == (line, len(exact))
            await choose(len(critique.issues) - 1)
            assert app.main.editor.selected_text == "The client cannot tell a lost request from a lost answer, so it retries."
            # 3) the author edits above the quote after the critique: the span is found where it now is
            app.main.editor.move_cursor((0, 0))
            app.main.editor.insert("<!-- note -->\n")
            await choose(len(critique.issues) - 2)
            assert app.main.editor.selected_text == exact and app.main.editor.selection.start == (line + 1, 0)
            # 4) a quote that is not in the draft selects nothing and says so
            before = app.main.editor.selection
            assert app.main.select_issue(app.main.panel.last, Issue("low", "words the draft never had", "", "")) is False
            assert app.main.editor.selection == before
            await notified(pilot, "not in the draft")

    run(scenario)


def test_expand_inserts_below_the_section_as_one_undo_step(workspace: Path) -> None:
    draft = setup_workspace(workspace)

    async def scenario() -> None:
        app = make_app(workspace, draft)
        async with app.run_test(size=SIZE) as pilot:
            original = app.main.editor.text
            cursor_to_line(app, "Networks drop responses")
            await finish_task(pilot, app, "f4")
            assert app.main.panel.last.scope.kind == "section" and app.main.panel.last.scope.heading == "Why retries happen"
            last = app.main.panel.last
            out = trim_cut_off(last.result.call.text.strip(), last.cut_off).strip()  # 24 tokens: cut to its last sentence
            assert out and app.main.panel.expansion is not None and app.main.panel.query_one("#expansion-bar").display
            await pilot.press("ctrl+o")
            text = app.main.editor.text
            assert out in text and text != original
            # inserted after the section, before the next heading
            assert text.index("40% of payment incidents") < text.index(out) < text.index("## The fix")
            assert app.main.panel.expansion is None
            app.main.editor.focus()
            await pilot.press("ctrl+z")
            assert app.main.editor.text == original  # one undo step takes it all back
            await pilot.press("ctrl+y")
            assert app.main.editor.text == text

    run(scenario)


def test_expand_replaces_the_selection_as_one_undo_step(workspace: Path) -> None:
    draft = setup_workspace(workspace)

    async def scenario() -> None:
        app = make_app(workspace, draft)
        async with app.run_test(size=SIZE) as pilot:
            original = app.main.editor.text
            sentence = "The client sends an idempotency key with every attempt, and the server stores the result under it."
            row = next(i for i, line in enumerate(app.main.editor.document.lines) if line == sentence)
            from textual.widgets.text_area import Selection

            app.main.editor.selection = Selection((row, 0), (row, len(sentence)))
            await finish_task(pilot, app, "f4")
            assert app.main.panel.last.scope.kind == "selection"
            last = app.main.panel.last
            out = trim_cut_off(last.result.call.text.strip(), last.cut_off).strip()  # 24 tokens: cut to its last sentence
            await pilot.press("ctrl+r")
            assert sentence not in app.main.editor.text and out in app.main.editor.text
            app.main.editor.focus()
            await pilot.press("ctrl+z")
            assert app.main.editor.text == original

    run(scenario)


def test_esc_cancels_keeps_partial_output_logs_cancelled_and_typing_works_meanwhile(workspace: Path) -> None:
    draft = setup_workspace(workspace)

    async def scenario() -> None:
        app = make_app(workspace, draft, task_options={"num_predict": 400, "seed": 3, "temperature": 1.0})
        async with app.run_test(size=SIZE) as pilot:
            app.main.editor.move_cursor(app.main.editor.document.end)
            await pilot.press("f4")  # expand "The fix": a few hundred words asked, so a long stream
            await wait_until(pilot, lambda: app.main.panel.current is not None and app.main.panel.view.feed.count >= 6, 120, "tokens")
            # the editor takes keys while the model streams
            await pilot.press("w", "o", "r", "d")
            assert app.main.editor.text.endswith("word") and app.main.panel.current is not None
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.main.panel.current is None, 30, "the cancel")
            result = app.main.panel.last.result
            assert result.call.status == "cancelled" and result.call.text
            assert app.main.panel.view.text == result.call.text  # the partial output stays in the panel
            assert "cancelled" in str(app.main.panel.view.query_one(".metrics").render())
            (row,) = runs(workspace)
            assert row.status == "cancelled" and row.output_text == result.call.text
            assert row.error == "cancelled by the user"
            assert len(result.call.text) < 2000  # stopped well before 400 tokens

    run(scenario)


# --- compare mode ----------------------------------------------------------------------------------


def test_compare_mode_is_blind_then_stores_the_preference_and_reveals(workspace: Path) -> None:
    draft = setup_workspace(workspace)

    async def scenario() -> None:
        app = make_app(workspace, draft, task_options={"num_predict": 16, "seed": 5})
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f6")
            await wait_until(pilot, lambda: isinstance(app.screen, ChoiceScreen), 5, "the task choice")
            await pilot.press("enter")  # outline
            await wait_until(pilot, lambda: isinstance(app.screen, ChoiceScreen) and "second" in app.screen.title_text, 30, "the model choice")
            await pilot.press("end", "enter")  # the current model is listed last: the same small model twice
            await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen), 5, "the compare screen")
            screen = app.screen
            assert isinstance(screen, CompareScreen)
            titles = [str(w.render()) for w in screen.query(".pane-title")]
            assert titles == ["Model A", "Model B"]  # no names while reading
            await wait_until(pilot, lambda: len(screen.done) == 2, 120, "both runs")
            assert screen.done == {"A": "ok", "B": "ok"}
            assert MODEL not in str(screen.query_one("#compare-verdict").render())
            await pilot.press("b")
            await pilot.pause(0.1)
            with RunLog(workspace / ".scribe" / "runs.sqlite") as log:
                (pref,) = log.preferences()
                rows = {r.id: r for r in log.recent(10)}
            assert pref.winner == "b" and pref.task == "outline" and pref.source == "tui"
            assert (pref.model_a, pref.model_b) == screen.job.models == (MODEL, MODEL)
            assert rows[pref.run_a].meta.compare == "A" and rows[pref.run_b].meta.compare == "B"
            assert rows[pref.run_a].input_text == rows[pref.run_b].input_text  # the same request
            titles = [str(w.render()) for w in screen.query(".pane-title")]
            assert titles == [f"Model A — {MODEL}", f"Model B — {MODEL}"]  # revealed after the pick
            await pilot.press("a")  # one pick per comparison
            with RunLog(workspace / ".scribe" / "runs.sqlite") as log:
                assert len(log.preferences()) == 1
            await pilot.press("escape")
            assert not isinstance(app.screen, CompareScreen)

    run(scenario)


# --- never lose a word -----------------------------------------------------------------------------


def test_autosave_writes_the_file_soon_after_typing_stops(workspace: Path) -> None:
    draft = setup_workspace(workspace)

    async def scenario() -> None:
        app = make_app(workspace, draft, autoconnect=False)
        app.session.autosave_delay = 1.0
        async with app.run_test(size=SIZE) as pilot:
            app.main.editor.move_cursor(app.main.editor.document.end)
            await pilot.press("N")
            assert draft.read_text(encoding="utf-8") == SHORT_DRAFT  # not yet: still typing
            await pilot.press(*"ew line.")
            await wait_until(pilot, lambda: draft.read_text(encoding="utf-8") == SHORT_DRAFT + "New line.", 10, "the autosave")
            assert "saved" in str(app.main.status.query_one("#file-status").render())
            assert not [p for p in draft.parent.iterdir() if p.name.endswith(".tmp")]
            await pilot.press(*" More")
        # leaving the app saves what autosave had not yet written
        assert draft.read_text(encoding="utf-8") == SHORT_DRAFT + "New line. More"

    run(scenario)


def test_external_change_asks_instead_of_overwriting_keep_mine(workspace: Path) -> None:
    draft = setup_workspace(workspace)
    theirs = SHORT_DRAFT.replace("# Retries need keys", "# Retries need keys (edited elsewhere)")

    async def scenario() -> None:
        app = make_app(workspace, draft, autoconnect=False)
        app.session.autosave_delay = 1.0
        async with app.run_test(size=SIZE) as pilot:
            app.main.editor.move_cursor(app.main.editor.document.end)
            await pilot.press(*"mine")  # unsaved words in the editor...
            draft.write_text(theirs, encoding="utf-8")  # ...when another program changes the file
            await wait_until(pilot, lambda: isinstance(app.screen, ButtonsScreen), 10, "the conflict dialog")
            assert draft.read_text(encoding="utf-8") == theirs  # not overwritten
            await pilot.press("k")  # Keep mine
            await wait_until(pilot, lambda: draft.read_text(encoding="utf-8") == SHORT_DRAFT + "mine", 10, "mine, saved")
            (bak,) = draft.parent.glob(f"{draft.name}.*.bak")
            assert bak.read_text(encoding="utf-8") == theirs  # their version kept

    run(scenario)


def test_external_change_load_theirs_keeps_mine_beside_and_undoable(workspace: Path) -> None:
    draft = setup_workspace(workspace)
    theirs = SHORT_DRAFT + "\nA paragraph written elsewhere.\n"

    async def scenario() -> None:
        app = make_app(workspace, draft, autoconnect=False)
        app.session.autosave_delay = 1.0
        async with app.run_test(size=SIZE) as pilot:
            app.main.editor.move_cursor(app.main.editor.document.end)
            await pilot.press(*"mine")
            draft.write_text(theirs, encoding="utf-8")
            await wait_until(pilot, lambda: isinstance(app.screen, ButtonsScreen), 10, "the conflict dialog")
            await pilot.press("l")  # Load theirs
            await wait_until(pilot, lambda: app.main.editor.text == theirs, 10, "theirs, loaded")
            assert draft.read_text(encoding="utf-8") == theirs
            (side,) = draft.parent.glob(f"{draft.name}.*.mine.bak")
            assert side.read_text(encoding="utf-8") == SHORT_DRAFT + "mine"
            app.main.editor.focus()
            await pilot.press("ctrl+z")
            assert app.main.editor.text == SHORT_DRAFT + "mine"

    run(scenario)


def test_quit_with_unsaved_conflicting_work_asks_first(workspace: Path) -> None:
    draft = setup_workspace(workspace)

    async def scenario() -> None:
        app = make_app(workspace, draft, autoconnect=False)
        app.session.autosave_delay = 60  # only the quit saves
        async with app.run_test(size=SIZE) as pilot:
            app.main.editor.move_cursor(app.main.editor.document.end)
            await pilot.press(*"unsaved words")
            draft.write_text("changed elsewhere\n", encoding="utf-8")
            await pilot.press("ctrl+q")
            await wait_until(pilot, lambda: isinstance(app.screen, ButtonsScreen), 5, "the quit dialog")
            await pilot.press("c")  # Cancel: stay
            await pilot.pause(0.1)
            assert app.is_running and app.main.editor.text.endswith("unsaved words")
            assert draft.read_text(encoding="utf-8") == "changed elsewhere\n"
            await pilot.press("ctrl+q")
            await wait_until(pilot, lambda: isinstance(app.screen, ButtonsScreen), 5, "the quit dialog")
            await pilot.press("k")
        assert draft.read_text(encoding="utf-8").endswith("unsaved words")

    run(scenario)


# --- models, sources, index, errors, help ----------------------------------------------------------


def test_model_picker_lists_engine_models_and_remembers_the_choice(workspace: Path) -> None:
    draft = setup_workspace(workspace)

    async def scenario() -> None:
        app = make_app(workspace, draft)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f7")
            await wait_until(pilot, lambda: isinstance(app.screen, ChoiceScreen), 30, "the model list")
            assert [key for key, _ in app.screen.options] == [WRITER, "qwen2.5-coder:0.5b", MODEL]  # writers only
            await pilot.press("enter")
            await pilot.pause(0.1)
        state = json.loads((workspace / ".scribe" / "tui.json").read_text())
        assert state["model"] == MODEL and state["last_file"] == "notes/drafts/retries-need-keys.md"

    run(scenario)


def test_reindex_then_sources_are_listed_and_open_the_note_at_its_heading(workspace: Path) -> None:
    draft = setup_workspace(workspace)
    # a small corpus keeps embedding quick: the short draft and one note
    (workspace / "notes" / "drafts" / DRAFT_NAME).unlink()
    (workspace / "notes" / "exactly-once-vs-at-least-once-outbox-pattern.md").unlink()

    async def scenario() -> None:
        app = make_app(workspace, draft, index=None)  # the workspace's real notes index
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: "not built" in str(app.main.status.query_one("#index-status").render()), 10, "index status")
            await pilot.press("f8")
            assert app.main.status.query_one("#index-progress").display  # progress while it runs
            await wait_until(pilot, lambda: not any(w.group == "reindex" for w in app.workers), 180, "the re-index")
            # the draft and the note, nothing stale
            await wait_until(pilot, lambda: str(app.main.status.query_one("#index-status").render()).startswith("index: 2 notes"), 10, "the status")
            assert "stale" not in str(app.main.status.query_one("#index-status").render())
            assert not app.main.status.query_one("#index-progress").display
            # a new note is picked up without a restart: the status sees it, a background re-index takes it
            (workspace / "notes" / "outbox.md").write_text(
                "# Outbox\n\n## Relay\n\nA relay polls the outbox table and publishes each row once.\n", encoding="utf-8"
            )
            app.main.indexing.refresh()
            await wait_until(pilot, lambda: str(app.main.status.query_one("#index-status").render()).startswith("index: 3 notes"), 120, "the pick-up")
            await finish_task(pilot, app, "f2")
            sources = app.main.panel.last.sources
            assert sources and all(s.path != "notes/drafts/retries-need-keys.md" for s in sources)
            listed = app.main.panel.query_one("#sources")
            assert listed.display and listed.option_count == len(sources)
            (row,) = [r for r in runs(workspace) if r.id == app.main.panel.last.result.run_id]
            assert [s["path"] for s in row.sources] == [s.path for s in sources]
            # choose a source cited under a section heading (not just the note's title), if any
            pick = next((i for i, s in enumerate(sources) if " > " in s.heading_path), 0)
            listed.focus()
            listed.highlighted = pick
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, NoteScreen), 5, "the note")
            note = app.screen
            area = note.query_one("#note-text")
            assert note.rel_path == sources[pick].path
            assert area.text == (workspace / sources[pick].path).read_text(encoding="utf-8")
            heading = sources[pick].heading_path.split(" > ")[-1].casefold()
            line = area.document.lines[area.cursor_location[0]]
            if any(l.startswith("#") and l.lstrip("#").strip().casefold() == heading for l in area.document.lines):
                assert line.startswith("#") and line.lstrip("#").strip().casefold() == heading
            assert area.selected_text.rstrip("\n") == line  # the heading line is selected
            await pilot.press("escape")
            assert not isinstance(app.screen, NoteScreen)

    run(scenario)


def test_engine_down_is_a_notification_with_the_fix_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from test_models import free_port

    for var in ("SCRIBE_ENGINE", "OLLAMA_HOST", "SCRIBE_MODEL"):
        monkeypatch.delenv(var, raising=False)
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "scribe.toml").write_text(f'engine = "ollama"\nollama_host = "http://127.0.0.1:{free_port()}"\n')
    draft = setup_workspace(ws)

    async def scenario() -> None:
        app = make_app(ws, draft, autoconnect=False)
        async with app.run_test(size=SIZE) as pilot:
            await finish_task(pilot, app, "f2")
            assert app.is_running
            await notified(pilot, "no model server answers", "ollama serve")
            assert "Failed" in app.main.panel.view.source
            await pilot.press("f7")  # listing models fails the same way, still no crash
            await pilot.pause(0.5)
            assert app.is_running and not isinstance(app.screen, ChoiceScreen)

    run(scenario)


def test_binary_note_is_refused_with_a_notification(workspace: Path) -> None:
    draft = setup_workspace(workspace)
    binary = workspace / "notes" / "blob.md"
    binary.write_bytes(b"\x00\x01\x02 binary")

    async def scenario() -> None:
        app = make_app(workspace, draft, autoconnect=False)
        async with app.run_test(size=SIZE) as pilot:
            assert app.main.open_file(binary) is False
            await notified(pilot, "binary")
            assert app.main.file is not None and app.main.file.path == draft  # the draft stays open

    run(scenario)


def test_help_screen_lists_the_bindings_and_palette_has_tasks(workspace: Path) -> None:
    draft = setup_workspace(workspace)
    (workspace / "prompts").mkdir()
    (workspace / "prompts" / "titles.md").write_text(
        "---\nname: titles\ndescription: Five title ideas.\nvariables: [title]\n---\nTitles for {{ title }}.\n"
    )

    async def scenario() -> None:
        app = make_app(workspace, draft, autoconnect=False)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f1")
            assert isinstance(app.screen, HelpScreen)
            source = app.screen.query_one("Markdown").source
            for key, action in (("f2", "Outline"), ("f3", "Critique"), ("f4", "Expand"), ("f6", "Compare"),
                                ("escape", "Cancel"), ("ctrl+o", "Insert"), ("ctrl+t", "Light/dark")):
                assert f"| `{key}` | {action}" in source
            await pilot.press("escape")
            titles = [c.title for c in palette_commands(app.main.task_templates(), app.main.model)]
            assert "Titles: whole draft" in titles and "Critique: selection" in titles
            assert not any(t.lower().startswith("judge") for t in titles)
            # the palette itself finds a custom task and runs it from there
            from textual.command import CommandPalette

            await pilot.press("ctrl+p")
            await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), 5, "the palette")
            await pilot.press(*"titles whole")
            await wait_until(pilot, lambda: "Titles: whole draft" in str(app.screen.query_one("CommandList").get_option_at_index(0).prompt)
                             if app.screen.query_one("CommandList").option_count else False, 10, "the palette hit")
            await pilot.press("escape")
            await pilot.pause(0.1)
            await pilot.press("f5")
            assert isinstance(app.screen, ChoiceScreen)
            assert [k for k, _ in app.screen.options] == ["outline", "critique", "expand", "rewrite", "titles"]
            await pilot.press("escape")
            await pilot.press("ctrl+t")
            assert app.theme == "scribe-light" and app.main.editor.theme == "scribe-light"
            await pilot.press("ctrl+l")
            assert app.main.editor.show_line_numbers

    run(scenario)


def test_sigterm_path_saves_and_a_conflict_goes_beside_the_file(workspace: Path) -> None:
    draft = setup_workspace(workspace)

    async def scenario() -> None:
        app = make_app(workspace, draft, autoconnect=False)
        app.session.autosave_delay = 60
        async with app.run_test(size=SIZE) as pilot:
            app.main.editor.move_cursor(app.main.editor.document.end)
            await pilot.press(*"last words")
            draft.write_text("theirs\n", encoding="utf-8")
            app._save_and_leave()  # what SIGTERM / SIGHUP run
            await pilot.pause(0.1)
        assert draft.read_text(encoding="utf-8") == "theirs\n"  # never overwritten without asking
        (side,) = draft.parent.glob(f"{draft.name}.*.mine.bak")
        assert side.read_text(encoding="utf-8") == SHORT_DRAFT + "last words"

    run(scenario)


def test_the_tui_package_imports_no_textual_until_it_runs() -> None:
    import subprocess
    import sys

    probe = "import sys, scribe.tui; print(callable(scribe.tui.run_tui), 'textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "False"]


def test_missing_model_is_a_notification_naming_the_fix(workspace: Path) -> None:
    draft = setup_workspace(workspace)
    (workspace / ".scribe").mkdir(exist_ok=True)
    (workspace / ".scribe" / "tui.json").write_text(json.dumps({"model": "nope:1b"}))

    async def scenario() -> None:
        app = make_app(workspace, draft)
        async with app.run_test(size=SIZE) as pilot:
            assert "nope:1b" in str(app.main.status.query_one("#model-status").render())  # remembered
            await finish_task(pilot, app, "f2")
            await notified(pilot, "'nope:1b' is not on", "scribe pull nope:1b")
            assert app.is_running

    run(scenario)


def test_new_draft_is_created_in_the_drafts_folder_and_opened(workspace: Path) -> None:
    draft = setup_workspace(workspace)

    async def scenario() -> None:
        app = make_app(workspace, draft, autoconnect=False)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("ctrl+n")
            await pilot.press(*"Why queues lie", "enter")
            created = workspace / "notes" / "drafts" / "why-queues-lie.md"
            await wait_until(pilot, lambda: app.main.file is not None and app.main.file.path == created, 10, "the new draft, open")
            assert created.read_text(encoding="utf-8").startswith("---\ntitle: \"Why queues lie\"\nstatus: draft\n---\n\n# Why queues lie")
            await pilot.press(*"First line.")
        assert created.read_text(encoding="utf-8").endswith("First line.")

    run(scenario)


def test_quitting_during_a_stream_stops_it_and_logs_it_cancelled(workspace: Path) -> None:
    draft = setup_workspace(workspace)

    async def scenario() -> None:
        app = make_app(workspace, draft, task_options={"num_predict": 400, "seed": 3})
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f2")
            await wait_until(pilot, lambda: app.main.panel.current is not None and app.main.panel.view.feed.count >= 3, 60, "tokens")
            await pilot.press("ctrl+q")

    run(scenario)  # returns once the worker thread is done
    (row,) = runs(workspace)
    assert row.status == "cancelled" and row.output_text and row.eval_count is None
