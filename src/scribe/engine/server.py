"""Ollama's HTTP API over the llama.cpp runtime, with Ollama's request and response shapes.

The standard library's threaded HTTP server is enough here: one thread per connection, requests
for the same model queue on the runtime's lock, and streaming replies are NDJSON over chunked
transfer encoding exactly as Ollama sends them.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from scribe import __version__
from scribe.engine.cancel import Cancelled, watch_connection
from scribe.engine.runtime import Done, RequestError, Runtime, UnknownModel, parse_keep_alive
from scribe.engine.templates import OLLAMA_TEMPLATES

log = logging.getLogger("scribe.engine")

# The Ollama API version this engine follows; reported by /api/version beside scribe's own.
OLLAMA_API_VERSION = "0.6.0"
MAX_QUEUE = 512
# Off by default: a file to append each chat and generate request to, one JSON line each, so a test
# or an author can see exactly what a client sent (as OLLAMA_DEBUG shows Ollama's prompts).
REQUEST_LOG_ENV = "SCRIBE_ENGINE_LOG_REQUESTS"


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Busy(Exception):
    """More requests are waiting than the engine will queue (HTTP 503, as Ollama)."""


class EngineServer(ThreadingHTTPServer):
    """The HTTP server plus what its handlers share: the runtime, the queue gauge, idle tracking."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], runtime: Runtime, *, idle_exit_s: float | None = None) -> None:
        super().__init__(address, Handler)
        self.runtime = runtime
        self.idle_exit_s = idle_exit_s
        self.last_activity = time.monotonic()
        self.active = 0
        self._gauge = threading.Lock()
        self._stop = threading.Event()
        self.request_log = os.environ.get(REQUEST_LOG_ENV) or None
        self._recording = threading.Lock()  # one request's line at a time

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def begin(self) -> None:
        with self._gauge:
            if self.active >= MAX_QUEUE:
                raise Busy("server busy, please try again.  maximum pending requests exceeded")
            self.active += 1
            self.last_activity = time.monotonic()

    def end(self) -> None:
        with self._gauge:
            self.active -= 1
            self.last_activity = time.monotonic()

    def record(self, endpoint: str, req: dict[str, Any]) -> None:
        """Append a request to $SCRIBE_ENGINE_LOG_REQUESTS, when it is set."""
        if self.request_log is not None:
            with self._recording, open(self.request_log, "a", encoding="utf-8") as log_file:
                log_file.write(json.dumps({"endpoint": endpoint, **req}) + "\n")

    def housekeeping(self) -> None:
        """Unload models past their keep_alive; stop the server after `idle_exit_s` without work."""
        while not self._stop.wait(1.0):
            self.runtime.reap_expired()
            idle = time.monotonic() - self.last_activity
            if self.idle_exit_s is not None and self.active == 0 and idle > self.idle_exit_s:
                log.info("idle for %.0f s, shutting down", idle)
                threading.Thread(target=self.shutdown, daemon=True).start()
                return

    def serve(self) -> None:
        keeper = threading.Thread(target=self.housekeeping, name="housekeeping", daemon=True)
        keeper.start()
        try:
            self.serve_forever(poll_interval=0.2)
        finally:
            self._stop.set()
            self.runtime.close()
            self.server_close()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 300  # seconds a connection may sit silent before it is closed (idle sockets hold a thread each)
    server: EngineServer
    cancel: threading.Event  # set when the client of the current request has gone
    finished: threading.Event  # set when the current request is done, to end its watcher
    server_version = f"scribe-engine/{__version__}"

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)

    # -- plumbing -----------------------------------------------------------------------------

    def _send_json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str) -> None:
        self._send_json(status, {"error": message})

    def _read_json(self) -> dict[str, Any]:
        """The request body; from here on, a watcher notices if the client goes away."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        watch_connection(self.connection, self.cancel, self.finished)
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RequestError(f"invalid JSON in request body: {exc}") from exc
        if not isinstance(data, dict):
            raise RequestError("invalid request body: expected a JSON object")
        return _scrub(data)

    def _stream(self, lines: Iterator[dict[str, Any]]) -> None:
        """NDJSON over chunked encoding; a failed write means the client left, which ends `lines`."""
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for line in lines:
                data = json.dumps(line).encode("utf-8") + b"\n"
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, Cancelled):
            self.server.runtime.count("cancelled_streams")
            self.close_connection = True
        finally:
            close = getattr(lines, "close", None)
            if close is not None:
                close()

    def _dispatch(self, routes: dict[str, Callable[[], None]]) -> None:
        route = routes.get(self.path.split("?", 1)[0].rstrip("/") or "/")
        if route is None:
            self._error(HTTPStatus.NOT_FOUND, f"404 page not found: {self.path}")
            return
        try:
            self.server.begin()
        except Busy as exc:
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, str(exc))
            return
        self.cancel, self.finished = threading.Event(), threading.Event()
        try:
            route()
        except RequestError as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
        except UnknownModel as exc:
            self._error(HTTPStatus.NOT_FOUND, str(exc))
        except (BrokenPipeError, ConnectionResetError, Cancelled):
            self.close_connection = True
        except Exception as exc:  # the server must outlive any one request
            log.exception("request failed")
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"engine error: {exc}")
        finally:
            self.finished.set()
            self.server.end()

    def do_GET(self) -> None:
        self._dispatch({
            "/": self.root, "/api/version": self.version, "/api/tags": self.tags,
            "/api/ps": self.ps, "/scribe/stats": self.stats,
        })

    def do_HEAD(self) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        self._dispatch({
            "/api/chat": self.chat, "/api/generate": self.generate, "/api/show": self.show,
            "/api/embed": self.embed, "/api/embeddings": self.embeddings, "/api/pull": self.pull,
        })

    # -- endpoints ----------------------------------------------------------------------------

    def root(self) -> None:
        body = b"Ollama is running"
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def version(self) -> None:
        self._send_json(HTTPStatus.OK, {"version": OLLAMA_API_VERSION, "engine": f"scribe {__version__}"})

    def stats(self) -> None:
        runtime = self.server.runtime
        self._send_json(HTTPStatus.OK, {**runtime.stats, "threads": runtime.n_threads, "threads_batch": runtime.n_threads_batch})

    def tags(self) -> None:
        self._send_json(HTTPStatus.OK, {"models": [entry.tag() for entry in self.server.runtime.catalog]})

    def ps(self) -> None:
        models = []
        for entry, expires_in, n_ctx in self.server.runtime.running():
            expires = datetime.now(UTC) + timedelta(seconds=min(expires_in, 10 * 365 * 86400))
            models.append({**entry.tag(), "expires_at": expires.isoformat(), "size_vram": 0, "context_length": n_ctx})
        self._send_json(HTTPStatus.OK, {"models": models})

    def show(self) -> None:
        req = self._read_json()
        entry = self.server.runtime.entry(_model_name(req))
        params = "\n".join(f"{k} {v}" for k, v in entry.defaults.items())
        self._send_json(HTTPStatus.OK, {
            "license": entry.metadata.get("general.license", ""),
            "modelfile": f"FROM {entry.path}\n" + "".join(f"PARAMETER {k} {v}\n" for k, v in entry.defaults.items()),
            "parameters": params,
            "template": "" if entry.embeds_only else OLLAMA_TEMPLATES[entry.chat_format],
            "details": entry.details(),
            "model_info": {k: _number_or_text(v) for k, v in entry.metadata.items() if not k.startswith("tokenizer.")},
            "capabilities": entry.capabilities,
            "modified_at": entry.modified_at,
        })

    def pull(self) -> None:
        """Ollama's pull, for models that come with Python packages rather than from a registry: one
        the engine serves is there already, and Ollama answers such a pull with each layer complete
        at once; for another, the stream ends in Ollama's error line (500 without streaming),
        saying which package or pip extra would provide it."""
        req = self._read_json()
        name = _model_name(req)
        catalog = self.server.runtime.catalog
        entry = catalog.get(name)
        lines: list[dict[str, Any]] = [{"status": "pulling manifest"}]
        if entry is None:
            lines.append({"error": catalog.unavailable(name)})
        else:
            lines += [
                {"status": f"pulling {entry.digest[:12]}", "digest": f"sha256:{entry.digest}", "total": entry.size,
                 "completed": entry.size},
                {"status": "verifying sha256 digest"}, {"status": "writing manifest"}, {"status": "success"},
            ]
        if req.get("stream", True):
            self._stream(iter(lines))
        elif entry is None:
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, lines[-1]["error"])
        else:
            self._send_json(HTTPStatus.OK, lines[-1])

    def chat(self) -> None:
        req = self._read_json()
        self.server.record("/api/chat", req)
        name = _model_name(req)
        messages = req.get("messages") or []
        if not isinstance(messages, list) or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content", ""), str)
            for m in messages
        ):
            raise RequestError("invalid messages: expected a list of {role, content} objects")
        runtime = self.server.runtime
        runtime.count("chat_requests")
        if not messages:
            self._load_only(req, name, lambda: {"message": {"role": "assistant", "content": ""}})
            return
        events = runtime.generate(
            name, messages=messages, options=_options(req), format=req.get("format"), keep_alive=req.get("keep_alive"),
            cancel=self.cancel,
        )
        self._respond(req, name, events, lambda piece: {"message": {"role": "assistant", "content": piece}})

    def generate(self) -> None:
        req = self._read_json()
        self.server.record("/api/generate", req)
        name = _model_name(req)
        prompt = req.get("prompt") or ""
        if not isinstance(prompt, str):
            raise RequestError("invalid prompt: expected a string")
        runtime = self.server.runtime
        runtime.count("generate_requests")
        if not prompt:
            self._load_only(req, name, lambda: {"response": ""})
            return
        if req.get("raw"):
            events = runtime.generate(
                name, raw_prompt=prompt, options=_options(req), format=req.get("format"), keep_alive=req.get("keep_alive"),
                cancel=self.cancel,
            )
        else:
            messages = ([{"role": "system", "content": str(req["system"])}] if req.get("system") else [])
            messages.append({"role": "user", "content": prompt})
            events = runtime.generate(
                name, messages=messages, options=_options(req), format=req.get("format"), keep_alive=req.get("keep_alive"),
                cancel=self.cancel,
            )
        self._respond(req, name, events, lambda piece: {"response": piece}, with_context=True)

    def _load_only(self, req: dict[str, Any], name: str, empty: Callable[[], dict[str, Any]]) -> None:
        try:
            num_ctx = int((_options(req) or {}).get("num_ctx") or 4096)
        except (TypeError, ValueError) as exc:
            raise RequestError(f"invalid options: num_ctx: {exc}") from exc
        unloading = parse_keep_alive(req.get("keep_alive")) == 0
        load_ns = self.server.runtime.load_only(name, num_ctx, req.get("keep_alive"))
        self._send_json(HTTPStatus.OK, {
            "model": name, "created_at": _now(), **empty(), "done": True,
            "done_reason": "unload" if unloading else "load", "load_duration": load_ns,
        })

    def _respond(
        self,
        req: dict[str, Any],
        name: str,
        events: Iterator[str | Done],
        body: Callable[[str], dict[str, Any]],
        *,
        with_context: bool = False,
    ) -> None:
        started = time.perf_counter_ns()
        first = next(events)  # surfaces a bad option or a load failure before any header is sent

        def lines() -> Iterator[dict[str, Any]]:
            try:
                for event in _chain(first, events):
                    if isinstance(event, Done):
                        yield _final(name, event, body(event.tail), started, with_context)
                    else:
                        yield {"model": name, "created_at": _now(), **body(event), "done": False}
            finally:
                events.close()  # type: ignore[attr-defined]

        if req.get("stream", True):
            self._stream(lines())
            return
        pieces: list[str] = []
        final: dict[str, Any] = {}
        for line in lines():
            pieces.append(line["message"]["content"] if "message" in line else line["response"])
            if line["done"]:
                final = line
        self._send_json(HTTPStatus.OK, {**final, **body("".join(pieces))})

    def embed(self) -> None:
        req = self._read_json()
        name = _model_name(req)
        inputs = _embed_inputs(req)
        started = time.perf_counter_ns()
        vectors, count, load_ns = self.server.runtime.embed(name, inputs, keep_alive=req.get("keep_alive"), cancel=self.cancel)
        self._send_json(HTTPStatus.OK, {
            "model": name, "embeddings": vectors, "total_duration": time.perf_counter_ns() - started,
            "load_duration": load_ns, "prompt_eval_count": count,
        })

    def embeddings(self) -> None:
        """The legacy endpoint: one prompt, one vector, not normalized (as Ollama)."""
        req = self._read_json()
        name = _model_name(req)
        prompt = req.get("prompt", "")
        if not isinstance(prompt, str):
            raise RequestError("invalid prompt: expected a string")
        vectors, _, _ = self.server.runtime.embed(name, [prompt], normalize=False, keep_alive=req.get("keep_alive"), cancel=self.cancel)
        self._send_json(HTTPStatus.OK, {"embedding": vectors[0] if prompt else []})


def _scrub(value: Any) -> Any:
    """Lone surrogates (valid JSON escapes, invalid text) become U+FFFD, as Go's decoder in Ollama does."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    return value


def _chain(first: str | Done, rest: Iterator[str | Done]) -> Iterator[str | Done]:
    yield first
    yield from rest


def _final(name: str, done: Done, empty: dict[str, Any], started: int, with_context: bool) -> dict[str, Any]:
    line = {
        "model": name, "created_at": _now(), **empty, "done": True, "done_reason": done.done_reason,
        "total_duration": time.perf_counter_ns() - started, "load_duration": done.load_duration,
        "prompt_eval_count": done.prompt_eval_count, "prompt_eval_duration": done.prompt_eval_duration,
        "eval_count": done.eval_count, "eval_duration": done.eval_duration,
    }
    if with_context:
        line["context"] = done.context
    return line


def _model_name(req: dict[str, Any]) -> str:
    name = req.get("model") or req.get("name")
    if not name or not isinstance(name, str):
        raise RequestError("model is required")
    return name


def _options(req: dict[str, Any]) -> dict[str, Any] | None:
    options = req.get("options")
    if options is not None and not isinstance(options, dict):
        raise RequestError("invalid options: expected an object")
    return options


def _number_or_text(value: str) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            continue
    return value


def _embed_inputs(req: dict[str, Any]) -> list[str]:
    data = req.get("input")
    if isinstance(data, str):
        return [data]
    if isinstance(data, list) and all(isinstance(item, str) for item in data):
        return data
    raise RequestError("invalid input: expected a string or a list of strings")


def make_server(runtime: Runtime, host: str, port: int, *, idle_exit_s: float | None = None) -> EngineServer:
    return EngineServer((host, port), runtime, idle_exit_s=idle_exit_s)
