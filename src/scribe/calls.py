"""One model call, run and logged: the path every consumer (CLI, TUI, batch, bench) takes."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from scribe.errors import ScribeError
from scribe.models import CallResult, Message, ModelClient, OnToken
from scribe.runlog import RunLog, RunStart


@dataclass
class CallRequest:
    """What to ask which model, and what to record about it."""

    task: str
    model: str
    messages: Sequence[Message]
    options: dict[str, Any] = field(default_factory=dict)
    format: str | dict[str, Any] | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    sources: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def messages_as_text(messages: Sequence[Message]) -> str:
    """The prompt as the run log stores it: each message under its role."""
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)


def run_call(
    client: ModelClient,
    runlog: RunLog,
    request: CallRequest,
    *,
    on_token: OnToken | None = None,
    cancel: threading.Event | None = None,
) -> tuple[int, CallResult]:
    """Stream the call and log it. The row is written first, so even a killed process leaves a trace;
    an interrupted call keeps the text that had arrived, marked cancelled."""
    try:
        digest = client.digest(request.model)
    except ScribeError:
        digest = None
    run_id = runlog.start(
        RunStart(
            task=request.task, model=request.model, host=client.host,
            input_text=messages_as_text(request.messages), options=request.options,
            model_digest=digest, prompt_name=request.prompt_name,
            prompt_version=request.prompt_version, sources=request.sources,
            # the format is part of what was asked: a task's schema is made per input (tasks.task_format)
            meta={**request.meta, "format": request.format} if request.format is not None else request.meta,
        )
    )
    received: list[str] = []

    def collect(piece: str) -> None:
        received.append(piece)
        if on_token is not None:
            on_token(piece)

    try:
        result = client.stream_chat(
            request.model, request.messages, options=request.options or None,
            format=request.format, on_token=collect, cancel=cancel,
        )
    except ScribeError as exc:
        runlog.finish(run_id, {"status": "failed", "error": str(exc), "output_text": "".join(received)})
        raise
    except BaseException:
        runlog.finish(run_id, {"status": "cancelled", "error": "interrupted", "output_text": "".join(received)})
        raise
    runlog.finish(run_id, result.log_values())
    return run_id, result
