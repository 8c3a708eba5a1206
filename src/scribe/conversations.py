"""Conversations: any logged result can be continued with a follow-up, and forked from an earlier turn.

Every call the run log records is turn 1 of a conversation of its own (`RunLog.start` gives it a
12-hex-digit id), so any result (outline, critique, expand, ask, rewrite, a template) can be
continued. A follow-up is a new run with the same conversation id, the next turn number and
`parent_run_id` naming the run it follows; a fork is a follow-up on an earlier turn: a new
conversation id whose first row names the original's turn as its parent, so the original is left
untouched. A conversation's turns are therefore the chain of parents from its last run: a fork's
turns are the original's turns 1..n followed by its own.

What is stored (migration 5). Each run keeps, as JSON in `turn_messages`, the messages *it added*
to its conversation: a first turn its whole prompt (system and user messages with the draft and
the sources), a follow-up its one user message. The history is rebuilt from the chain, so storage
grows with the turns, not with their square, and nothing is parsed out of `input_text` (which
still records the whole prompt each call sent, as `scribe log show` prints it). A run logged
before migration 5 is turn 1 of a conversation of its own, with no `turn_messages`: its logged
prompt is sent as one user message (the roles were not kept, so none is guessed).

The history a follow-up sends (`history`, pure): turn 1's messages, its answer as the assistant,
then each later turn's user text and answer, then the new text. An answer is the model's output as
logged (an outline's or a critique's JSON as it wrote it). A turn cut off by Esc (status
"cancelled"), an error ("failed") or a crash (left "running") keeps its partial text as the
assistant's message, and the next user message starts with `CUT_OFF_NOTE`, so the model knows it
did not finish; the chat roles still alternate, as chat templates require.

How a follow-up runs (`follow_up`): through `calls.run_call`, so it is logged like every call, as
task "followup" (a critique's follow-up is free text, and nothing that reads critique runs, such as
`scribe review` or a bench report, should read it as one); it renders no template, so it has no
`prompt_name`, and its meta keeps the first turn's draft, draft hash and section, so it is listed
with that draft.
It uses the previous turn's model and options (the first turn's, unless a follow-up changed them)
unless `model` or `options` are given; its num_ctx grows with the history as a task's does (kept
while the history fits, never past the model's length or `max_num_ctx`), and a history that fits
no window is refused with the count. It never sends a `format`: outline and critique answer in
a JSON schema, but a follow-up ("why is this one high severity?") is answered in words. The
request's sources are the first turn's, since the prompt still holds them.

Public API (the CLI and the TUI use only this):

    follow_up(server, runlog, target, text, *, from_turn=None, model=None, options=None,
              meta=None, max_num_ctx=DEFAULT_MAX_NUM_CTX, on_token=None, cancel=None) -> tuple[int, CallResult]
        target: a conversation id (or a unique prefix of one) to continue from its last turn, or
        from `from_turn` (a fork when earlier than the last); or a run id (int) to continue after
        that run (a fork when it is not its conversation's last turn). Returns the new run's id and result;
        `runlog.get(run_id).conversation_id` is the conversation it joined (a new one on a fork).
    turns(runlog, conversation_id) -> list[Turn]           the whole history, turn 1 first
    conversations(runlog, draft=None, limit=50) -> list[ConversationSummary]
        newest activity first; `draft` is a workspace-relative path (RunMeta.draft); bench items,
        warm-ups and judge calls are not listed (they can still be continued by id)
    latest(runlog, draft=None) -> str | None               the conversation with the newest turn
    resolve(runlog, id_or_prefix) -> str                    a full conversation id, or ScribeError
    history(exchanges, text) -> list[dict[str, str]]        the pure builder (Exchange per turn)

Errors are `ScribeError`s with one-line messages: an unknown or ambiguous id, no conversation yet,
a fork turn out of range, an empty follow-up.
"""

from __future__ import annotations

import string
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from scribe.calls import run_call
from scribe.config import DEFAULT_MAX_NUM_CTX
from scribe.errors import ScribeError
from scribe.grounding import choose_num_ctx, context_needed
from scribe.loops import LOOPING, before_loop, prose_loop
from scribe.models import CallResult, Message, ModelServer, OnToken
from scribe.runlog import CallRequest, FollowUp, RunLog, RunRecord, new_conversation_id
from scribe.runmeta import RunMeta
from scribe.tasks import DEFAULT_NUM_PREDICT, context_limits
from scribe.tokens import count_tokens

FOLLOW_UP_TASK = "followup"
CUT_OFF_NOTE = "(Your previous answer was cut off before it was finished.)"
FINISHED = "ok"
FIRST_WORDS = 12


@dataclass(frozen=True)
class Exchange:
    """One turn as the history needs it: the messages it added, the model's answer, and whether the
    answer was cut off (cancelled, failed, or left running by a crash)."""

    messages: tuple[Message, ...]
    answer: str
    cut_off: bool


@dataclass(frozen=True)
class Turn:
    """One turn of a conversation, as the CLI and the app show it."""

    run_id: int
    conversation_id: str  # the conversation whose row this is: a fork's inherited turns keep the original's
    turn: int
    task: str  # the run's task: a follow-up's is "followup"
    model: str
    status: str  # "ok", "failed", "cancelled" or "running"
    asked: str  # the author's words (a follow-up, or a free-form ask), else the task's name
    output_text: str
    cut_off: bool
    started_at: str


@dataclass(frozen=True)
class ConversationSummary:
    """A conversation in a list: what it began as, where it stands, where it came from."""

    id: str
    task: str  # the first turn's task
    model: str  # the newest turn's model
    draft_path: str | None  # workspace-relative (RunMeta.draft)
    turns: int  # the newest turn's number (a fork counts the turns it inherited)
    started_at: str  # the first turn's start
    last_at: str  # the newest turn's start
    first_words: str  # the start of what the author first wrote in it (a fork: in its own turns), else of the first answer
    forked_from: tuple[str, int] | None  # (conversation id, turn) a fork continues from


def exchange_of(run: RunRecord) -> Exchange:
    """A logged run as a turn of the history. A run logged before conversations kept no roles: its
    logged prompt is sent as one user message rather than guessed apart. An answer stopped for
    repeating itself is sent up to its loop, which the model would otherwise take up again."""
    messages = run.turn_messages or [{"role": "user", "content": run.input_text}]
    answer = before_loop(run.output_text) if run.done_reason == LOOPING else run.output_text
    return Exchange(tuple(messages), answer, run.status != FINISHED)


def history(exchanges: Sequence[Exchange], text: str) -> list[Message]:
    """The chat a follow-up sends: each turn's messages and its answer, then `text`. The user
    message after a cut-off answer starts with `CUT_OFF_NOTE`."""
    messages: list[Message] = []
    note = False
    for exchange in exchanges:
        for message in exchange.messages:
            messages.append(_noted(message, note))
            note = note and message["role"] != "user"
        messages.append({"role": "assistant", "content": exchange.answer})
        note = exchange.cut_off
    messages.append(_noted({"role": "user", "content": text}, note))
    return messages


def _noted(message: Message, note: bool) -> Message:
    if not note or message["role"] != "user":
        return dict(message)
    return {**message, "content": f"{CUT_OFF_NOTE}\n\n{message['content']}"}


def turn_of(run: RunRecord) -> Turn:
    return Turn(
        run_id=run.id, conversation_id=run.conversation_id or "", turn=run.turn or 1, task=run.task,
        model=run.model, status=run.status, asked=_asked(run), output_text=run.output_text,
        cut_off=run.status != FINISHED, started_at=run.started_at,
    )


def _asked(run: RunRecord) -> str:
    """The author's words for a turn: a follow-up's text or a free-form ask's question; a template's
    prompt is scribe's, so such a turn is named by its task."""
    if run.parent_run_id is None and run.prompt_name is not None:
        return run.task
    users = [m["content"] for m in run.turn_messages or () if m["role"] == "user"]
    return users[-1] if users else run.task


def resolve(runlog: RunLog, id_or_prefix: str) -> str:
    """The conversation id that `id_or_prefix` names (the whole id or a unique start of it)."""
    prefix = id_or_prefix.strip().lower()
    if not prefix or any(c not in string.hexdigits for c in prefix):
        raise ScribeError(f"{id_or_prefix!r} is not a conversation id (hex digits); list them with: scribe log conversations")
    found = runlog.conversation_ids(prefix)
    if not found:
        raise ScribeError(f"no conversation {prefix} in the run log; list them with: scribe log conversations")
    if len(found) > 1:
        raise ScribeError(f"{prefix} starts more than one conversation id; give more of it (scribe log conversations)")
    return found[0]


def turns(runlog: RunLog, conversation_id: str) -> list[Turn]:
    """The conversation's whole history, turn 1 first: a fork's inherited turns, then its own."""
    last = runlog.last_turn(resolve(runlog, conversation_id))
    assert last is not None  # resolve found a row
    return [turn_of(run) for run in runlog.chain(last.id)]


def conversations(runlog: RunLog, draft: str | None = None, limit: int = 50) -> list[ConversationSummary]:
    """The author's conversations, newest activity first; only those about `draft` when given."""
    return [_summary(runlog.chain(head.id)) for head in runlog.conversation_heads(draft=draft, limit=limit)]


def latest(runlog: RunLog, draft: str | None = None) -> str | None:
    """The conversation with the newest turn (about `draft` when given), or None."""
    heads = runlog.conversation_heads(draft=draft, limit=1)
    return heads[0].conversation_id if heads else None


def _summary(chain: Sequence[RunRecord]) -> ConversationSummary:
    first, last = chain[0], chain[-1]
    own = [run for run in chain if run.conversation_id == last.conversation_id]
    parent = next((run for run in chain if run.id == own[0].parent_run_id), None)
    # A fork is told apart by what the author asked in it, not by the turns it shares.
    authored = [turn.asked for turn in map(turn_of, [*own, *chain]) if turn.asked != turn.task]
    words = (authored[0] if authored else first.output_text).split()
    return ConversationSummary(
        id=last.conversation_id or "", task=first.task, model=last.model, draft_path=last.meta.draft,
        turns=last.turn or len(chain), started_at=first.started_at, last_at=last.started_at,
        first_words=" ".join(words[:FIRST_WORDS]) + (" …" if len(words) > FIRST_WORDS else ""),
        forked_from=(parent.conversation_id or "", parent.turn or 1) if parent is not None else None,
    )


def follow_up_messages(chain: Sequence[RunRecord], text: str) -> list[Message]:
    """What a follow-up sends after `chain` (`RunLog.chain` of the run it follows): the earlier turns
    as chat history, then `text`. The app sizes its prompt from this before it sends it."""
    return history([exchange_of(run) for run in chain], text)


def follow_up(
    server: ModelServer,
    runlog: RunLog,
    target: str | int,
    text: str,
    *,
    from_turn: int | None = None,
    model: str | None = None,
    options: dict[str, Any] | None = None,
    meta: RunMeta | Mapping[str, Any] | None = None,
    max_num_ctx: int = DEFAULT_MAX_NUM_CTX,
    on_token: OnToken | None = None,
    cancel: threading.Event | None = None,
) -> tuple[int, CallResult]:
    """Ask `text` after a conversation's last turn (`target` a conversation id), after its turn
    `from_turn`, or after run `target` (an int); after any turn but the last this forks a new
    conversation. `options` override the previous turn's (a num_ctx given is kept as given);
    `max_num_ctx` is the workspace's cap on the window. Streams and logs like every call; returns
    the new run's id and its result."""
    if not text.strip():
        raise ScribeError("a follow-up needs some text: say what to change, or ask about the answer")
    parent = _parent(runlog, target, from_turn)
    chain = runlog.chain(parent.id)
    last = runlog.last_turn(parent.conversation_id or "")
    continues = last is not None and last.id == parent.id
    first, model = chain[0], model or parent.model
    messages = follow_up_messages(chain, text)
    sized = _sized(server, model, messages, {**parent.options, **(options or {})}, pinned="num_ctx" in (options or {}),
                   max_num_ctx=max_num_ctx, conversation=parent.conversation_id or "")
    given = RunMeta.from_json(meta) if isinstance(meta, Mapping) else meta or RunMeta()
    about = first.meta
    request = CallRequest(
        task=FOLLOW_UP_TASK, model=model, messages=messages, options=sized, sources=first.sources,
        meta=replace(given, draft=about.draft, draft_hash=about.draft_hash, section=about.section, heading=about.heading),
        follows=FollowUp(
            conversation_id=(parent.conversation_id if continues else None) or new_conversation_id(),
            turn=(parent.turn or 1) + 1, parent_run_id=parent.id, text=text,
        ),
    )
    return run_call(server, runlog, request, on_token=on_token, cancel=cancel, stop_when=prose_loop)


def _parent(runlog: RunLog, target: str | int, from_turn: int | None) -> RunRecord:
    """The run a follow-up goes after, given to a conversation (any turn `from_turn` of it) or as a run id."""
    if isinstance(target, int):
        if from_turn is not None:
            raise ScribeError("give a run to continue after, or a conversation and a turn to fork from, not both")
        run = runlog.get(target)
        if run is None:
            raise ScribeError(f"no run {target} in the run log; list runs with: scribe log")
        return run
    conversation = resolve(runlog, target)
    last = runlog.last_turn(conversation)
    assert last is not None
    if from_turn is None:
        return last
    chain = runlog.chain(last.id)
    if not 1 <= from_turn <= len(chain):
        raise ScribeError(
            f"conversation {conversation} has turns 1-{len(chain)}; fork from one of them (--from-turn), not {from_turn}"
        )
    return chain[from_turn - 1]


def _sized(server: ModelServer, model: str, messages: Sequence[Message], options: dict[str, Any], *,
           pinned: bool, max_num_ctx: int, conversation: str) -> dict[str, Any]:
    """`options` with a num_ctx that holds the history and the answer. The previous turn's window
    is kept while the history fits it, so the server reuses its context; past it the window grows
    as a task's does (grounding.choose_num_ctx), up to the model's length and `max_num_ctx`. A
    history that fits no window is refused with the count rather than cut from its start (which
    would silently drop the draft and the task)."""
    num_predict = int(options.get("num_predict") or DEFAULT_NUM_PREDICT)
    needed = context_needed(sum(count_tokens(m["content"]) + 4 for m in messages), num_predict)
    current = int(options["num_ctx"]) if options.get("num_ctx") is not None else None
    if current is not None and (pinned or needed <= current):
        num_ctx = current
    else:
        num_ctx = max(current or 0, choose_num_ctx(needed, context_limits(server, model, max_num_ctx)))
    if needed > num_ctx:
        why = "as given" if pinned else "the most the model and max_num_ctx allow"
        raise ScribeError(
            f"conversation {conversation}: the history needs about {needed - num_predict:,} tokens and {num_predict:,} "
            f"are reserved for the answer, {needed - num_ctx:,} more than num_ctx = {num_ctx:,} ({why}); "
            "fork from an earlier turn (--from-turn) or reserve less output (--num-predict)"
        )
    return {**options, "num_ctx": num_ctx}
