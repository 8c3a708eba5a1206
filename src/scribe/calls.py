"""One model call, run and logged: the path every consumer (CLI, TUI, batch, bench) takes."""

from __future__ import annotations

import threading

from scribe.errors import ScribeError
from scribe.models import CallResult, ModelServer, OnToken, StopWhen
from scribe.runlog import CallRequest, RunLog, RunOutcome


def run_call(
    client: ModelServer,
    runlog: RunLog,
    request: CallRequest,
    *,
    on_token: OnToken | None = None,
    cancel: threading.Event | None = None,
    stop_when: StopWhen | None = None,
) -> tuple[int, CallResult]:
    """Stream the call and log it. The row is written first, so even a killed process leaves a trace;
    an interrupted call keeps the text that had arrived, marked cancelled."""
    try:
        digest = client.digest(request.model)
    except ScribeError:
        digest = None
    run_id = runlog.start(request, host=client.host, model_digest=digest)
    received: list[str] = []

    def collect(piece: str) -> None:
        received.append(piece)
        if on_token is not None:
            on_token(piece)

    try:
        result = client.stream_chat(
            request.model, request.messages, options=request.options or None,
            format=request.format, on_token=collect, cancel=cancel, stop_when=stop_when,
        )
    except ScribeError as exc:
        runlog.finish(run_id, RunOutcome(status="failed", error=str(exc), output_text="".join(received)))
        raise
    except BaseException:
        runlog.finish(run_id, RunOutcome(status="cancelled", error="interrupted", output_text="".join(received)))
        raise
    runlog.finish(run_id, result.log_values())
    return run_id, result
