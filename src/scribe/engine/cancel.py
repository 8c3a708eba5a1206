"""Stopping work whose client has gone: noticing the closed socket, and interrupting llama.cpp.

A request can spend tens of seconds inside one blocking `llama_decode` (a 2,000-token prompt on a
busy laptop), where no Python code runs to notice that the client left. So a watcher thread polls
the connection, and llama.cpp's abort callback, which it checks between the nodes of its compute
graph, turns the watcher's flag into an early return from `llama_decode`.
"""

from __future__ import annotations

import select
import socket
import threading
from typing import Any

POLL_S = 0.05


class Cancelled(Exception):
    """The client went away, so the engine stopped the work it asked for."""


def watch_connection(sock: socket.socket, gone: threading.Event, finished: threading.Event) -> threading.Thread:
    """Set `gone` when the peer closes `sock`, until `finished` is set.

    A readable socket with no bytes to peek at is a closed one. Bytes mean the client sent more
    (a next request on a kept-alive connection): it is still there, so watching stops.
    """

    def watch() -> None:
        while not finished.is_set():
            try:
                readable, _, _ = select.select([sock], [], [], POLL_S)
                if not readable:
                    continue
                if sock.recv(1, socket.MSG_PEEK) == b"":
                    gone.set()
                return
            except (OSError, ValueError):  # reset, or closed under us
                gone.set()
                return

    thread = threading.Thread(target=watch, name="client-watch", daemon=True)
    thread.start()
    return thread


class AbortSwitch:
    """llama.cpp's abort callback for one context, armed with an event only while it is wanted.

    The callback runs between graph nodes and takes the GIL each time, so it is armed for prompt
    evaluation and embedding (long single calls) and not for token-by-token decoding, where the
    caller checks the event between tokens instead.
    """

    def __init__(self, ctx: Any) -> None:
        import llama_cpp

        self._ctx = ctx
        self._event: threading.Event | None = None
        self._callback = llama_cpp.ggml_abort_callback(self._should_abort)  # kept alive with self
        self._none = llama_cpp.ggml_abort_callback()

    def _should_abort(self, _data: Any) -> bool:
        event = self._event
        return bool(event is not None and event.is_set())

    def arm(self, event: threading.Event | None) -> None:
        import llama_cpp

        self._event = event
        llama_cpp.llama_set_abort_callback(self._ctx, self._callback if event is not None else self._none, None)

    def disarm(self) -> None:
        self.arm(None)
