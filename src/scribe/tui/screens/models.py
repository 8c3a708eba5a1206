"""Which model writes. `ModelChoice` connects early and takes the server's best writer for the
session, or the author's pick (F7, remembered). `choose_model` lists the writers the server has
(in a worker: the server may still be starting) in a `ChoiceScreen`, for F7 and for the second
model of a comparison; embedding-only models are no choice for a task, so they are left out. F7
also offers the writers the author named (scribe.toml's `model`, the one picked last) and the ones
scribe knows that the server lacks: choosing one pulls it, with its progress in the status line."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

from textual.widget import Widget

from scribe.errors import ScribeError
from scribe.tui.crashlog import unexpected
from scribe.tui.screens.dialogs import ChoiceScreen

if TYPE_CHECKING:
    from scribe.models import ModelInfo, PullProgress
    from scribe.tui.services import Services
    from scribe.tui.session import Session
    from scribe.tui.widgets.status import StatusBar

Note = Callable[[list["ModelInfo"]], str]


def model_label(m: ModelInfo) -> str:
    details = " · ".join(x for x in (m.parameter_size, m.quantization, f"{m.size / 1e6:.0f} MB") if x)
    return f"{m.name}  ({details})"


def missing(models: Sequence[ModelInfo], named: Sequence[str]) -> list[str]:
    """The `named` models the server does not have, in order, once each."""
    have = {m.name for m in models} | {m.name.removesuffix(":latest") for m in models}
    return [name for name in dict.fromkeys(named) if name and name not in have]


def pull_text(name: str, progress: PullProgress) -> str:
    """A pull's progress in a few words, for the status line."""
    if progress.total and progress.completed is not None:
        return f"pulling {name} {100 * progress.completed // progress.total}%"
    return f"pulling {name}: {progress.status}"


def choose_model(node: Widget, services: Services, title: str, then: Callable[[str | None], object], *,
                 highlight: str | None = None, last: str | None = None, note: Note | None = None,
                 offer: Sequence[str] = (), on_offer: Callable[[list[str]], object] | None = None) -> None:
    """List the writers in a worker of `node`, then ask. `last` goes to the end of the list (the
    model already on the other side); `note` words a line above the list from the models found.
    The models in `offer` that the server lacks are listed after its own, to be pulled; `on_offer`
    hears which those are before the list shows."""

    def ask(models: list[ModelInfo]) -> None:
        ordered = [m for m in models if m.name != last] + [m for m in models if m.name == last]
        lacking = missing(models, offer)
        if on_offer is not None:
            on_offer(lacking)
        options = [(m.name, model_label(m)) for m in ordered] + [(name, f"{name}  (not on the server: pull it)") for name in lacking]
        node.app.push_screen(ChoiceScreen(title, options, highlight=highlight, note=note(models) if note else ""), then)

    def load() -> None:
        from scribe.models import writers

        try:
            models = writers(services.list_models())
        except ScribeError as exc:
            node.notify(str(exc), severity="error", title="Models", timeout=8)
            return
        except Exception as exc:  # noqa: BLE001 - a listing must never take the app down
            node.notify(unexpected(exc, "listing models"), severity="error", title="Models", timeout=8)
            return
        if not models and not offer:
            node.notify("the model server has no models; pull one with `scribe pull NAME`", severity="error",
                        title="Models", timeout=8)
            return
        node.call_later(ask, models)

    node.run_worker(load, thread=True, group="models", exclusive=True)


class ModelChoice:
    """The session's model, shown in the status line; `changed` runs after it changes."""

    def __init__(self, node: Widget, session: Session, status: StatusBar, changed: Callable[[], None]) -> None:
        self.node = node
        self.session = session
        self.status = status
        self.changed = changed
        self.pullable: set[str] = set()  # the names F7 offered to pull, the last time it listed

    def connect(self) -> None:
        """Resolve (and if need be start) the model server early, so the first task starts at once."""
        self.node.run_worker(self._connect, thread=True, group="connect")

    def _connect(self) -> None:
        try:
            client = self.session.services.client()
            if not self.session.model:
                self.node.call_later(self._use_default, client.default_writer())
        except ScribeError as exc:
            self.node.notify(str(exc), severity="error", title="Model server", timeout=8)
        except Exception as exc:  # noqa: BLE001 - the app must not crash on a connection problem
            self.node.notify(unexpected(exc, "connecting"), severity="error", title="Model server", timeout=8)

    def _use_default(self, name: str) -> None:
        """The server's best writer, for this session only (F7 makes a choice that is remembered)."""
        if not self.session.model:
            self.session.model = name
            self.status.set_model(name)
            self.changed()

    def pick(self) -> None:
        from scribe.config import WRITERS

        named = [self.session.workspace.settings.model or "", self.session.state.model or "", *WRITERS]
        choose_model(self.node, self.session.services, "Model for tasks", self._chosen, highlight=self.session.model,
                     offer=named, on_offer=self._offered)

    def _offered(self, names: list[str]) -> None:
        self.pullable = set(names)

    def _chosen(self, name: str | None) -> None:
        if name and name in self.pullable:
            self.node.run_worker(partial(self._pull, name), thread=True, group="pull", exclusive=True)
        else:
            self._set(name)

    def _pull(self, name: str) -> None:
        """Pull `name` (a worker), its progress in the status line; once there, tasks use it."""
        last = None
        try:
            for last in self.session.services.client().pull(name):
                self.node.app.call_from_thread(self.status.show_pull, pull_text(name, last))
        except ScribeError as exc:
            self.node.notify(str(exc), severity="error", title="Pull", timeout=10)
        except Exception as exc:  # noqa: BLE001 - a failed pull must not take the app down
            self.node.notify(unexpected(exc, "pulling a model"), severity="error", title="Pull", timeout=10)
        finally:
            self.node.app.call_from_thread(self.status.show_pull, None)
        if last is not None and last.status == "success":
            self.node.app.call_from_thread(self._set, name)

    def _set(self, name: str | None) -> None:
        if not name:
            return
        self.session.model = self.session.state.model = name
        self.session.save_state()
        self.status.set_model(name)
        self.node.notify(f"tasks now use {name} (remembered for this workspace)", timeout=3)
        self.changed()
