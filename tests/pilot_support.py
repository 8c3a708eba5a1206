"""What the fast app tests share: the app on the sample draft against the fake model server, and
waits that end as soon as what they wait for is on screen (a fixed pause is either too short on a
busy machine or wasted on a quiet one)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fake_server import CHAT_MODEL

from scribe.config import open_workspace

if TYPE_CHECKING:
    from scribe.tui.app import ScribeApp
    from scribe.tui.index_link import IndexLink

DRAFT = Path("notes") / "drafts" / "idempotency-in-payment-flows.md"
SIZE = (140, 40)


def fake_app(ws: Path, *, index: IndexLink | None = None) -> ScribeApp:
    """The app on the draft, with the model named (a key pressed before the app has asked the server
    for its best writer would otherwise go to the best writer by name) and no warm-ups."""
    from scribe.tui.app import ScribeApp

    with (ws / "scribe.toml").open("a", encoding="utf-8") as toml:
        toml.write(f'model = "{CHAT_MODEL}"\n')
    return ScribeApp(open_workspace(ws), ws / DRAFT, index=index, warm_pause=None)


async def until(pilot: Any, condition: Callable[[], object], what: str, timeout: float = 20.0) -> None:
    """Let the app run until `condition()` holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.02)


async def notified(pilot: Any, *words: str, timeout: float = 20.0) -> None:
    """Wait for a notification holding all of `words`: `notify` posts a message, so the toast
    lands a moment after the code that raised it has returned."""

    def shown() -> bool:
        return any(all(w in n.message for w in words) for n in pilot.app._notifications)

    await until(pilot, shown, f"a notification saying {' … '.join(map(repr, words))}", timeout)


async def palette_titles(pilot: Any, query: str) -> list[str]:
    """The command palette's entries for `query`, once its search has finished, then closes it."""
    from textual.command import CommandList, CommandPalette

    app = pilot.app
    await pilot.press("ctrl+p")
    await until(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
    await pilot.press(*query)

    def searching() -> bool:
        return any(w.group == CommandPalette._GATHER_COMMANDS_GROUP and w.is_running for w in app.workers)

    await until(pilot, lambda: not searching(), f"the palette's search for {query!r}")
    found = app.screen.query_one(CommandList)
    titles = [str(found.get_option_at_index(i).prompt) for i in range(found.option_count)]
    await pilot.press("escape")
    return titles
