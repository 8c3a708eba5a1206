"""Warm-up while the author pauses: the draft's shared prompt start goes to the model server ahead
of any task, so outline and critique answer without first reading the whole grounded prompt.

With the 1.5B writer on 2 cores that reading is 15-30 s; after a warm-up, a task only reads its own
instructions (benchmarks/engine_bench.py warm). The next edit cancels a warm-up in flight: the
request is made on the event loop's client, and cancelling it closes the connection, which stops
the server at once, even mid-prompt (`scribe serve` checks between batches; Ollama stops too).
A warm-up is not a task: its one generated token is thrown away and it is not in the run log.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.timer import Timer

    from scribe.models import CallResult
    from scribe.tasks import Draft
    from scribe.tui.app import ScribeApp

GROUP = "warm"
log = logging.getLogger("scribe.tui")


class Warming:
    """`restart()` on every edit; after `pause` seconds without one, the warm-up is sent.
    `pause=None` turns warm-ups off. The counters are what happened, for the status line and tests."""

    def __init__(self, app: ScribeApp, pause: float | None) -> None:
        self.app = app
        self.pause = pause
        self.timer: Timer | None = None
        self.started = self.done = self.cancelled = 0
        self.last: CallResult | None = None
        self._warmed: tuple[str, str] | None = None  # (model, editor text) of the last warm-up done
        self._shown = False

    def restart(self) -> None:
        """The text, the file or the model changed: stop a warm-up in flight, wait for a pause."""
        if self.pause is None:
            return
        self.app.workers.cancel_group(self.app, GROUP)
        if self._shown:
            self.app.status.set_model(f"model: {self.app.model}")
            self._shown = False
        if self.timer is not None:
            self.timer.stop()
        self.timer = self.app.set_timer(self.pause, self._paused)

    def _paused(self) -> None:
        from scribe.tasks import Draft

        app = self.app
        if app.current is not None or app.file is None or not app.model:
            return  # a task is reading its prompt already, or there is nothing to warm for
        snap = app.editor.snapshot()
        key = (app.model, snap.text)
        if key == self._warmed:
            return
        draft = Draft(snap.title, snap.body, snap.path, app.rel(snap.path) if snap.path else None)
        app.run_worker(self._warm(draft, app.model, key), group=GROUP, exclusive=True, exit_on_error=False)

    async def _warm(self, draft: Draft, model: str, key: tuple[str, str]) -> None:
        services = self.app.services
        self.started += 1
        try:
            request = await asyncio.to_thread(services.warm_request, draft, self.app.task_options or None)
            if request is None:
                return
            client = await asyncio.to_thread(services.async_client)
            self.last = await client.stream_chat(model, request.messages, options=request.options)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        except Exception as exc:  # noqa: BLE001 - only an optimisation: a failed warm-up must not bother the author
            log.debug("warm-up failed: %s", exc)
            return
        if self.last.status == "ok":
            self.done += 1
            self._warmed = key
            if self.app.model == model:
                self.app.status.set_model(f"model: {model} · outline/critique primed")
                self._shown = True
