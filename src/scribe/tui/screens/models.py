"""Choosing a model (F7, and the second model of a comparison): the writers the model server has,
listed in a worker because the server may still be starting, then offered in a `ChoiceScreen`.
Embedding-only models are no choice for a task, so they are left out."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.widget import Widget

from scribe.errors import ScribeError
from scribe.tui.crashlog import unexpected
from scribe.tui.screens.dialogs import ChoiceScreen

if TYPE_CHECKING:
    from scribe.models import ModelInfo
    from scribe.tui.services import Services

Note = Callable[[list["ModelInfo"]], str]


def model_label(m: ModelInfo) -> str:
    details = " · ".join(x for x in (m.parameter_size, m.quantization, f"{m.size / 1e6:.0f} MB") if x)
    return f"{m.name}  ({details})"


def choose_model(node: Widget, services: Services, title: str, then: Callable[[str | None], object], *,
                 highlight: str | None = None, last: str | None = None, note: Note | None = None) -> None:
    """List the writers in a worker of `node`, then ask. `last` goes to the end of the list (the
    model already on the other side); `note` words a line above the list from the models found."""

    def ask(models: list[ModelInfo]) -> None:
        ordered = [m for m in models if m.name != last] + [m for m in models if m.name == last]
        node.app.push_screen(ChoiceScreen(title, [(m.name, model_label(m)) for m in ordered], highlight=highlight,
                                          note=note(models) if note else ""), then)

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
        if not models:
            node.notify("the model server has no models; pull one with `ollama pull NAME`", severity="error",
                        title="Models", timeout=8)
            return
        node.call_later(ask, models)

    node.run_worker(load, thread=True, group="models", exclusive=True)
