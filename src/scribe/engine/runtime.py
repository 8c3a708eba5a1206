"""llama.cpp behind the engine: loading and unloading models, one request at a time per model,
each model's turn format, sampling with Ollama's options, grammars for `format`, and real timings.

A `Llama` object is not safe to use from two threads, so every model has a lock and requests
queue on it. Generation is a Python generator: when the HTTP client goes away the server closes
the generator, which releases the lock and stops decoding at once.
"""

from __future__ import annotations

import codecs
import json
import os
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from scribe.engine.cancel import AbortSwitch, Cancelled
from scribe.engine.catalog import Catalog, CatalogEntry
from scribe.engine.templates import END_OF_TURN, ChatFormat, render

DEFAULT_NUM_CTX = 4096
# The largest context the engine allocates, whatever a model was trained on: memory, not the model,
# is the limit on a laptop (a 32k context costs the 1.5B writer under 1 GB of KV cache).
MAX_NUM_CTX = int(os.environ.get("SCRIBE_ENGINE_MAX_CTX") or 32768)
DEFAULT_KEEP_ALIVE_S = 300.0
EMBED_CTX = 1024


class RequestError(ValueError):
    """A request the engine cannot serve as asked (HTTP 400)."""


class UnknownModel(LookupError):
    """No model by that name (HTTP 404)."""


@dataclass
class SamplingOptions:
    """The Ollama options the engine honours; anything else in `options` is accepted and ignored."""

    temperature: float = 0.8
    top_p: float = 0.9
    top_k: int = 40
    min_p: float = 0.0
    repeat_penalty: float = 1.1
    seed: int | None = None
    num_predict: int = -1
    num_ctx: int = DEFAULT_NUM_CTX
    stop: list[str] = field(default_factory=list)

    @classmethod
    def from_request(cls, options: dict[str, Any] | None, defaults: dict[str, Any]) -> SamplingOptions:
        merged = {**defaults, **(options or {})}
        known = {k: v for k, v in merged.items() if k in cls.__dataclass_fields__ and v is not None}
        try:
            opts = cls(**known)
            opts.temperature, opts.top_p = float(opts.temperature), float(opts.top_p)
            opts.min_p, opts.repeat_penalty = float(opts.min_p), float(opts.repeat_penalty)
            opts.top_k, opts.num_predict, opts.num_ctx = int(opts.top_k), int(opts.num_predict), int(opts.num_ctx)
            opts.seed = None if opts.seed is None else int(opts.seed) & 0xFFFFFFFF  # llama.cpp takes 32 bits
        except (TypeError, ValueError) as exc:
            raise RequestError(f"invalid options: {exc}") from exc
        if isinstance(opts.stop, str):
            opts.stop = [opts.stop]
        if not isinstance(opts.stop, list) or not all(isinstance(s, str) for s in opts.stop):
            raise RequestError("invalid options: stop must be a string or a list of strings")
        if opts.num_ctx < 64:
            raise RequestError("invalid options: num_ctx must be at least 64")
        return opts


def parse_keep_alive(value: Any) -> float:
    """Ollama's keep_alive: seconds as a number, or a duration like "5m", "1h30m", "-1"; negative means forever."""
    if value is None or value == "":
        return DEFAULT_KEEP_ALIVE_S
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = re.findall(r"(-?\d+(?:\.\d+)?)(ms|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise RequestError(f"invalid keep_alive duration: {value!r}")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * scale[u] for n, u in parts)


@dataclass
class Done:
    """The last event of a generation, with Ollama's metrics in nanoseconds."""

    done_reason: str
    load_duration: int
    prompt_eval_count: int
    prompt_eval_duration: int
    eval_count: int
    eval_duration: int
    context: list[int]
    tail: str = ""  # text held back for a stop string that never completed; sent with the final chunk


@dataclass
class Loaded:
    """A model in memory: its chat context and/or its embedding context, and when it expires."""

    entry: CatalogEntry
    llm: Any
    n_ctx: int
    expires_at: float
    embedder: Any = None
    switch: AbortSwitch | None = None  # interrupts the chat context's llama_decode
    embed_switch: AbortSwitch | None = None


def default_threads(cores: int | None = None) -> tuple[int, int]:
    """Threads for llama.cpp as (decoding, prompt evaluation): all cores but one, and all cores.

    llama.cpp's threads spin at every barrier of the compute graph; when another process takes a
    core from one of them the others wait. Decoding (a barrier every few microseconds) collapses:
    on 2 cores beside one busy process, 2 threads decoded at 8.9 tok/s and 1 thread at 22.4.
    Prompt evaluation (large batches) does not: 2 threads were as fast as 1 under load and twice as
    fast on a quiet machine (benchmarks/engine_bench.py threads).
    """
    cores = cores or os.cpu_count() or 1
    return max(1, cores - 1), cores


class Runtime:
    """Models in memory, the queue in front of each, and the counters behind `/scribe/stats`."""

    def __init__(self, catalog: Catalog, *, n_threads: int | None = None, n_threads_batch: int | None = None) -> None:
        self.catalog = catalog
        decode, prompt = default_threads()
        self.n_threads = n_threads or decode
        self.n_threads_batch = n_threads_batch or n_threads or prompt
        self._loaded: dict[str, Loaded] = {}
        self._locks: dict[str, threading.Lock] = {name: threading.Lock() for name in catalog.names()}
        self._embed_locks: dict[str, threading.Lock] = {name: threading.Lock() for name in catalog.names()}
        self._stats_lock = threading.Lock()
        self.stats: dict[str, int] = {
            "chat_requests": 0, "generate_requests": 0, "embed_requests": 0, "embed_inputs": 0,
            "tokens_generated": 0, "prompt_tokens_cached": 0, "cancelled_streams": 0, "cancelled_requests": 0, "loads": 0, "unloads": 0,
            # nanoseconds spent loading, generating or embedding: a host's model time, for batch_bench
            "busy_ns": 0,
        }

    def count(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] = self.stats.get(key, 0) + n

    def entry(self, name: str) -> CatalogEntry:
        entry = self.catalog.get(name)
        if entry is None:
            missing = self.catalog.missing(name)
            if missing is not None:
                raise UnknownModel(missing.missing_message())
            raise UnknownModel(f'model "{name}" not found, try pulling it first')
        return entry

    @staticmethod
    def context_size(entry: CatalogEntry, asked: int) -> int:
        """`num_ctx` clamped to the model's trained length and the engine's cap, as Ollama clamps."""
        return max(64, min(asked, entry.context_length or asked, MAX_NUM_CTX))

    def chat_entry(self, name: str) -> CatalogEntry:
        """The model for a chat or generate request; an embedding model cannot answer one (as Ollama)."""
        entry = self.entry(name)
        if entry.embeds_only:
            raise RequestError(f'"{name}" does not support chat; it is an embedding model (use /api/embed)')
        return entry

    # -- loading -------------------------------------------------------------------------------

    def _ensure_loaded(self, entry: CatalogEntry, n_ctx: int) -> Loaded:
        """The chat context under the model's lock: the loaded one if it is at least `n_ctx` tokens,
        else one of `n_ctx` in its place.

        One context per model bounds memory (at most MAX_NUM_CTX tokens of KV cache per model), and
        a smaller ask shares the bigger context: each request still sees only its own window
        (`_fit_context`, `room` in `_decode`), and its prefix cache. Reloading for every size, as
        Ollama does, read the 1.5B writer's 1.1 GB again each time outline (8,192) and expand (4,096)
        alternated, and threw the cached prefix away.
        """
        loaded = self._record(entry)
        if loaded.llm is not None and loaded.n_ctx >= n_ctx:
            return loaded
        if loaded.llm is not None:
            loaded.llm.close()
            loaded.llm = None
        try:
            loaded.llm = self._new_context(entry, n_ctx)
        except ValueError as exc:  # llama.cpp could not allocate it; the next request loads afresh
            raise RequestError(
                f"cannot allocate a {n_ctx}-token context for {entry.name} ({exc}); ask for a smaller num_ctx"
            ) from exc
        loaded.switch = AbortSwitch(loaded.llm._ctx.ctx)
        loaded.n_ctx = n_ctx
        self.count("loads")
        return loaded

    def _new_context(self, entry: CatalogEntry, n_ctx: int) -> Any:
        """A model with a chat context of `n_ctx` tokens.

        Read, not mmap'd: llama.cpp repacks the quantized weights for the CPU into memory of its own,
        and a mapping kept the file's pages resident beside that copy (the 1.5B writer: 1.95 GB RSS
        mapped, 1.36 GB read).
        """
        from llama_cpp import Llama

        return Llama(
            model_path=str(entry.path),
            n_ctx=n_ctx,
            n_batch=min(512, n_ctx),
            n_threads=self.n_threads,
            n_threads_batch=self.n_threads_batch,  # llama-cpp-python would use every core for prompt batches
            use_mmap=False,
            seed=random.randint(0, 2**31 - 1),
            verbose=False,
        )

    def _ensure_embedder(self, entry: CatalogEntry) -> Loaded:
        """A separate llama.cpp context in embedding mode (mean pooling); chat and embedding requests
        need different context settings, and an index run should not pay for a chat context."""
        loaded = self._record(entry)
        if loaded.embedder is None:
            import llama_cpp

            # Inputs are cut to the context, which must not pass the model's trained length
            # (a 1,024-token context on 512-position MiniLM crashed llama.cpp).
            n_ctx = min(EMBED_CTX, entry.context_length or EMBED_CTX)
            loaded.embedder = llama_cpp.Llama(
                model_path=str(entry.path),
                embedding=True,
                pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
                n_ctx=n_ctx,
                n_batch=n_ctx,
                n_ubatch=n_ctx,
                n_threads=self.n_threads_batch,  # an embedding is one batch, never token-by-token decoding
                n_threads_batch=self.n_threads_batch,
                flash_attn=entry.embeds_only,  # all-MiniLM: 464 tokens in 122 ms instead of 242 (one thread)
                verbose=False,
            )
            loaded.embed_switch = AbortSwitch(loaded.embedder._ctx.ctx)
            self.count("loads")
        return loaded

    def _record(self, entry: CatalogEntry) -> Loaded:
        if entry.name not in self._loaded:
            self._loaded[entry.name] = Loaded(entry, None, 0, time.monotonic() + DEFAULT_KEEP_ALIVE_S)
        return self._loaded[entry.name]

    def _touch(self, name: str, keep_alive_s: float) -> None:
        loaded = self._loaded.get(name)
        if loaded is None:
            return
        if keep_alive_s == 0:
            self._unload(name)
        else:
            loaded.expires_at = float("inf") if keep_alive_s < 0 else time.monotonic() + keep_alive_s

    def _unload(self, name: str) -> None:
        loaded = self._loaded.pop(name, None)
        if loaded is not None:
            if loaded.llm is not None:
                loaded.llm.close()
            if loaded.embedder is not None:
                loaded.embedder.close()
            self.count("unloads")

    def reap_expired(self) -> None:
        """Unload models whose keep_alive ran out, skipping any that is busy."""
        now = time.monotonic()
        for name, loaded in list(self._loaded.items()):
            if loaded.expires_at > now:
                continue
            lock, embed_lock = self._locks[name], self._embed_locks[name]
            if lock.acquire(blocking=False):
                try:
                    if embed_lock.acquire(blocking=False):
                        try:
                            self._unload(name)
                        finally:
                            embed_lock.release()
                finally:
                    lock.release()

    def running(self) -> list[tuple[CatalogEntry, float, int]]:
        """Loaded models with their expiry as seconds from now (inf for never) and chat context size."""
        now = time.monotonic()
        return [(l.entry, l.expires_at - now, l.n_ctx) for l in self._loaded.values()]

    def load_only(self, name: str, num_ctx: int, keep_alive: Any) -> int:
        """Ollama's empty-prompt request: load (or with keep_alive 0, unload). Returns load time in ns."""
        keep = parse_keep_alive(keep_alive)
        entry = self.entry(name) if keep == 0 else self.chat_entry(name)
        started = time.perf_counter_ns()
        with self._locks[entry.name]:
            if keep == 0:
                self._unload(entry.name)
            else:
                self._ensure_loaded(entry, self.context_size(entry, num_ctx))
                self._touch(entry.name, keep)
        return time.perf_counter_ns() - started

    # -- prompts -------------------------------------------------------------------------------

    def chat_tokens(self, llm: Any, entry: CatalogEntry, messages: list[dict[str, Any]]) -> list[int]:
        """Token ids for a conversation in the model's own turn format, ending where its reply begins.

        Turn markers are tokenized as special tokens and message text as plain text, so a turn
        marker written inside a note cannot open a turn of its own.
        """
        segments = render(entry.chat_format, messages, default_system=entry.default_system)
        tokens = llm.tokenize(b"", add_bos=True, special=True)  # the BOS token, if this vocabulary wants one
        for text, special in segments:
            tokens += llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)
        return tokens

    def raw_tokens(self, llm: Any, prompt: str) -> list[int]:
        return llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)

    # -- generation ----------------------------------------------------------------------------

    def generate(
        self,
        name: str,
        *,
        messages: list[dict[str, Any]] | None = None,
        raw_prompt: str | None = None,
        options: dict[str, Any] | None = None,
        format: Any = None,
        keep_alive: Any = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[str | Done]:
        """Yield one text piece per generated token (possibly empty while a stop string or a
        multi-byte character is pending), then a `Done` with the metrics. Raises `Cancelled`
        soon after `cancel` is set, during prompt evaluation too."""
        entry = self.chat_entry(name)
        opts = SamplingOptions.from_request(options, entry.defaults)
        opts.num_ctx = self.context_size(entry, opts.num_ctx)
        keep = parse_keep_alive(keep_alive)
        grammar = _grammar(format)
        with self._locks[entry.name]:
            load_started = time.perf_counter_ns()
            loaded = self._ensure_loaded(entry, opts.num_ctx)
            load_ns = time.perf_counter_ns() - load_started
            llm = loaded.llm
            try:
                if raw_prompt is not None:
                    prompt = self.raw_tokens(llm, raw_prompt)
                else:
                    prompt = self.chat_tokens(llm, entry, messages or [])
                prompt = _fit_context(prompt, opts.num_ctx)
                yield from self._decode(loaded, prompt, opts, grammar, load_ns, entry.chat_format, cancel)
            finally:
                self._touch(entry.name, keep)
                self.count("busy_ns", time.perf_counter_ns() - load_started)

    def _decode(
        self, loaded: Loaded, prompt: list[int], opts: SamplingOptions, grammar: Any, load_ns: int, fmt: ChatFormat,
        cancel: threading.Event | None,
    ) -> Iterator[str | Done]:
        llm, switch = loaded.llm, loaded.switch
        assert switch is not None
        llm.set_seed(opts.seed if opts.seed is not None else random.randint(0, 2**31 - 1))
        stop_ids = {llm.token_eos(), *_end_of_turn_ids(llm, fmt)}
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        text, emitted = "", 0
        generated: list[int] = []
        room = opts.num_ctx - len(prompt)
        limit = room if opts.num_predict < 0 else min(opts.num_predict, room)
        reason = "length"
        started = time.perf_counter_ns()
        first_token_at: int | None = None
        if limit <= 0:
            yield Done("length", load_ns, len(prompt), 0, 0, 0, list(prompt))
            return
        from scribe.engine.sampling import generate

        self.count("prompt_tokens_cached", _cached_prefix(llm, prompt))
        tokens = generate(
            llm, prompt, grammar, top_k=opts.top_k, top_p=opts.top_p, min_p=opts.min_p, temp=opts.temperature,
            repeat_penalty=opts.repeat_penalty,
        )
        switch.arm(cancel)  # the prompt is evaluated inside the first next()
        try:
            for token in tokens:
                if first_token_at is None:
                    first_token_at = time.perf_counter_ns()
                    switch.disarm()
                if cancel is not None and cancel.is_set():
                    raise Cancelled("the client went away during generation")
                if token in stop_ids:
                    reason = "stop"
                    break
                generated.append(token)
                self.count("tokens_generated")
                text += decoder.decode(llm.detokenize([token]))
                cut = _stop_at(text, opts.stop)
                if cut is not None:
                    yield text[emitted:cut]
                    emitted, reason = cut, "stop"
                    break
                safe = len(text) - _pending_stop_prefix(text, opts.stop)
                yield text[emitted:safe]
                emitted = max(emitted, safe)
                if grammar is not None and _is_complete_json(text):
                    reason = "stop"
                    break
                if len(generated) >= limit:
                    break  # before the generator decodes a token nobody asked for
            else:
                reason = "stop"
        except RuntimeError as exc:  # llama_decode returned early: aborted by the switch
            if cancel is not None and cancel.is_set():
                self.count("cancelled_requests")
                raise Cancelled("the client went away during prompt evaluation") from exc
            raise
        except Cancelled:
            self.count("cancelled_requests")
            raise
        finally:
            switch.disarm()
            tokens.close()
        ended = time.perf_counter_ns()
        first = first_token_at or ended
        yield Done(
            done_reason=reason,
            load_duration=load_ns,
            prompt_eval_count=len(prompt),
            prompt_eval_duration=first - started,
            eval_count=len(generated),
            eval_duration=ended - first,
            context=prompt + generated,
            tail=text[emitted:] if reason == "length" else "",
        )

    # -- embeddings ----------------------------------------------------------------------------

    def embed(
        self, name: str, texts: list[str], *, normalize: bool = True, keep_alive: Any = None,
        cancel: threading.Event | None = None,
    ) -> tuple[list[list[float]], int, int]:
        """Vectors for `texts` (truncated to the embedding context), the token count and load time."""
        entry = self.entry(name)
        keep = parse_keep_alive(keep_alive)
        if not texts:
            return [], 0, 0  # as Ollama: no inputs, no vectors (llama.cpp refuses an empty batch)
        with self._embed_locks[entry.name]:
            started = time.perf_counter_ns()
            with self._locks[entry.name]:
                loaded = self._ensure_embedder(entry)
            load_ns = time.perf_counter_ns() - started
            assert loaded.embed_switch is not None
            loaded.embed_switch.arm(cancel)
            try:
                vectors, count = loaded.embedder.embed(texts, normalize=normalize, truncate=True, return_count=True)
            except RuntimeError as exc:
                if cancel is not None and cancel.is_set():
                    self.count("cancelled_requests")
                    raise Cancelled("the client went away during embedding") from exc
                raise
            finally:
                loaded.embed_switch.disarm()
                self.count("busy_ns", time.perf_counter_ns() - started)
        with self._locks[entry.name]:
            self._touch(entry.name, keep)
        self.count("embed_requests")
        self.count("embed_inputs", len(texts))
        return [list(v) for v in vectors], int(count), load_ns

    def close(self) -> None:
        for name in list(self._loaded):
            self._unload(name)


def _end_of_turn_ids(llm: Any, fmt: ChatFormat) -> list[int]:
    """The single special tokens that end a turn in this chat format."""
    ids = [llm.tokenize(marker.encode(), add_bos=False, special=True) for marker in END_OF_TURN[fmt]]
    return [one[0] for one in ids if len(one) == 1]


def _cached_prefix(llm: Any, prompt: list[int]) -> int:
    """How many of the prompt's first tokens the context holds already, as `Llama.generate` will
    reuse them (it evaluates at least the last token again, for fresh logits)."""
    if llm.n_tokens == 0:
        return 0
    return min(llm.longest_token_prefix(llm._input_ids, prompt), len(prompt) - 1)


def _fit_context(prompt: list[int], num_ctx: int) -> list[int]:
    """As Ollama does, keep the start-of-text token and the newest part of a prompt too long for the window."""
    keep = max(1, num_ctx - 1)
    if len(prompt) <= keep:
        return prompt
    return prompt[:1] + prompt[len(prompt) - keep + 1 :]


def _stop_at(text: str, stops: list[str]) -> int | None:
    positions = [text.find(s) for s in stops if s and s in text]
    return min(positions) if positions else None


def _pending_stop_prefix(text: str, stops: list[str]) -> int:
    """How many trailing characters could still grow into a stop string, and so must wait."""
    longest = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:n]):
                longest = max(longest, n)
                break
    return longest


# llama-cpp-python's schema converter lets a string hold raw control characters (a newline, say),
# which no JSON parser accepts; llama.cpp's own converter, and so Ollama, excludes them.
LOOSE_JSON_CHAR = r'char ::= [^"\\]'
STRICT_JSON_CHAR = r'char ::= [^"\\\x7F\x00-\x1F]'


def _grammar(format: Any) -> Any:
    """A llama.cpp grammar for Ollama's `format`: "json" or a JSON schema object."""
    if format in (None, ""):
        return None
    from llama_cpp import LlamaGrammar
    from llama_cpp.llama_grammar import JSON_GBNF

    if format == "json":
        return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
    if isinstance(format, dict):
        from llama_cpp.llama_grammar import json_schema_to_gbnf

        try:
            gbnf = json_schema_to_gbnf(json.dumps(format))
            return LlamaGrammar.from_string(gbnf.replace(LOOSE_JSON_CHAR, STRICT_JSON_CHAR), verbose=False)
        except Exception as exc:
            raise RequestError(f"invalid JSON schema in format: {exc}") from exc
    raise RequestError('invalid format: expected "json" or a JSON schema object')


def _is_complete_json(text: str) -> bool:
    """A grammar-constrained reply is finished once it parses as one JSON value."""
    stripped = text.strip()
    if not stripped.endswith(("}", "]")):
        return False
    try:
        json.loads(stripped)
    except ValueError:
        return False
    return True
