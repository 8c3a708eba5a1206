"""Compare mode: one request, two models, labelled A and B without their names.

The author reads both, picks A, B or a tie; only then are the names shown. The pick is stored in the
run log as a `Preference`, which the benchmark report reads. Both runs use one prepared prompt (same
sources, same options) and run one after the other, so neither waits behind the other in the engine's
queue and the latency shown is fair. Each pane is a `StreamView`; its messages say when to start B.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Label, Static

from scribe.errors import ScribeError
from scribe.tui.crashlog import unexpected
from scribe.tui.widgets.footer import KeysFooter
from scribe.tui.widgets.stream import StreamCall, StreamView

if TYPE_CHECKING:
    from scribe.models import ModelInfo
    from scribe.prompts import PromptTemplate
    from scribe.runlog import RunLog
    from scribe.tasks import PreparedCall, TaskInput, TaskResult
    from scribe.tui.runs import Run
    from scribe.tui.session import Session

LABELS = ("A", "B")


@dataclass
class CompareJob:
    """What to compare: a task's prepared call (made in a worker) and two models, in A/B order."""

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


def second_model_note(first: str, models: list[ModelInfo]) -> str:
    """What the question for the second model says: the pick is blind, and with one model installed
    it is compared with itself."""
    line = f"Against {first}. Names stay hidden until you pick."
    if len(models) == 1:
        line += " Only one model is installed: both sides use it (the pick then measures sampling noise)."
    return line


def store_preference(runlog: RunLog, winner: str, job: CompareJob) -> None:
    from scribe.runlog import Preference

    a, b = job.results["A"], job.results["B"]
    runlog.add_preference(
        Preference(task=job.task, run_a=a.run_id, run_b=b.run_id, model_a=job.models[0], model_b=job.models[1], winner=winner)
    )


class ComparePane(Vertical):
    def __init__(self, label: str) -> None:
        super().__init__(id=f"pane-{label.lower()}", classes="compare-pane")
        self.label = label

    def compose(self) -> ComposeResult:
        yield Label(f"Model {self.label}", classes="pane-title")
        yield StreamView(show_model=False, classes="pane-output")


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
        self.prepared: PreparedCall | None = None
        self.cancelled = False
        self.done: dict[str, str] = {}  # label -> status
        self.picked: str | None = None

    def compose(self) -> ComposeResult:
        yield Label(f"Compare · {self.job.task} · {self.job.scope_label} — names hidden until you pick", id="compare-title")
        with Horizontal(id="compare-panes"):
            for label in LABELS:
                yield ComparePane(label)
        yield Static("Both models are writing…", id="compare-verdict")
        yield KeysFooter()

    def on_mount(self) -> None:
        if self.autostart:
            self._prepare()

    def pane(self, label: str) -> StreamView:
        return self.query_one(f"#pane-{label.lower()} StreamView", StreamView)

    # --- running ---------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="compare")
    def _prepare(self) -> None:
        assert self.job.prepare is not None
        try:
            self.prepared = self.job.prepare()
        except ScribeError as exc:
            self.call_later(self._failed_all, str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug here must not take the draft down
            self.call_later(self._failed_all, unexpected(exc, "compare"))
        else:
            self.call_later(self._run_next)

    async def _run_next(self) -> None:
        """Start the next side, or, after a cancel, end the sides not run."""
        for label, model in zip(LABELS, self.job.models):
            if label in self.done:
                continue
            if self.cancelled:
                await self.finish_side(label, "cancelled", "*(not run: cancelled)*", Text("cancelled", "yellow"))
                continue
            await self.pane(label).start(self._call(label, model))
            return

    def _call(self, label: str, model: str) -> StreamCall:
        assert self.prepared is not None and self.job.execute is not None
        prepared, execute = self.prepared, self.job.execute

        def run(p: PreparedCall, on_token: Callable[[str], None], cancel: threading.Event) -> TaskResult:
            return execute(p, model=model, on_token=on_token, cancel=cancel, meta={"compare": label})

        return StreamCall(self.job.task, model, prepared.template.output == "json", lambda: prepared, run)

    def _label(self, view: StreamView) -> str:
        return next(label for label in LABELS if self.pane(label) is view)

    @on(StreamView.Finished)  # Cancelled is a Finished too
    async def _side_finished(self, event: StreamView.Finished) -> None:
        label = self._label(event.view)
        self.job.results[label] = event.result
        self._side_done(label, event.result.call.status)
        await self._run_next()

    @on(StreamView.Failed)
    async def _side_failed(self, event: StreamView.Failed) -> None:
        self._side_done(self._label(event.view), "failed")
        await self._run_next()

    async def _failed_all(self, message: str) -> None:
        self.notify(message, severity="error", title="Compare")
        for label in LABELS:
            if label not in self.done:
                await self.finish_side(label, "failed", f"**Failed:** {message}", Text("failed", "red"))

    async def finish_side(self, label: str, status: str, markdown: str, metrics: Text) -> None:
        """End a side that did not stream (not run, or nothing to run) with `markdown`."""
        view = self.pane(label)
        await view.end(markdown)
        view.show_metrics(metrics)
        self._side_done(label, status)

    def _side_done(self, label: str, status: str) -> None:
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
        if action == "pick":  # offered (in the footer too) only while a pick is open
            return len(self.done) == len(LABELS) and all(s == "ok" for s in self.done.values()) and self.picked is None
        return True

    def action_pick(self, winner: str) -> None:
        if self.picked is not None:
            return
        self.picked = winner
        if self.store is not None:
            try:
                self.store(winner, self.job)
            except ScribeError as exc:
                self.notify(str(exc), severity="error", title="Preference not stored")
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
            self.cancelled = True
            for label in LABELS:
                self.pane(label).cancel()
            self.notify("cancelling the comparison…", title="Compare")
            return
        self.dismiss(None)


def blind_compare(session: Session, prepared: tuple[Run, PromptTemplate, TaskInput], first: str, second: str,
                  rng: Any = None) -> CompareScreen:
    """The compare screen for one task on the same text with two models, their sides shuffled, the
    author's pick stored as a preference in the run log."""
    run, template, inp = prepared
    services, options = session.services, session.task_options or None
    job = CompareJob.blind(
        run.task, run.scope.label, first, second, rng,
        prepare=lambda: services.prepare(template, inp, options=options),
        execute=services.execute,
    )
    return CompareScreen(job, store=lambda winner, job: store_preference(services.runlog(), winner, job))
