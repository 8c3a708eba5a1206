"""Warm-up while the author pauses: the draft's shared prompt start goes to the model server ahead
of any task, so outline and critique answer without first reading the whole grounded prompt.

With the 1.5B writer on 2 cores that reading is 15-30 s; after a warm-up, a task only reads its own
instructions (benchmarks/engine_bench.py warm). The next edit cancels a warm-up in flight: it runs
in a worker thread with a cancel event, and `ModelClient.stream_chat` cuts its connection the
moment the event is set, which stops the server at once, even mid-prompt (`scribe serve` checks
between batches; Ollama stops too). A warm-up is not a task: its one generated token is thrown
away and it is not in the run log.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.timer import Timer

    from scribe.models import CallResult
    from scribe.tasks import Draft
    from scribe.tui.services import Services
    from scribe.tui.widgets.status import StatusBar

GROUP = "warm"
log = logging.getLogger("scribe.tui")


@dataclass(frozen=True)
class WarmTarget:
    """What a warm-up would send now: the model, and the draft as the editor holds it."""

    model: str
    text: str  # the editor's whole text: the same text is not warmed twice
    draft: Draft


class Warming:
    """`restart()` on every edit; after `pause` seconds without one, the warm-up for `target()` is
    sent (None: nothing to warm now). `pause=None` turns warm-ups off. The status bar shows when the
    tasks are primed; the counters are what happened, for tests."""

    def __init__(self, status: StatusBar, services: Services, target: Callable[[], WarmTarget | None], *,
                 pause: float | None, options: dict[str, Any] | None = None) -> None:
        self.status = status
        self.services = services
        self.target = target
        self.pause = pause
        self.options = options
        self.timer: Timer | None = None
        self.started = self.done = self.cancelled = 0
        self.last: CallResult | None = None
        self._cancel = threading.Event()
        self._warmed: tuple[str, str] | None = None  # (model, editor text) of the last warm-up done
        self._generation = 0  # bumped by every restart: a warm-up from before it is stale
        self._shown = False

    def restart(self) -> None:
        """The text, the file or the model changed: stop a warm-up in flight, wait for a pause."""
        if self.pause is None:
            return
        self.stop()
        if self._shown:
            self.status.set_primed(False)
            self._shown = False
        self.timer = self.status.set_timer(self.pause, self._paused)

    def stop(self) -> None:
        self._cancel.set()
        self._generation += 1
        if self.timer is not None:
            self.timer.stop()
            self.timer = None

    def _paused(self) -> None:
        target = self.target()
        if target is None or (target.model, target.text) == self._warmed:
            return
        self._cancel = threading.Event()
        self.status.run_worker(partial(self._warm, target, self._cancel, self._generation),
                               thread=True, group=GROUP, exit_on_error=False)

    def _warm(self, target: WarmTarget, cancel: threading.Event, generation: int) -> None:
        self.started += 1
        result = None
        try:
            request = self.services.warm_request(target.draft, self.options, target.model)
            if request is not None and not cancel.is_set():
                result = self.services.client().stream_chat(target.model, request.messages,
                                                            options=request.options, cancel=cancel)
        except Exception as exc:  # noqa: BLE001 - only an optimisation: a failed warm-up must not bother the author
            log.debug("warm-up failed: %s", exc)
        if cancel.is_set():
            self.cancelled += 1
        elif result is not None:
            self.last = result
            if result.status == "ok":
                self.done += 1
                self._warmed = (target.model, target.text)
                self.status.call_later(self._primed, generation)

    def _primed(self, generation: int) -> None:
        if generation == self._generation:
            self.status.set_primed(True)
            self._shown = True
