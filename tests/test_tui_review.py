"""Review mode (issue 16, item 2), against the fake model server: a critique's, an expansion's or a
rewrite's suggested edits become tracked changes the author accepts, rejects or edits one by one,
each accept one undo step, the changes following the author's typing or going stale, and every
verdict in the run log. The pure state (`scribe.tui.review`) is tested below the app tests.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from fake_fixtures import finished_runs
from fake_server import FakeModelServer
from pilot_support import DRAFT, SIZE, fake_app, palette_titles, until

from scribe.edits import make_hunk
from scribe.runlog import Decision, RunLog
from scribe.tui.review import PENDING, STALE, Review, combined, diff_span, surroundings
from scribe.tui.screens.review_edit import EditChangeScreen

Q1, R1 = "Networks drop responses.", "Networks lose responses."
Q2, R2 = ("Most teams only find this out after their first large incident.",
          "Most teams learn this from their first large incident.")
Q3, R3 = ("The fix is a key that names the operation, not the request.",
          "The fix: a key that names the operation, not the request.")


def critique(*pairs: tuple[str, str]) -> str:
    """The model's critique JSON: one issue per (quote, replacement), most severe first (not the
    draft's order: the review walks the draft top to bottom all the same)."""
    issues = [{"severity": "high", "quote": quote, "problem": f"problem {n}", "suggestion": f"suggestion {n}",
               "replacement": new} for n, (quote, new) in enumerate(pairs, 1)]
    return json.dumps({"summary": "Some things.", "issues": issues[::-1]})


def decisions(ws: Path) -> list[Decision]:
    with RunLog(ws / ".scribe" / "runs.sqlite") as log:
        return log.decisions()


def original(ws: Path) -> str:
    return (ws / DRAFT).read_text(encoding="utf-8")


def review_titles(titles: list[str]) -> set[str]:
    """The palette's review commands, by title (its entries also hold their help line)."""
    return {t.splitlines()[0] for t in titles if t.startswith("Review:")}


async def start_review(pilot: Any, key: str = "f3") -> None:
    app = pilot.app
    await pilot.press(key)
    await until(pilot, lambda: app.main.reviewing.active, "the review to start")


def test_accept_one_reject_one_edit_one(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    fake_server.script(critique((Q1, R1), (Q2, R2), (Q3, R3)))
    text = original(fake_workspace)
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        app = fake_app(fake_workspace)
        async with app.run_test(size=SIZE) as pilot:
            await start_review(pilot)
            reviewing, editor = app.main.reviewing, app.main.editor
            seen["marks"] = list(editor.marks)
            seen["card"] = reviewing.view.text
            await pilot.press("alt+a")  # Q1 as proposed
            seen["after accept"] = editor.text
            await pilot.press("alt+r")  # Q2 stays
            await pilot.press("alt+e")  # Q3, edited first
            await until(pilot, lambda: isinstance(app.screen, EditChangeScreen), "the edit dialog")
            await pilot.press(*["backspace"] * len("the request."), *"the attempt.")
            await pilot.press("ctrl+s")
            await until(pilot, lambda: not reviewing.active, "the review to end")
            seen["text"], seen["marks after"] = editor.text, list(editor.marks)

    asyncio.run(scenario())
    spans = [(text.index(q), text.index(q) + len(q)) for q in (Q1, Q2, Q3)]
    assert seen["marks"] == [(*spans[0], True), (*spans[1], False), (*spans[2], False)]  # in the draft's order
    assert "change 1 of 3" in seen["card"] and "problem 1" in seen["card"] and "suggestion 1" in seen["card"]
    assert seen["after accept"] == text.replace(Q1, R1)
    edited = "The fix: a key that names the operation, not the attempt."
    assert seen["text"] == text.replace(Q1, R1).replace(Q3, edited)
    assert seen["marks after"] == []
    (run,) = finished_runs(fake_workspace)
    assert [(d.run_id, d.hunk_id, d.draft_path, d.old_text, d.new_text, d.decision, d.edited_text, d.source)
            for d in decisions(fake_workspace)] == [
        (run.id, 0, DRAFT.as_posix(), Q1, R1, "accept", None, "tui"),
        (run.id, 1, DRAFT.as_posix(), Q2, R2, "reject", None, "tui"),
        (run.id, 2, DRAFT.as_posix(), Q3, R3, "edit", edited, "tui"),
    ]


def test_ctrl_z_takes_back_exactly_one_accepted_change(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    fake_server.script(critique((Q1, R1), (Q2, R2), (Q3, R3)))
    text = original(fake_workspace)
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        app = fake_app(fake_workspace)
        async with app.run_test(size=SIZE) as pilot:
            await start_review(pilot)
            editor = app.main.editor
            await pilot.press("alt+a", "alt+a")
            seen["two"] = editor.text
            await pilot.press("ctrl+z")
            seen["undone"], seen["marks"] = editor.text, list(editor.marks)
            await pilot.press("alt+a")
            seen["last"] = editor.text
            await until(pilot, lambda: not app.main.reviewing.active, "the review to end")

    asyncio.run(scenario())
    assert seen["two"] == text.replace(Q1, R1).replace(Q2, R2)
    assert seen["undone"] == text.replace(Q1, R1)
    at = seen["undone"].index(Q3)
    assert seen["marks"] == [(at, at + len(Q3), True)]  # the change left follows the text the undo restored
    assert seen["last"] == text.replace(Q1, R1).replace(Q3, R3)
    assert [d.decision for d in decisions(fake_workspace)] == ["accept"] * 3  # the undo does not unlog


def test_accept_all_is_one_undo_step(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    fake_server.script(critique((Q1, R1), (Q2, R2), (Q3, R3)))
    text = original(fake_workspace)
    seen: dict[str, str] = {}

    async def scenario() -> None:
        app = fake_app(fake_workspace)
        async with app.run_test(size=SIZE) as pilot:
            await start_review(pilot)
            await pilot.press("alt+shift+a")
            await until(pilot, lambda: not app.main.reviewing.active, "the review to end")
            seen["all"] = app.main.editor.text
            await pilot.press("ctrl+z")
            seen["undone"] = app.main.editor.text

    asyncio.run(scenario())
    assert seen["all"] == text.replace(Q1, R1).replace(Q2, R2).replace(Q3, R3)
    assert seen["undone"] == text
    assert [(d.hunk_id, d.decision) for d in decisions(fake_workspace)] == [(0, "accept"), (1, "accept"), (2, "accept")]


def test_typing_during_review_moves_the_changes_or_makes_them_stale(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    fake_server.script(critique((Q1, R1), (Q2, R2), (Q3, R3)))
    text = original(fake_workspace)
    seen: dict[str, Any] = {}

    def row_of(lines: list[str], start: str) -> int:
        return next(i for i, line in enumerate(lines) if line.startswith(start))

    async def scenario() -> None:
        app = fake_app(fake_workspace)
        async with app.run_test(size=SIZE) as pilot:
            await start_review(pilot)
            reviewing, editor = app.main.reviewing, app.main.editor
            lines = list(editor.document.lines)
            editor.move_cursor((row_of(lines, "Every payment system"), 0))
            await pilot.press(*"Honestly, ")  # before every change
            q2_row = row_of(lines, "In my experience")
            editor.move_cursor((q2_row, lines[q2_row].index("incident.") + len("incident")))
            await pilot.press(*["backspace"] * len("incident"))  # the words Q2 would change
            assert reviewing.review is not None
            seen["states"] = [item.state for item in reviewing.review.items]
            seen["marks"], seen["text"] = list(editor.marks), editor.text
            seen["card"] = reviewing.view.text
            await pilot.press("alt+shift+a")  # accepts what is pending: Q1 and Q3, never the stale Q2
            await until(pilot, lambda: not reviewing.active, "the review to end")
            seen["final"] = editor.text

    asyncio.run(scenario())
    typed = text.replace("Every payment system", "Honestly, Every payment system").replace(Q2, Q2.replace("incident", ""))
    assert seen["text"] == typed
    assert seen["states"] == [PENDING, STALE, PENDING]
    assert seen["marks"] == [(typed.index(Q1), typed.index(Q1) + len(Q1), True), (typed.index(Q3), typed.index(Q3) + len(Q3), False)]
    assert "1 stale" in seen["card"]
    assert seen["final"] == typed.replace(Q1, R1).replace(Q3, R3)
    assert [(d.hunk_id, d.decision) for d in decisions(fake_workspace)] == [(0, "accept"), (2, "accept")]


def test_review_steps_are_offered_only_in_review_and_esc_leaves_it_changing_nothing(
        fake_workspace: Path, fake_server: FakeModelServer) -> None:
    fake_server.script(critique((Q1, R1), (Q2, R2)))
    text = original(fake_workspace)
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        app = fake_app(fake_workspace)
        async with app.run_test(size=SIZE) as pilot:
            seen["before"] = review_titles(await palette_titles(pilot, "review"))
            await start_review(pilot)
            seen["during"] = review_titles(await palette_titles(pilot, "review"))
            seen["footer"] = {b.binding.action for b in app.screen.active_bindings.values() if b.enabled}
            await pilot.press("alt+n")  # to Q2
            seen["cursor"] = app.main.editor.cursor_location
            await pilot.press("escape")
            seen["after"], seen["marks"] = app.main.reviewing.active, list(app.main.editor.marks)
            seen["text"] = app.main.editor.text

    asyncio.run(scenario())
    assert seen["before"] == set()
    assert seen["during"] == {"Review: accept change", "Review: reject change", "Review: edit change, then accept",
                              "Review: next change", "Review: previous change", "Review: accept all changes",
                              "Review: reject all changes", "Review: leave"}
    assert {"review('accept')", "review('next')", "review('leave')"} <= seen["footer"]
    q2_row = text.count("\n", 0, text.index(Q2))
    assert seen["cursor"] == (q2_row, text.index(Q2) - text.rindex("\n", 0, text.index(Q2)) - 1)
    assert (seen["after"], seen["marks"], seen["text"]) == (False, [], text)
    assert decisions(fake_workspace) == []


SENTENCE = "So retries aren't a bug you can remove."
REWRITTEN = "Retries are not a bug you can remove."


def test_f9_rewrites_the_selection_and_its_changes_are_reviewed(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    fake_server.script(REWRITTEN)
    text = original(fake_workspace)
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        app = fake_app(fake_workspace)
        async with app.run_test(size=SIZE) as pilot:
            editor = app.main.editor
            snap = editor.snapshot()
            editor.select_offsets(snap, text.index(SENTENCE), text.index(SENTENCE) + len(SENTENCE))
            seen["palette"] = await palette_titles(pilot, "rewrite")
            await start_review(pilot, "f9")
            assert app.main.reviewing.review is not None
            seen["hunks"] = [(i.hunk.old, i.hunk.new) for i in app.main.reviewing.review.items]
            await pilot.press("alt+shift+a")
            await until(pilot, lambda: not app.main.reviewing.active, "the review to end")
            seen["text"] = editor.text

    asyncio.run(scenario())
    assert {"Rewrite: selection", "Rewrite: current section", "Rewrite: whole draft"} <= {t.splitlines()[0] for t in seen["palette"]}
    (run,) = finished_runs(fake_workspace)
    assert (run.task, run.status) == ("rewrite", "ok")
    (chat,) = fake_server.chats
    assert SENTENCE in chat.prompt and "Rewrite the passage" in chat.prompt
    assert seen["hunks"] == [("So retries aren't", "Retries are not")]
    assert seen["text"] == text.replace(SENTENCE, REWRITTEN)
    assert [(d.run_id, d.decision, d.old_text, d.new_text) for d in decisions(fake_workspace)] == [
        (run.id, "accept", "So retries aren't", "Retries are not")]


def test_an_expansion_is_reviewed_against_the_section_it_would_replace(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    from scribe.splice import replace_section

    heading = "## Why retries are unavoidable"
    text = original(fake_workspace)
    start, end = text.index(heading), text.index("## The idempotency key")
    section = text[start:end].strip()
    expanded = section.replace(Q1, R1) + "\n\nA retry is the client's only way to learn what happened."
    fake_server.script(expanded)
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        app = fake_app(fake_workspace)
        async with app.run_test(size=SIZE) as pilot:
            app.main.editor.move_cursor((text.count("\n", 0, text.index(Q1)), 0))
            await start_review(pilot, "f4")
            assert app.main.reviewing.review is not None
            seen["count"] = len(app.main.reviewing.review.items)
            await pilot.press("alt+shift+a")
            await until(pilot, lambda: not app.main.reviewing.active, "the review to end")
            seen["text"] = app.main.editor.text

    asyncio.run(scenario())
    assert seen["count"] == 2  # the changed word, the new paragraph
    assert seen["text"] == replace_section(text, start, end, "Why retries are unavoidable", expanded).apply(text)


# --- the pure state ----------------------------------------------------------------------------


TEXT = "One two three. Four five six. Seven eight nine."


def review_of(*spans: tuple[str, str]) -> Review:
    hunks = [make_hunk(TEXT, TEXT.index(old), TEXT.index(old) + len(old), new, id=n) for n, (old, new) in enumerate(spans)]
    return Review.of(1, "d.md", TEXT, hunks)


def test_hunks_follow_exact_changes_and_go_stale_when_their_words_change() -> None:
    review = review_of(("two", "2"), ("five", "5"), ("eight", "8"))
    text = "Zero. " + TEXT
    review.follow(text, (0, 0, 6))
    assert [(i.hunk.start, i.state) for i in review.items] == [(10, PENDING), (26, PENDING), (42, PENDING)]
    text = text[:26] + "fiv" + text[30:]  # "five" -> "fiv"
    review.follow(text, (26, 30, 3))
    assert [i.state for i in review.items] == [PENDING, STALE, PENDING]
    assert review.marks() == [(10, 13, True), (41, 46, False)]
    assert review.decide_all("accept") == [review.items[0], review.items[2]]  # never the stale one
    review.items[0].state = review.items[2].state = PENDING
    text = text[:26] + "five" + text[29:]  # its words back: it comes back
    review.follow(text, (26, 29, 4))
    assert [(i.hunk.start, i.state) for i in review.items] == [(10, PENDING), (26, PENDING), (42, PENDING)]


@pytest.mark.parametrize("edit", [(0, 0, "x"), (3, 4, ""), (14, 15, " "), (len(TEXT), len(TEXT), "!")])
def test_an_unknown_change_is_found_by_comparing_texts(edit: tuple[int, int, str]) -> None:
    start, end, new = edit
    review = review_of(("two", "2"), ("Seven", "7"))
    text = TEXT[:start] + new + TEXT[end:]
    review.follow(text, None)
    for item in review.items:
        assert item.state == PENDING and text[item.hunk.start:item.hunk.end] == item.hunk.old


def test_decisions_and_moving() -> None:
    review = review_of(("two", "2"), ("five", "5"), ("eight", "8"))
    assert review.position() == (1, 3)
    assert review.move(-1) is review.items[2] and review.move(1) is review.items[0]
    assert review.decide("edit", "2").state == "accept"  # edited back to the proposal: an accept
    review.settle()
    assert review.current is review.items[1]
    assert [i.state for i in review.decide_all("reject")] == ["reject", "reject"] and review.finished


def test_helpers() -> None:
    assert diff_span("abc", "abc") is None
    assert diff_span("aXc", "aYYc") == (1, 2, 2)
    assert diff_span("aa", "aaa") == (2, 2, 1)  # ties to the left... of the end: the shortest span
    hunks = [make_hunk(TEXT, 4, 7, "2"), make_hunk(TEXT, 20, 24, "5")]
    assert combined(TEXT, hunks) == (4, 24, "2 three. Four 5")
    line = "a " * 40 + "target" + " b" * 40
    before, after = surroundings("head\n" + line + "\ntail", 5 + 80, 5 + 86)
    assert before.startswith("…") and after.endswith("…") and "\n" not in before + after
    assert surroundings("x target y", 2, 8) == ("x ", " y")
