"""scribe's Ollama-compatible engine: llama.cpp behind Ollama's HTTP API (`scribe serve`)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_PORT = 11435
THREADS_ENV = "SCRIBE_ENGINE_THREADS"


def threads_from_env() -> int | None:
    """$SCRIBE_ENGINE_THREADS as a thread count, or None to use the default."""
    from scribe.errors import ConfigError

    value = os.environ.get(THREADS_ENV, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"{THREADS_ENV}={value!r}: expected a whole number of threads, e.g. {THREADS_ENV}=2")
    return int(value)


def serve(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    models: list[str] | None = None,
    idle_exit_s: float | None = None,
    url_file: Path | None = None,
    threads: int | None = None,
    announce: bool = True,
) -> None:
    """Run the engine until interrupted, terminated (SIGTERM) or idle for `idle_exit_s`.

    With `url_file`, the bound URL is written there once the socket listens, so a parent that
    asked for port 0 learns the port without racing for it. SIGTERM (`scribe serve stop`) waits up
    to 3 s for running requests, then shuts down as the idle exit does (the socket closes, the models
    unload); if a request still runs, the process exits at once, without unloading under it.
    """
    import signal
    import sys
    import threading
    import time

    from scribe.engine.catalog import Catalog
    from scribe.engine.runtime import Runtime
    from scribe.engine.server import make_server

    runtime = Runtime(Catalog.build(models or []), n_threads=threads or threads_from_env())
    server = make_server(runtime, host, port, idle_exit_s=idle_exit_s)
    if url_file is not None:
        tmp = url_file.with_suffix(".tmp")
        tmp.write_text(server.url, encoding="utf-8")
        os.replace(tmp, url_file)
    if announce:
        names = ", ".join(runtime.catalog.names())
        print(f"scribe engine listening on {server.url} (Ollama API) serving: {names}", flush=True)

    def drain_then_shut_down() -> None:
        # Unloading a model while a request still runs on it crashes llama.cpp (SIGSEGV).
        deadline = time.monotonic() + 3.0
        while server.active and time.monotonic() < deadline:
            time.sleep(0.05)
        if server.active:
            print(f"scribe engine: SIGTERM with {server.active} request(s) still running; exiting now", file=sys.stderr, flush=True)
            os._exit(128 + signal.SIGTERM)
        print("scribe engine: SIGTERM, shutting down", file=sys.stderr, flush=True)
        server.shutdown()

    previous = None
    if threading.current_thread() is threading.main_thread():
        # shutdown() waits for serve_forever's loop, which runs on this thread: call it from another one.
        previous = signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=drain_then_shut_down, daemon=True).start())
    try:
        server.serve()
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
