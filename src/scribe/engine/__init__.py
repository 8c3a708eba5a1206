"""scribe's Ollama-compatible engine: llama.cpp behind Ollama's HTTP API (`scribe serve`)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_PORT = 11435


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
    """Run the engine until interrupted (or idle for `idle_exit_s`).

    With `url_file`, the bound URL is written there once the socket listens, so a parent that
    asked for port 0 learns the port without racing for it.
    """
    from scribe.engine.catalog import Catalog
    from scribe.engine.runtime import Runtime
    from scribe.engine.server import make_server

    runtime = Runtime(Catalog.build(models or []), n_threads=threads)
    server = make_server(runtime, host, port, idle_exit_s=idle_exit_s)
    if url_file is not None:
        tmp = url_file.with_suffix(".tmp")
        tmp.write_text(server.url, encoding="utf-8")
        os.replace(tmp, url_file)
    if announce:
        names = ", ".join(runtime.catalog.names())
        print(f"scribe engine listening on {server.url} (Ollama API) serving: {names}", flush=True)
    try:
        server.serve()
    except KeyboardInterrupt:
        pass
