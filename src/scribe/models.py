"""The only code that talks to a model server, always through the official `ollama` client.

`ModelServer` is what the rest of scribe asks of a model server; `open_server(host)` gives the one
registered for the host's URL scheme. `ModelClient` is the real one (http and https): it streams
chat, embeds in batches, lists models and what each can do (`show`: its context length, chat or
embeddings), pulls models with their progress, clocks time to first token on the client side, keeps
Ollama's own metrics, and turns every failure into a `ScribeError` the user can act on. The same
code serves a real Ollama and scribe's own engine. Another implementation (the tests' fake) is
registered under a scheme of its own with `register_server`, so the CLI and the app reach it
through exactly the code paths they use for a real server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from scribe.errors import ConfigError, HostUnreachable, ModelNotFound, ModelRequestError
from scribe.runlog import CallTimings, RunOutcome

Status = Literal["ok", "failed", "cancelled"]
Message = dict[str, str]
OnToken = Callable[[str], None]
# Given the text streamed so far, a reason to end the stream there (logged as its done_reason), or None.
StopWhen = Callable[[str], str | None]

START_HINT = (
    "start Ollama (`ollama serve`) or scribe's engine (`scribe serve`), "
    "or set engine = \"embedded\" in scribe.toml"
)


@dataclass(kw_only=True)
class CallMetrics(CallTimings):
    """A call's timings as they are measured; the rates follow from Ollama's counts and durations."""

    @property
    def prompt_tps(self) -> float | None:
        return _rate(self.prompt_eval_count, self.prompt_eval_duration_ns)

    @property
    def eval_tps(self) -> float | None:
        return _rate(self.eval_count, self.eval_duration_ns)

    def absorb_final_chunk(self, chunk: Any) -> None:
        """Copy Ollama's metrics from the final (`done`) chunk of a stream."""
        self.done_reason = getattr(chunk, "done_reason", None)
        for name in ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration"):
            setattr(self, f"{name}_ns", getattr(chunk, name, None))
        self.prompt_eval_count = getattr(chunk, "prompt_eval_count", None)
        self.eval_count = getattr(chunk, "eval_count", None)


def _rate(count: int | None, duration_ns: int | None) -> float | None:
    if not count or not duration_ns:
        return None
    return count / (duration_ns / 1e9)


@dataclass
class CallResult:
    """The outcome of one streamed call. A failed or cancelled call keeps the text that did arrive."""

    text: str
    model: str
    host: str
    status: Status = "ok"
    error: str | None = None
    metrics: CallMetrics = field(default_factory=CallMetrics)
    chunks: int = 0

    def log_values(self) -> RunOutcome:
        """This result as the run log records it (the columns `RunLog.finish` fills)."""
        m = self.metrics
        return RunOutcome(status=self.status, output_text=self.text, error=self.error,
                          prompt_tps=m.prompt_tps, eval_tps=m.eval_tps, **asdict(m))


@dataclass
class ModelInfo:
    """A model the server has, as `/api/tags` describes it."""

    name: str
    size: int
    digest: str
    family: str | None
    parameter_size: str | None
    quantization: str | None
    modified_at: str | None


# Model families that only embed; never picked as a writer.
EMBEDDING_FAMILIES = ("bert", "nomic-bert", "jina-bert-v2")


@dataclass(frozen=True)
class ModelFacts:
    """What `/api/show` says of a model that scribe acts on: the context it was trained for (None:
    not reported) and what it can do, in Ollama's words ("completion" chats, "embedding" embeds)."""

    name: str
    context_length: int | None
    capabilities: tuple[str, ...]

    @property
    def chats(self) -> bool:
        return "completion" in self.capabilities

    @property
    def embeds(self) -> bool:
        return "embedding" in self.capabilities


def model_facts(name: str, model_info: Mapping[str, Any] | None, capabilities: Sequence[str] | None,
                family: str | None) -> ModelFacts:
    """The facts in a `/api/show` reply. The context length is `<architecture>.context_length` in
    `model_info`, from the GGUF, as Ollama and scribe's engine report it. Older Ollama releases list
    no capabilities: then an embedding family embeds and any other model chats."""
    info = model_info or {}
    arch = info.get("general.architecture") or family
    length = info.get(f"{arch}.context_length")
    if not capabilities:
        capabilities = ("embedding",) if (family or arch) in EMBEDDING_FAMILIES else ("completion",)
    return ModelFacts(name, int(length) if isinstance(length, (int, float)) and length > 0 else None, tuple(capabilities))


@dataclass(frozen=True)
class PullProgress:
    """One line of a pull as Ollama streams it: a status ("pulling manifest", "success"), and while a
    layer comes in, its digest and bytes completed of total."""

    status: str
    digest: str | None = None
    total: int | None = None
    completed: int | None = None


def writers(models: Sequence[ModelInfo]) -> list[ModelInfo]:
    """The models that can write: not an embedding-only family or name."""
    return [m for m in models if (m.family or "") not in EMBEDDING_FAMILIES and "embed" not in m.name]


def pick_writer(models: Sequence[ModelInfo], preferred: Sequence[str]) -> str:
    """The first preferred writer the server has, else its first model that writes, else the best known."""
    names = {m.name for m in models} | {m.name.removesuffix(":latest") for m in models}
    for name in preferred:
        if name in names:
            return name
    able = writers(models)
    return able[0].name if able else preferred[0]


def _is_connect_error(exc: BaseException) -> bool:
    import httpx

    return isinstance(exc, (ConnectionError, httpx.ConnectError, httpx.ConnectTimeout))


def _stream_break(exc: BaseException) -> bool:
    """Errors that mean the connection died mid-stream (as opposed to a refused request)."""
    import httpx

    return isinstance(exc, (httpx.TransportError, ConnectionError))


class ModelServer(Protocol):
    """What scribe asks of a model server: the CLI, the app, indexing and the tasks use only this.

    `ModelClient` is the real one; a fake registered with `register_server` stands in for it in
    fast tests. `stream_chat` refuses a bad request by raising a `ScribeError`, and returns a
    broken or cancelled stream as a `CallResult` holding the text that did arrive; setting `cancel`
    must end the call at once, even before the first token. A reason from `stop_when` ends the
    stream after that piece, status "ok", the reason as its done_reason."""

    host: str

    def version(self) -> str: ...

    def list_models(self) -> list[ModelInfo]: ...

    def digest(self, model: str) -> str | None: ...

    def default_writer(self) -> str: ...

    def show(self, model: str) -> ModelFacts: ...

    def pull(self, model: str) -> Iterator[PullProgress]: ...

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
    ) -> CallResult: ...

    def embed(self, model: str, texts: Sequence[str], *, batch_size: int = 64) -> list[list[float]]: ...


ServerFactory = Callable[[str], ModelServer]
NETWORK_SCHEMES = ("http", "https")
_factories: dict[str, ServerFactory] = {}


def register_server(scheme: str, factory: ServerFactory) -> None:
    """Make `open_server` build hosts whose URL starts `scheme://` with `factory(host)`.
    The real client is registered for http and https this way; registering again replaces."""
    _factories[scheme.lower()] = factory


def _host_scheme(host: str) -> str:
    """The URL scheme of `host`; a bare `host:port` (OLLAMA_HOST allows it) is http."""
    return host.split("://", 1)[0].lower() if "://" in host else "http"


def is_network_host(host: str) -> bool:
    """Whether `host` is reached over the network (http or https), so it may be probed, may be on
    another machine, and may be absent; any other scheme names an implementation in this process."""
    return _host_scheme(host) in NETWORK_SCHEMES


def open_server(host: str) -> ModelServer:
    """The model server at `host`, built by the implementation registered for its scheme."""
    scheme = _host_scheme(host)
    factory = _factories.get(scheme)
    if factory is None:
        raise ConfigError(
            f"{host}: scribe knows no model server at {scheme}:// URLs; "
            "give an http:// URL (ollama_host in scribe.toml, OLLAMA_HOST or --host)"
        )
    return factory(host)


class ModelClient:
    """A model server at `host`, reached with `ollama.Client`."""

    def __init__(self, host: str, *, timeout: float | None = 600.0) -> None:
        import ollama

        self.host = host
        self._timeout = timeout
        self._client = ollama.Client(host=host, timeout=timeout)
        self._digests: dict[str, str] = {}
        self._facts: dict[tuple[str, str | None], ModelFacts] = {}

    def _unreachable(self) -> HostUnreachable:
        return HostUnreachable(f"no model server answers at {self.host}: {START_HINT}")

    def _translate(self, exc: BaseException, model: str | None = None) -> Exception:
        """Map a client exception to the ScribeError the user should see."""
        import ollama

        if isinstance(exc, ollama.ResponseError):
            if exc.status_code == 404 and model is not None:
                return self._model_not_found(model)
            return ModelRequestError(f"{self.host} refused the request: {exc.error}")
        if _is_connect_error(exc):
            return self._unreachable()
        return ModelRequestError(f"{self.host}: {exc}")

    def _model_not_found(self, model: str) -> ModelNotFound:
        try:
            names = [m.name for m in self.list_models()]
        except HostUnreachable:
            names = []
        have = ", ".join(names) if names else "none"
        return ModelNotFound(
            f"model '{model}' is not on {self.host} (it has: {have}); "
            f"run `scribe pull {model}` or pick one with --model"
        )

    def version(self) -> str:
        import httpx

        try:
            response = httpx.get(f"{self.host}/api/version", timeout=5.0)
            response.raise_for_status()
            return str(response.json().get("version", "unknown"))
        except httpx.HTTPError as exc:
            raise self._unreachable() from exc

    def list_models(self) -> list[ModelInfo]:
        try:
            listing = self._client.list()
        except Exception as exc:
            raise self._translate(exc) from exc
        models = []
        for m in listing.models:
            details = m.details
            models.append(
                ModelInfo(
                    name=m.model or "",
                    size=m.size or 0,
                    digest=m.digest or "",
                    family=details.family if details else None,
                    parameter_size=details.parameter_size if details else None,
                    quantization=details.quantization_level if details else None,
                    modified_at=m.modified_at.isoformat() if m.modified_at else None,
                )
            )
            self._digests[m.model or ""] = m.digest or ""
        return models

    def default_writer(self) -> str:
        """The model for writing tasks when none is configured: the best writer this server has."""
        from scribe.config import WRITERS

        return pick_writer(self.list_models(), WRITERS)

    def digest(self, model: str) -> str | None:
        """The model's digest as the server reports it, or None when it is not listed."""
        if model not in self._digests:
            self.list_models()
        return self._digests.get(model) or self._digests.get(f"{model}:latest")

    def show(self, model: str) -> ModelFacts:
        """The model's context length and capabilities, asked once per model and digest: a model
        pulled again under the same name may be another model."""
        key = (model, self.digest(model))
        if key not in self._facts:
            try:
                shown = self._client.show(model)
            except Exception as exc:
                raise self._translate(exc, model) from exc
            family = shown.details.family if shown.details else None
            self._facts[key] = model_facts(model, shown.modelinfo, shown.capabilities, family)
        return self._facts[key]

    def pull(self, model: str) -> Iterator[PullProgress]:
        """Fetch `model` onto the server, yielding its progress as the server streams it; the last
        line says "success". A server that cannot pull it raises `ModelRequestError` with its own
        words (scribe's engine names the package or pip extra that provides the model)."""
        try:
            for line in self._client.pull(model, stream=True):
                yield PullProgress(line.status or "", line.digest, line.total, line.completed)
        except Exception as exc:
            import ollama

            if isinstance(exc, ollama.ResponseError):
                raise ModelRequestError(f"{self.host} cannot pull '{model}': {exc.error}") from exc
            raise self._translate(exc) from exc
        finally:
            self._digests.pop(model, None)  # listed afresh next time: the pull may have changed it

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
        """Stream a chat reply. Refusals raise; a stream that breaks or is cancelled returns its partial text.

        With `cancel`, the call has a connection of its own, cut the moment `cancel` is set: no chunk
        arrives while the server reads the prompt (15-30 s with the 1.5B writer), so checking
        between chunks alone left Esc waiting for the first token."""
        if cancel is None:
            return self._stream_chat(self._client, model, messages, options, format, keep_alive, on_token, None, stop_when)
        import ollama

        cutter = _SocketCutter(cancel)
        with ollama.Client(host=self.host, timeout=self._timeout, event_hooks={"request": [cutter.hook]}) as client:
            threading.Thread(target=cutter.watch, name="scribe-cancel-watch", daemon=True).start()
            try:
                return self._stream_chat(client, model, messages, options, format, keep_alive, on_token, cancel, stop_when)
            finally:
                cutter.finished.set()

    def _stream_chat(
        self, client: Any, model: str, messages: Sequence[Message], options: dict[str, Any] | None,
        format: str | dict[str, Any] | None, keep_alive: str | float | None, on_token: OnToken | None,
        cancel: threading.Event | None, stop_when: StopWhen | None,
    ) -> CallResult:
        acc = _Accumulator(CallResult(text="", model=model, host=self.host), on_token, stop_when)
        try:
            stream = client.chat(
                model=model,
                messages=list(messages),
                options=options,
                format=format,
                keep_alive=keep_alive,
                stream=True,
            )
            try:
                for chunk in stream:
                    if cancel is not None and cancel.is_set():
                        acc.cancelled()
                        break
                    if acc.feed(chunk):
                        break
                else:
                    acc.unfinished()
            finally:
                stream.close()  # closes the connection, which stops generation on the server
        except Exception as exc:
            if cancel is not None and cancel.is_set() and _stream_break(exc):
                acc.cancelled()  # the cut connection
            elif not acc.parts and not _mid_stream(exc):
                raise self._translate(exc, model) from exc
            else:
                acc.fail(exc)
        return acc.finish()

    def embed(self, model: str, texts: Sequence[str], *, batch_size: int = 64) -> list[list[float]]:
        """Embed `texts` in batches of `batch_size`, in order."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            try:
                response = self._client.embed(model=model, input=batch)
            except Exception as exc:
                raise self._translate(exc, model) from exc
            vectors.extend(list(v) for v in response.embeddings)
        return vectors


register_server("http", ModelClient)
register_server("https", ModelClient)


class _SocketCutter:
    """Shuts down one client's sockets when `cancel` is set. A blocked read then ends at once with
    an error, and the server sees its client leave (Ollama and `scribe serve` stop generating).
    httpcore's `trace` extension, put on each request by an event hook, hands over each new socket."""

    def __init__(self, cancel: threading.Event) -> None:
        self.cancel = cancel
        self.finished = threading.Event()
        self.sockets: list[Any] = []

    def hook(self, request: Any) -> None:
        request.extensions["trace"] = self.trace

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.complete":
            sock = info["return_value"].get_extra_info("socket")
            if sock is not None:
                self.sockets.append(sock)

    def watch(self) -> None:
        import socket

        while not self.finished.wait(0.05):
            if self.cancel.is_set():
                for sock in self.sockets:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass  # closed already
                return


def _mid_stream(exc: BaseException) -> bool:
    """True for transport errors other than failing to connect: the stream had started."""
    return _stream_break(exc) and not _is_connect_error(exc)


class _Accumulator:
    """Collects a chat stream's text and metrics, chunk by chunk."""

    def __init__(self, result: CallResult, on_token: OnToken | None, stop_when: StopWhen | None = None) -> None:
        self.result = result
        self.parts: list[str] = []
        self.on_token = on_token
        self.stop_when = stop_when
        self.started = time.perf_counter()

    def feed(self, chunk: Any) -> bool:
        """Take one chunk; True once the final chunk has arrived, or `stop_when` gave a reason to end."""
        piece = chunk.message.content or ""
        if not chunk.done:
            self.result.chunks += 1
        if piece:
            if self.result.metrics.ttft_ms is None:
                self.result.metrics.ttft_ms = (time.perf_counter() - self.started) * 1000
            self.parts.append(piece)
            if self.on_token is not None:
                self.on_token(piece)
        if chunk.done:
            self.result.metrics.absorb_final_chunk(chunk)
            return True
        reason = self.stop_when("".join(self.parts)) if self.stop_when is not None and piece else None
        if reason is not None:
            self.result.metrics.done_reason = reason  # the stream is closed here: no final chunk, no server metrics
        return reason is not None

    def fail(self, exc: BaseException) -> None:
        self.result.status = "failed"
        self.result.error = f"stream from {self.result.host} broke after {len(self.parts)} chunks: {exc}"

    def cancelled(self) -> None:
        self.result.status, self.result.error = "cancelled", "cancelled by the user"

    def unfinished(self) -> None:
        self.result.status = "failed"
        self.result.error = f"stream from {self.result.host} ended without its final chunk"

    def finish(self) -> CallResult:
        self.result.text = "".join(self.parts)
        self.result.metrics.wall_ms = (time.perf_counter() - self.started) * 1000
        return self.result


def is_answering(host: str, timeout: float = 0.5) -> bool:
    """A cheap probe: does a model server answer `/api/version` at `host`?"""
    import httpx

    try:
        return httpx.get(f"{host}/api/version", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False
