"""SVG snapshots of the TUI's main screen and compare screen (pytest-textual-snapshot).

Deterministic by construction: a fixed terminal size, fixed files, no model server (autoconnect off,
no index), no clock anywhere on screen, and the compare screen filled with fixed outputs.
Update them after a deliberate UI change with: pytest tests/test_tui_snapshots.py --snapshot-update
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from rich.text import Text

from scribe.config import open_workspace
from scribe.tui.app import ScribeApp
from scribe.tui.index_link import NoIndex
from scribe.tui.screens.compare import CompareJob, CompareScreen
from test_tui import SHORT_DRAFT as DRAFT

SIZE = (120, 34)


OUTPUT_A = """## Why retries happen

- A lost response looks exactly like a lost request [1]
- Clients, proxies and brokers all retry on their own

## The fix

- One key per logical operation, made by the client
"""

OUTPUT_B = """Retries happen because networks are unreliable. The server should store a key.

1. Generate a key
2. Store it
"""


@pytest.fixture
def snap_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("SCRIBE_ENGINE", "OLLAMA_HOST", "SCRIBE_MODEL", "SCRIBE_WORKSPACE"):
        monkeypatch.delenv(var, raising=False)
    ws = tmp_path / "ws"
    (ws / "notes" / "drafts").mkdir(parents=True)
    (ws / "scribe.toml").write_text('engine = "ollama"\nollama_host = "http://127.0.0.1:9"\nmodel = "gemma3:270m"\n')
    (ws / "notes" / "drafts" / "retries-need-keys.md").write_text(DRAFT, encoding="utf-8")
    (ws / "notes" / "idempotency-keys.md").write_text("# Idempotency keys\n\nA key names an operation.\n", encoding="utf-8")
    return ws


def offline_app(ws: Path) -> ScribeApp:
    return ScribeApp(open_workspace(ws), ws / "notes" / "drafts" / "retries-need-keys.md",
                     index=NoIndex(), autoconnect=False, warm_pause=None)


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    """Wait for everything that loads in the background: the index status line and the tree."""

    async def until(condition) -> None:  # type: ignore[no-untyped-def]
        for _ in range(500):
            if condition():
                return
            await pilot.pause(0.02)
        raise AssertionError("the app did not settle")

    app = pilot.app
    await until(lambda: any(str(w.render()) != "index: …" for w in app.main.status.query("#index-status")))
    tree = app.query_one("#tree")
    await until(lambda: len(tree.root.children) == 2)
    folders = [node for node in tree.root.children if node.data is not None and node.data.path.is_dir()]
    for node in folders:  # folders only: expanding a file node would open it
        node.expand()
    await until(lambda: all(node.children for node in folders))
    # the tree shows the open draft where it lives (its cursor moves there on a timer)
    await until(lambda: tree.cursor_node is not None and tree.cursor_node.data is not None
                and tree.cursor_node.data.path.name == "retries-need-keys.md")
    app.main.editor.cursor_blink = False  # no blink phase in a snapshot
    app.main.editor.move_cursor((10, 0))
    app.main.editor.focus()
    await pilot.pause(0.2)


def test_main_screen(snap_workspace: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(offline_app(snap_workspace), terminal_size=SIZE, run_before=settle)


def test_main_screen_light_theme_with_line_numbers(snap_workspace: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def before(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("ctrl+t", "ctrl+l")
        await pilot.pause()

    assert snap_compare(offline_app(snap_workspace), terminal_size=SIZE, run_before=before)


def test_compare_screen_after_the_pick(snap_workspace: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def before(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        job = CompareJob.blind("outline", "whole draft", "gemma3:270m", "qwen3:0.6b", random.Random(4))
        screen = CompareScreen(job, autostart=False)
        await pilot.app.push_screen(screen)
        await pilot.pause()
        await screen.finish_side("A", "ok", OUTPUT_A, Text("TTFT 120 ms · 61.0 tok/s · 48 tok · ok"))
        await screen.finish_side("B", "ok", OUTPUT_B, Text("TTFT 95 ms · 72.4 tok/s · 30 tok · ok"))
        await pilot.pause()
        screen.action_pick("a")  # no store: nothing to write in a snapshot
        await pilot.pause()

    assert snap_compare(offline_app(snap_workspace), terminal_size=SIZE, run_before=before)


def test_compare_screen_while_blind(snap_workspace: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def before(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        job = CompareJob.blind("critique", "section “The fix”", "gemma3:270m", "qwen3:0.6b", random.Random(1))
        screen = CompareScreen(job, autostart=False)
        await pilot.app.push_screen(screen)
        await pilot.pause()
        await screen.finish_side("A", "ok", OUTPUT_B, Text("TTFT 95 ms · 72.4 tok/s · 30 tok · ok"))
        await screen.finish_side("B", "ok", OUTPUT_A, Text("TTFT 120 ms · 61.0 tok/s · 48 tok · ok"))
        await pilot.pause()

    assert snap_compare(offline_app(snap_workspace), terminal_size=SIZE, run_before=before)


def test_review_shows_the_current_change_in_place_and_as_a_word_diff(snap_workspace: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    from scribe.edits import make_hunk
    from scribe.tui.review import Review

    changes = [
        ("Networks drop responses.", "Networks lose responses.", "A vague verb.", "Say what is lost."),
        ("In my experience roughly 40% of payment incidents trace back to retries.",
         "Roughly 40% of payment incidents trace back to retries, in my experience.", "The number is buried.", "Lead with it."),
    ]

    async def before(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        main = pilot.app.main
        text = main.editor.text
        hunks = [make_hunk(text, text.index(old), text.index(old) + len(old), new, reason=why, suggestion=fix, id=n)
                 for n, (old, new, why, fix) in enumerate(changes)]
        main.reviewing.start(Review.of(7, "notes/drafts/retries-need-keys.md", text, hunks, "Critique"))
        await pilot.pause(0.2)

    assert snap_compare(offline_app(snap_workspace), terminal_size=SIZE, run_before=before)
