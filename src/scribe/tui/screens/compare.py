"""Compare mode: one request, two models, labelled A and B without their names.

The author reads both, picks A, B or a tie; only then are the names shown. The pick is stored in the
run log as a `Preference`, which the benchmark report reads. Both runs use one prepared prompt (same
sources, same options) and run one after the other, so neither waits behind the other in the engine's
queue and the latency shown is fair.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Label, Static

from scribe.errors import ScribeError
from scribe.tui.widgets.assistant import OutputView, TokenFeed, format_metrics

if TYPE_CHECKING:
    from scribe.tasks import PreparedCall, TaskResult

LABELS = ("A", "B")


@dataclass
class CompareJob:
    """What to compare: a task's prepared call (made in the worker) and two models, in A/B order."""

    task: str
    scope_label: str
    models: tuple[str, str]  # (model shown as A, model shown as B)
    prepare: Callable[[], PreparedCall] | None = None
    execute: Callable[..., TaskResult] | None = None
    results: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def blind(cls, task: str, scope_label: str, first: str, second: str, rng: random.Random | None = None, **kw: Any) -> CompareJob:
        pair = [first, second]
        (rng or random.Random()).shuffle(pair)
        return cls(task, scope_label, (pair[0], pair[1]), **kw)


class ComparePane(Vertical):
    def __init__(self, label: str) -> None:
        super().__init__(id=f"pane-{label.lower()}", classes="compare-pane")
        self.label = label

    def compose(self) -> ComposeResult:
        yield Label(f"Model {self.label}", classes="pane-title")
        yield OutputView(classes="pane-output")


class CompareScreen(Screen[None]):
    BINDINGS = [
        Binding("a", "pick('a')", "A is better"),
        Binding("b", "pick('b')", "B is better"),
        Binding("t", "pick('tie')", "Tie"),
        Binding("escape", "cancel_or_close", "Cancel / close"),
    ]

    def __init__(self, job: CompareJob, *, store: Callable[[str, CompareJob], None] | None = None,
                 autostart: bool = True) -> None:
        super().__init__(id="compare")
        self.job = job
        self.store = store
        self.autostart = autostart
        self.cancel = threading.Event()
        self.done: dict[str, str] = {}  # label -> status
        self.picked: str | None = None
        self.side_timers: dict[str, tuple[Any, Callable[[], Any]]] = {}

    def compose(self) -> ComposeResult:
        yield Label(f"Compare · {self.job.task} · {self.job.scope_label} — names hidden until you pick", id="compare-title")
        with Horizontal(id="compare-panes"):
            for label in LABELS:
                yield ComparePane(label)
        yield Static("Both models are writing…", id="compare-verdict")
        yield Footer()

    def on_mount(self) -> None:
        if self.autostart:
            self.run_both()

    def pane(self, label: str) -> OutputView:
        return self.query_one(f"#pane-{label.lower()} OutputView", OutputView)

    # --- running ---------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="compare")
    def run_both(self) -> None:
        try:
            self._run_both()
        except Exception as exc:  # noqa: BLE001 - a bug here must not take the draft down
            try:
                self.app.call_from_thread(self._failed_all, f"unexpected error: {exc}")  # type: ignore[arg-type]
            except RuntimeError:
                pass

    def _run_both(self) -> None:
        assert self.job.prepare is not None and self.job.execute is not None
        try:
            prepared = self.job.prepare()
        except ScribeError as exc:
            self.app.call_from_thread(self._failed_all, str(exc))  # type: ignore[arg-type]
            return
        for label, model in zip(LABELS, self.job.models):
            if self.cancel.is_set():
                self.app.call_from_thread(self.finish_side, label, "cancelled", "*(not run: cancelled)*", Text("cancelled", "yellow"))  # type: ignore[arg-type]
                continue
            feed = TokenFeed()
            self.app.call_from_thread(self._start_side, label, feed, prepared.template.output == "json")  # type: ignore[arg-type]
            try:
                feed.restart_clock()
                result = self.job.execute(prepared, model=model, on_token=feed.push, cancel=self.cancel,
                                          meta={"compare": label})
            except ScribeError as exc:
                self.app.call_from_thread(self.finish_side, label, "failed", f"**Failed:** {exc}", Text("failed", "red"))  # type: ignore[arg-type]
                continue
            self.job.results[label] = result
            m = result.call.metrics
            metrics = format_metrics(None, m.ttft_ms, m.eval_tps, m.eval_count or feed.count, result.call.status)
            self.app.call_from_thread(self.finish_side, label, result.call.status, result.output, metrics)  # type: ignore[arg-type]

    async def _failed_all(self, message: str) -> None:
        self.app.notify(message, severity="error", title="Compare")
        for label in LABELS:
            if label not in self.done:
                await self.finish_side(label, "failed", f"**Failed:** {message}", Text("failed", "red"))

    async def _start_side(self, label: str, feed: TokenFeed, is_json: bool) -> None:
        view = self.pane(label)
        await view.begin("```json\n" if is_json else "")
        view.show_metrics(format_metrics(None, None, None, 0, "streaming"))

        async def flush() -> None:
            await view.feed(feed.drain())
            view.show_metrics(format_metrics(None, feed.ttft_ms, feed.tps, feed.count, "streaming"))

        self.side_timers[label] = (self.set_interval(1 / 15, flush), flush)

    async def finish_side(self, label: str, status: str, markdown: str, metrics: Text) -> None:
        if label in self.side_timers:
            timer, flush = self.side_timers.pop(label)
            timer.stop()
            await flush()
        view = self.pane(label)
        await view.end(markdown)
        view.show_metrics(metrics)
        self.done[label] = status
        if len(self.done) == len(LABELS):
            self._ready()

    def _ready(self) -> None:
        verdict = self.query_one("#compare-verdict", Static)
        if all(status == "ok" for status in self.done.values()):
            verdict.update("Which is better?  [b]a[/b]: A   [b]b[/b]: B   [b]t[/b]: tie   [b]esc[/b]: close without picking")
        else:
            verdict.update("A run did not finish, so there is nothing fair to pick. [b]esc[/b] closes.")
        self.refresh_bindings()

    # --- picking ---------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "pick":
            ready = len(self.done) == len(LABELS) and all(s == "ok" for s in self.done.values())
            return True if ready and self.picked is None else None
        return True

    def action_pick(self, winner: str) -> None:
        if self.picked is not None:
            return
        self.picked = winner
        if self.store is not None:
            try:
                self.store(winner, self.job)
            except ScribeError as exc:
                self.app.notify(str(exc), severity="error", title="Preference not stored")
        self.reveal()

    def reveal(self) -> None:
        for label, model in zip(LABELS, self.job.models):
            self.query_one(f"#pane-{label.lower()} .pane-title", Label).update(f"Model {label} — {model}")
        winner = {"a": "A", "b": "B", "tie": "a tie"}[self.picked or "tie"]
        self.query_one("#compare-verdict", Static).update(
            f"You picked {winner}. A was [b]{self.job.models[0]}[/b], B was [b]{self.job.models[1]}[/b]. "
            "Stored in the run log. [b]esc[/b] closes."
        )
        self.refresh_bindings()

    def action_cancel_or_close(self) -> None:
        if len(self.done) < len(LABELS):
            self.cancel.set()
            self.app.notify("cancelling the comparison…", title="Compare")
            return
        self.dismiss(None)
