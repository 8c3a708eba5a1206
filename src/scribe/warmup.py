"""What to send a model server ahead of the whole-draft tasks, so it has their prompt evaluated.

Outline and critique on one draft send the same system turn, the same sources and the same draft,
and only then their own instructions (prompts/*.md put the task's words last). A server that keeps
the last prompt's evaluated tokens (Ollama and `scribe serve` both do) answers the next task with
that start already done, if somebody sent it first: the TUI does, when the author pauses. It sends
the first task's whole prompt, not only the shared start: that task then answers at once, and the
others still find their shared start cached and read only their own instructions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scribe.models import Message
from scribe.prompts import PromptTemplate
from scribe.grounding import ContextLimits
from scribe.tasks import Draft, Retriever, TaskInput, prepare

WARM_TASKS = ("outline", "critique")
MIN_SHARED_CHARS = 200  # less than this is evaluated in well under a second anyway


@dataclass(frozen=True)
class WarmRequest:
    """A chat request that makes the server evaluate `messages` and generate one token."""

    messages: list[Message]
    options: dict[str, Any]


def shared_prefix(conversations: Sequence[Sequence[Message]]) -> list[Message] | None:
    """The messages every conversation starts with: the equal leading turns, then the common
    start of the first turn that differs, cut at a line end (a cut mid-line would tokenize its
    last word differently from the full prompt). None when they share too little to be worth it."""
    if not conversations:
        return None
    first, rest = conversations[0], conversations[1:]
    shared: list[Message] = []
    for i, message in enumerate(first):
        others = [c[i] if i < len(c) else None for c in rest]
        if all(o == message for o in others):
            shared.append(dict(message))
            continue
        if any(o is None or o.get("role") != message.get("role") for o in others):
            break
        text = message.get("content", "")
        for other in others:
            assert other is not None
            text = _common_start(text, other.get("content", ""))
        cut = text.rfind("\n") + 1
        if cut:
            shared.append({"role": message["role"], "content": text[:cut]})
        break
    if sum(len(m.get("content", "")) for m in shared if m.get("role") != "system") < MIN_SHARED_CHARS:
        return None
    return shared


def _common_start(a: str, b: str) -> str:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return a[:n]


def warm_request(
    templates: Sequence[PromptTemplate], draft: Draft, retrieve: Retriever | None, options: dict[str, Any] | None = None,
    limits: ContextLimits | None = None,
) -> WarmRequest | None:
    """The request that warms the server for `templates` on `draft`: the first one's whole prompt,
    when the others share enough of its start to gain from it too (None otherwise). Its context is
    the largest the tasks ask for (each prepared as the task will be, within `limits`): a server
    keeps one context per model, and a smaller one would be reloaded (Ollama) or not reused."""
    prepared = [prepare(t, TaskInput(t.name, draft), retrieve, options=options, limits=limits) for t in templates]
    if not prepared or shared_prefix([p.messages for p in prepared]) is None:
        return None
    num_ctx = max(int(p.options["num_ctx"]) for p in prepared)
    common = {k: v for k, v in prepared[0].options.items() if all(p.options.get(k) == v for p in prepared[1:])}
    return WarmRequest(list(prepared[0].messages), {**common, "num_ctx": num_ctx, "num_predict": 1})
