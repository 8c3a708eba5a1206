"""`scribe ask`: a free-form answer from a model, or a follow-up on any logged conversation."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer

from scribe.cli.common import EngineOpt, HostOpt, JsonOpt, _client, _echo, _print_json, _stderr, _summary, _workspace, _writer, app
from scribe.errors import ScribeError


@app.command()
def ask(
    prompt: Annotated[str, typer.Argument(help="What to ask the model (with -c/--cid/--run: the follow-up).")],
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model name (default from config; a follow-up: the conversation's).", show_default=False)] = None,
    system: Annotated[Optional[str], typer.Option(help="A system message (a new conversation only).", show_default=False)] = None,
    temperature: Annotated[Optional[float], typer.Option(help="Sampling temperature.", show_default=False)] = None,
    seed: Annotated[Optional[int], typer.Option(help="Sampling seed, for repeatable output.", show_default=False)] = None,
    num_predict: Annotated[Optional[int], typer.Option(help="Most tokens to generate (default 256; a follow-up: the conversation's).", show_default=False)] = None,
    cont: Annotated[bool, typer.Option("--continue", "-c", help="Follow up on the latest conversation (any task's result, or an ask).")] = False,
    cid: Annotated[Optional[str], typer.Option("--cid", help="Follow up on this conversation (its id, or the start of it).", show_default=False)] = None,
    from_turn: Annotated[Optional[int], typer.Option("--from-turn", help="With -c or --cid: fork a new conversation after this turn; the original stays as it was.", show_default=False)] = None,
    run: Annotated[Optional[int], typer.Option("--run", help="Follow up on this run (an id from `scribe log`), forking if it is not its conversation's last turn.", show_default=False)] = None,
    as_json: JsonOpt = False,
    host: HostOpt = None,
    engine: EngineOpt = None,
) -> None:
    """Stream a free-form answer from a model, logged in the run log like every call.

    Every answer, and every task's result, starts a conversation: `scribe ask -c "shorter"` follows
    up on the latest one, with the earlier turns (the task's prompt, draft and sources included) as
    history; `--cid ID` picks one, `--from-turn N` forks after turn N. `scribe log conversations` lists them.
    """
    from dataclasses import asdict

    from scribe.runlog import RunLog

    if from_turn is not None and not (cont or cid):
        raise ScribeError("--from-turn forks a conversation: give it with -c or --cid ID")
    if sum((cont, cid is not None, run is not None)) > 1:
        raise ScribeError("give one of -c, --cid and --run: each names the conversation to follow up on")
    following = cont or cid is not None or run is not None
    if following and system is not None:
        raise ScribeError("--system starts a conversation; a follow-up keeps the conversation's own")
    ws = _workspace()
    client = _client(ws, host, engine)
    options: dict[str, Any] = {k: v for k, v in (("num_predict", num_predict), ("temperature", temperature), ("seed", seed)) if v is not None}
    echo = None if as_json else _echo(sys.stdout)
    with RunLog(ws.ensure_state_dir() / "runs.sqlite") as runlog:
        if following:
            run_id, result = _follow_up(client, runlog, prompt, cont=cont, cid=cid, run=run, from_turn=from_turn,
                                        model=model, options=options, max_num_ctx=ws.settings.max_num_ctx, echo=echo)
        else:
            run_id, result = _ask(client, runlog, prompt, model=model or _writer(ws, client), system=system,
                                  options={"num_predict": 256, **options}, echo=echo)
        logged = runlog.get(run_id)
    assert logged is not None
    if as_json:
        _print_json({"run_id": run_id, "conversation_id": logged.conversation_id, "turn": logged.turn,
                     "model": result.model, "host": result.host, "status": result.status,
                     "error": result.error, "text": result.text, **asdict(result.log_values())})
    else:
        print()
        _stderr(f"[dim]{_summary(run_id, result, logged)}[/dim]")
    if result.status != "ok":
        raise ScribeError(f"run {run_id} {result.status}: {result.error} (partial output kept in the run log)")


def _ask(client: Any, runlog: Any, prompt: str, *, model: str, system: str | None, options: dict[str, Any],
         echo: Callable[[str], None] | None) -> tuple[int, Any]:
    from scribe.calls import run_call
    from scribe.loops import prose_loop
    from scribe.runlog import CallRequest
    from scribe.runmeta import RunMeta

    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    request = CallRequest(task="ask", model=model, messages=messages, options=options, meta=RunMeta(via="cli"))
    return run_call(client, runlog, request, on_token=echo, stop_when=prose_loop)


def _follow_up(client: Any, runlog: Any, text: str, *, cont: bool, cid: str | None, run: int | None,
               from_turn: int | None, model: str | None, options: dict[str, Any], max_num_ctx: int,
               echo: Callable[[str], None] | None) -> tuple[int, Any]:
    """A follow-up on the conversation that -c (the latest), --cid or --run names."""
    from scribe import conversations
    from scribe.runmeta import RunMeta

    target: str | int | None = run if run is not None else cid
    if cont:
        target = conversations.latest(runlog)
        if target is None:
            raise ScribeError("no conversation to continue yet; ask something first (scribe ask \"...\") or run a task")
    assert target is not None
    return conversations.follow_up(client, runlog, target, text, from_turn=from_turn, model=model, options=options or None,
                                   meta=RunMeta(via="cli"), max_num_ctx=max_num_ctx, on_token=echo)
