"""A fake model server, for tests only: `FakeModelServer` implements `scribe.models.ModelServer` in
this process, so CLI and app tests run scribe's real code paths (retrieval, prompts, JSON schemas,
the run log) in milliseconds and without an engine, the way simonw/llm's tests use MockModel.

It behaves like a small, obedient model: it lists a chat model and an embedding model (with the
context length `context_length`, so tests can size prompts against a small one), pulls the models
named in `pullable` (they are listed from then on) and refuses any other pull, embeds by a
hashed bag of words (texts sharing words are near, so retrieval means something), and answers a
chat with the next scripted `Reply`, or else with a valid instance of the requested JSON `format`
schema (plain text without one), streamed in several chunks and closed with Ollama-like metrics.
It records what it was asked (`chats`, `embeds`), so tests assert on the prompts scribe sent.

The real-engine tests stay: this fake says nothing about models or the `ollama` client.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from scribe.config import WRITERS
from scribe.errors import ModelNotFound, ModelRequestError
from scribe.models import (
    CallMetrics,
    CallResult,
    Message,
    ModelFacts,
    ModelInfo,
    OnToken,
    PullProgress,
    StopWhen,
    pick_writer,
)

SCHEME = "fake"
HOST = "fake://writer"
CHAT_MODEL = "fake-writer:1b"
EMBED_MODEL = "fake-embed"
DIMENSIONS = 256
CHUNKS = 5  # a reply is streamed in this many pieces (fewer if it is shorter)
DEFAULT_TEXT = "The fake model's answer, in a few plain words, streamed in pieces."


@dataclass(frozen=True)
class Reply:
    """One scripted answer. `break_after` chunks: the stream dies (status "failed", as a dropped
    connection). `interrupt_after` chunks: Ctrl-C arrives (KeyboardInterrupt). `delay_s` between
    chunks, during which setting the call's `cancel` ends it at once; `stop_s` later, as a busy
    engine finishes its step first. `refuse`: the server refuses the request (raises
    ModelRequestError). `done_reason="length"`: cut off by num_predict. A reason from the call's
    `stop_when` ends it after that chunk, as the real client does."""

    text: str = DEFAULT_TEXT
    chunks: int = CHUNKS
    delay_s: float = 0.0
    stop_s: float = 0.0
    break_after: int | None = None
    interrupt_after: int | None = None
    refuse: str | None = None
    done_reason: str = "stop"


@dataclass
class ChatRequest:
    """One chat call as the fake received it."""

    model: str
    messages: list[Message]
    options: dict[str, Any] | None
    format: str | dict[str, Any] | None
    keep_alive: str | float | None

    @property
    def prompt(self) -> str:
        """Every message's text, joined: what a test searches for sources and draft text."""
        return "\n".join(m["content"] for m in self.messages)


@dataclass
class FakeModelServer:
    """Implements `scribe.models.ModelServer`; safe to call from the app's worker threads."""

    host: str = HOST
    chat_model: str = CHAT_MODEL
    embed_model: str = EMBED_MODEL
    context_length: int = 32768
    pullable: list[str] = field(default_factory=list)  # names a pull fetches; then listed as chat models
    chats: list[ChatRequest] = field(default_factory=list)
    embeds: list[list[str]] = field(default_factory=list)  # each embed request's texts
    _script: deque[Reply] = field(default_factory=deque, init=False, repr=False)
    _pulled: list[str] = field(default_factory=list, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def script(self, *replies: Reply | str) -> None:
        """Queue answers for the next chat calls, in order; after them, the default answers."""
        with self._lock:
            self._script.extend(r if isinstance(r, Reply) else Reply(r) for r in replies)

    # -- the ModelServer protocol --------------------------------------------------------------

    def version(self) -> str:
        return "0.0.0-fake"

    def list_models(self) -> list[ModelInfo]:
        with self._lock:
            pulled = list(self._pulled)
        return [
            ModelInfo(self.chat_model, 1_000_000, _digest(self.chat_model), "fake", "1B", "F16", None),
            ModelInfo(self.embed_model, 50_000, _digest(self.embed_model), "bert", "22M", "F16", None),
            *(ModelInfo(name, 1_000_000, _digest(name), "fake", "1B", "F16", None) for name in pulled),
        ]

    def show(self, model: str) -> ModelFacts:
        self._check_model(model, chat=False)
        if model == self.embed_model:
            return ModelFacts(model, 512, ("embedding",))
        return ModelFacts(model, self.context_length, ("completion",))

    def pull(self, model: str) -> Iterator[PullProgress]:
        """Ollama's stream for a model it has to fetch: the manifest, one layer in two steps, success."""
        yield PullProgress("pulling manifest")
        if model not in self.pullable and model not in (m.name for m in self.list_models()):
            raise ModelRequestError(f"{self.host} cannot pull '{model}': pull model manifest: file does not exist")
        digest = f"sha256:{_digest(model)}"
        for completed in (400_000, 1_000_000):
            yield PullProgress(f"pulling {digest[7:19]}", digest, 1_000_000, completed)
        with self._lock:
            if model not in self._pulled and model in self.pullable:
                self._pulled.append(model)
        yield PullProgress("verifying sha256 digest")
        yield PullProgress("writing manifest")
        yield PullProgress("success")

    def digest(self, model: str) -> str | None:
        return next((m.digest for m in self.list_models() if m.name == model), None)

    def default_writer(self) -> str:
        return pick_writer(self.list_models(), WRITERS)

    def stream_chat(
        self,
        model: str,
        messages: Sequence[Message],
        *,
        options: dict[str, Any] | None = None,
        format: str | dict[str, Any] | None = None,
        keep_alive: str | float | None = None,
        on_token: OnToken | None = None,
        cancel: threading.Event | None = None,
        stop_when: StopWhen | None = None,
    ) -> CallResult:
        request = ChatRequest(model, [dict(m) for m in messages], options, format, keep_alive)
        with self._lock:
            self.chats.append(request)
        self._check_model(model, chat=True)
        with self._lock:
            reply = self._script.popleft() if self._script else Reply(default_answer(format))
        if reply.refuse:
            raise ModelRequestError(f"{self.host} refused the request: {reply.refuse}")
        return self._stream(request, reply, on_token, cancel, stop_when)

    def embed(self, model: str, texts: Sequence[str], *, batch_size: int = 64) -> list[list[float]]:
        self._check_model(model, chat=False)
        vectors = []
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            with self._lock:
                self.embeds.append(batch)
            vectors += [bag_of_words(text) for text in batch]
        return vectors

    # -- how it answers ------------------------------------------------------------------------

    def _check_model(self, model: str, *, chat: bool) -> None:
        names = [m.name for m in self.list_models()]
        if model not in names:
            raise ModelNotFound(f"model '{model}' is not on {self.host} (it has: {', '.join(names)}); "
                                f"run `scribe pull {model}` or pick one with --model")
        if chat and model == self.embed_model:
            raise ModelRequestError(f"{self.host} refused the request: {model} does not support chat")

    def _stream(self, request: ChatRequest, reply: Reply, on_token: OnToken | None,
                cancel: threading.Event | None, stop_when: StopWhen | None) -> CallResult:
        started = time.perf_counter()
        result = CallResult(text="", model=request.model, host=self.host, metrics=CallMetrics())
        sent: list[str] = []
        for n, piece in enumerate(pieces(reply.text, reply.chunks)):
            if reply.delay_s and cancel is not None:
                cancel.wait(reply.delay_s)
            elif reply.delay_s:
                time.sleep(reply.delay_s)
            if cancel is not None and cancel.is_set():
                time.sleep(reply.stop_s)
                result.status, result.error = "cancelled", "cancelled by the user"
                break
            if n == reply.break_after:
                result.status = "failed"
                result.error = f"stream from {self.host} broke after {n} chunks: the fake dropped the connection"
                break
            if n == reply.interrupt_after:
                raise KeyboardInterrupt
            if result.metrics.ttft_ms is None:
                result.metrics.ttft_ms = (time.perf_counter() - started) * 1000
            sent.append(piece)
            result.chunks += 1
            if on_token is not None:
                on_token(piece)
            reason = stop_when("".join(sent)) if stop_when is not None else None
            if reason is not None:
                result.metrics.done_reason = reason
                break
        else:
            _final_metrics(result.metrics, request, len(sent), reply.done_reason)
        result.text = "".join(sent)
        result.metrics.wall_ms = (time.perf_counter() - started) * 1000
        return result


def _final_metrics(metrics: CallMetrics, request: ChatRequest, chunks: int, done_reason: str) -> None:
    """What Ollama's final chunk carries: counts, and durations in nanoseconds (fixed rates here:
    10,000 prompt tokens/s, 100 generated tokens/s, so rates in the run log are predictable)."""
    prompt_tokens = len(request.prompt.split())
    metrics.done_reason = done_reason
    metrics.prompt_eval_count = prompt_tokens
    metrics.prompt_eval_duration_ns = prompt_tokens * 100_000
    metrics.eval_count = chunks
    metrics.eval_duration_ns = chunks * 10_000_000
    metrics.load_duration_ns = 1_000_000
    metrics.total_duration_ns = metrics.load_duration_ns + metrics.prompt_eval_duration_ns + metrics.eval_duration_ns


def pieces(text: str, chunks: int) -> list[str]:
    """`text` cut into at most `chunks` consecutive pieces that join back to it."""
    size = max(1, math.ceil(len(text) / max(1, chunks)))
    return [text[i : i + size] for i in range(0, len(text), size)]


def bag_of_words(text: str) -> list[float]:
    """A unit vector of hashed word counts: deterministic across processes, and texts sharing words
    point the same way, so the nearest chunks to a query are the ones that use its words."""
    vector = [0.0] * DIMENSIONS
    for word in re.findall(r"\w+", text.lower()):
        slot = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big") % DIMENSIONS
        vector[slot] += 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector] if any(vector) else [1.0] + [0.0] * (DIMENSIONS - 1)


def default_answer(format: str | dict[str, Any] | None) -> str:
    """What the fake says when nothing is scripted: plain text, any JSON object for `"json"`, or a
    valid instance of a JSON schema (checked here, so a fake answer never breaks the schema)."""
    if format is None:
        return DEFAULT_TEXT
    if not isinstance(format, dict):
        return json.dumps({"answer": DEFAULT_TEXT})
    value = instance(format, "answer", 0)
    jsonschema.validate(value, format)
    return json.dumps(value)


def instance(schema: dict[str, Any], name: str, position: int) -> Any:
    """A value for `schema`, the `position`-th of its array: enums rotate (so a critique's issues
    quote different sentences), arrays take at least two items when allowed, and a string under a
    `pattern` cites source [1] when the pattern lets it."""
    if "enum" in schema:
        return schema["enum"][position % len(schema["enum"])]
    kind = schema.get("type")
    if kind == "object":
        return {key: instance(sub, key, position) for key, sub in schema.get("properties", {}).items()}
    if kind == "array":
        least = schema.get("minItems", 0)
        count = min(max(least, 2), schema.get("maxItems", max(least, 2)))
        return [instance(schema.get("items", {}), name, i) for i in range(count)]
    if kind in ("integer", "number"):
        return position + 1
    if kind == "boolean":
        return position % 2 == 0
    text = f"{name} {position + 1} from the fake"
    pattern = schema.get("pattern")
    if pattern is None:
        return text
    return next(t for t in (f"{text} [1]", text) if re.search(pattern, t))


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()
