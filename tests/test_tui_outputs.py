"""What the app puts in front of the author fits the draft (issue 15, item 3), against the fake model
server: an expansion cut off by the token limit goes in only up to its last complete sentence, and
a critique's issues are listed in the order its markdown numbers them.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from fake_fixtures import finished_runs
from fake_server import FakeModelServer, Reply
from pilot_support import SIZE, fake_app, until
from textual.widgets import OptionList

KEPT = "Retries are how a distributed system recovers from not knowing."
CUT = f"{KEPT} The server looks the key up in `idempotency_ke"


def expansion_applied(ws: Path, key: str) -> dict[str, str]:
    """F4 in "Why retries are unavoidable", then `key` (ctrl+o insert, ctrl+r replace): the
    expansion bar and the panel as shown before the key, and the draft's text after it."""
    seen: dict[str, str] = {}

    async def scenario() -> None:
        app = fake_app(ws)
        async with app.run_test(size=SIZE) as pilot:
            editor = app.main.editor
            row = next(i for i, line in enumerate(editor.document.lines) if line.startswith("Networks drop responses."))
            editor.move_cursor((row, 0))
            await pilot.press("f4")
            await until(pilot, lambda: app.main.panel.expansion is not None, "the expansion to be ready")
            seen["bar"] = str(app.main.panel.query_one("#expansion-bar").render())
            seen["shown"] = app.main.panel.view.source
            await pilot.press(key)
            await until(pilot, lambda: app.main.panel.expansion is None, "the expansion to go in")
            seen["text"] = editor.text

    asyncio.run(scenario())
    return seen


def test_ctrl_o_inserts_a_cut_off_expansion_only_up_to_its_last_complete_sentence(
    fake_workspace: Path, fake_server: FakeModelServer
) -> None:
    fake_server.script(Reply(CUT, done_reason="length"))
    inserted = expansion_applied(fake_workspace, "ctrl+o")
    (run,) = finished_runs(fake_workspace)
    assert (run.task, run.status, run.done_reason, run.output_text) == ("expand", "ok", "length", CUT)
    assert "last complete sentence" in inserted["bar"]
    text = inserted["text"]
    assert KEPT in text and "idempotency_ke" not in text and "The server looks the key up" not in text
    assert text.index("Most teams only find this out") < text.index(KEPT) < text.index("## The idempotency key")
    assert f"{KEPT}\n\n## The idempotency key" in text


def test_an_expansion_that_repeats_itself_is_stopped_and_ctrl_r_puts_in_what_came_before_the_loop(
    fake_workspace: Path, fake_server: FakeModelServer
) -> None:
    again = "A retry is only safe when the server can recognise it as one."
    fake_server.script(Reply(f"{KEPT}\n\nFirst, the client. {again}\n\n" + f"Then a case. {again}\n\n" * 20, chunks=60))
    seen = expansion_applied(fake_workspace, "ctrl+r")
    (run,) = finished_runs(fake_workspace)
    assert (run.status, run.done_reason) == ("ok", "looping") and run.output_text.count(again) == 2
    assert "repeating itself" in seen["bar"] and "Then a case" not in seen["shown"]
    assert f"{KEPT}\n\nFirst, the client. {again}\n\n## The idempotency key" in seen["text"]
    assert "Then a case" not in seen["text"] and "Networks drop responses." not in seen["text"]  # the section replaced


ISSUES = [  # the model's order: not the draft's
    {"severity": "low", "quote": "The fix is a key that names the operation, not the request.", "problem": "p1", "suggestion": "s"},
    {"severity": "high", "quote": "words the draft never had", "problem": "p2", "suggestion": "s"},
    {"severity": "high", "quote": "Most teams only find this out after their first large incident.", "problem": "p3", "suggestion": "s"},
    {"severity": "medium", "quote": "Networks drop responses.", "problem": "p4", "suggestion": "s"},
]


def test_the_issues_list_follows_the_critiques_numbering_and_walks_the_draft(
    fake_workspace: Path, fake_server: FakeModelServer
) -> None:
    fake_server.script(json.dumps({"summary": "Four things.", "issues": ISSUES}))
    seen: dict[str, object] = {}

    async def scenario() -> None:
        app = fake_app(fake_workspace)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("f3")
            await until(pilot, lambda: app.main.panel.last is not None, "the critique to finish")
            options = app.main.panel.query_one("#issues", OptionList)
            seen["listed"] = [options.get_option_at_index(i).prompt.plain for i in range(options.option_count)]  # type: ignore[union-attr]
            seen["markdown"] = app.main.panel.view.source
            options.focus()
            options.highlighted = 0
            await pilot.press("enter")
            await pilot.pause(0.1)
            seen["selected"] = app.main.editor.selected_text

    asyncio.run(scenario())
    (run,) = finished_runs(fake_workspace)
    assert (run.task, run.status) == ("critique", "ok")
    numbered = re.findall(r"^(\d+)\. \*\*(\w+)\*\*: > (.+?)(?: — \*quote not found.*)?$", str(seen["markdown"]), re.MULTILINE)
    listed = seen["listed"]
    assert isinstance(listed, list) and len(listed) == len(numbered) == 4
    for shown, (number, severity, quote) in zip(listed, numbered, strict=True):
        assert shown.startswith(f"{number}. {severity}") and f"“{quote[:50]}" in shown  # a long quote is shortened
    # top to bottom through the draft, then the quote it does not have
    assert [quote for _, _, quote in numbered] == [ISSUES[3]["quote"], ISSUES[2]["quote"], ISSUES[0]["quote"], ISSUES[1]["quote"]]
    assert seen["selected"] == "Networks drop responses."  # issue 1 in the list is issue 1 in the draft


def test_a_cancelled_or_broken_expansion_counts_as_cut_off_too() -> None:
    """Stopped by Esc or a dropped stream, an answer ends mid-sentence just as at the token limit."""
    from scribe.models import CallMetrics, CallResult
    from scribe.tasks import TaskResult
    from scribe.tui.documents import Scope
    from scribe.tui.runs import Run

    def run(status: str, done_reason: str | None) -> Run:
        call = CallResult(CUT, "m", "h", status=status, metrics=CallMetrics(done_reason=done_reason))  # type: ignore[arg-type]
        return Run("expand", Scope("draft", 0, 0), "", "m", TaskResult(1, "expand", "m", call, []))

    assert [run(*case).cut_off for case in [("ok", "stop"), ("ok", "length"), ("cancelled", None), ("failed", None)]] == [
        False, True, True, True]
    assert not Run("expand", Scope("draft", 0, 0), "", "m").cut_off
