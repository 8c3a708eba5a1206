"""A request whose client has gone is stopped: while the prompt is evaluated, while the reply is
generated (streamed or not), and while texts are embedded. The client here is a real socket that
sends a real request and closes."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import ollama

from conftest import EMBED_MODEL, FAST_WRITER, settled

# About 3,000 tokens: seconds of prompt evaluation on these cores.
LONG_PROMPT = " ".join(f"Retry {i} of the payment job reused idempotency key k-{i}." for i in range(250))


def send_and_leave(url: str, path: str, body: dict, wait_s: float) -> None:
    """Send one HTTP request, wait, then close the connection without reading the reply."""
    parts = urlsplit(url)
    payload = json.dumps(body).encode()
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload
        )
        time.sleep(wait_s)


def _chat(stream: bool, num_predict: int) -> dict:
    return {"model": FAST_WRITER, "stream": stream, "messages": [{"role": "user", "content": LONG_PROMPT}],
            "options": {"num_ctx": 4096, "num_predict": num_predict, "seed": 1}}


def test_a_client_gone_during_prompt_evaluation_stops_it(engine_url: str, engine_stats) -> None:  # type: ignore[no-untyped-def]
    ollama.Client(host=engine_url).chat(model=FAST_WRITER, messages=[{"role": "user", "content": "hi"}],
                                        options={"num_predict": 1, "num_ctx": 4096})  # loaded, so the wait is prompt evaluation
    before = settled(engine_stats)
    send_and_leave(engine_url, "/api/chat", _chat(stream=True, num_predict=64), wait_s=1.0)
    after = settled(engine_stats)
    assert after["cancelled_requests"] == before["cancelled_requests"] + 1
    assert after["tokens_generated"] == before["tokens_generated"]  # stopped before its first token
    reply = ollama.Client(host=engine_url).chat(model=FAST_WRITER, messages=[{"role": "user", "content": "Say ok."}],
                                                options={"num_predict": 8, "num_ctx": 4096})
    assert reply.message.content.strip()  # the model is still usable


def test_a_client_gone_during_a_non_streamed_reply_stops_it(engine_url: str, engine_stats) -> None:  # type: ignore[no-untyped-def]
    body = {"model": FAST_WRITER, "stream": False, "messages": [{"role": "user", "content": "Write a long essay about retries."}],
            "options": {"num_predict": 2000, "seed": 2, "temperature": 0.8, "num_ctx": 4096}}
    before = settled(engine_stats)
    send_and_leave(engine_url, "/api/chat", body, wait_s=2.0)
    after = settled(engine_stats)
    assert after["cancelled_requests"] == before["cancelled_requests"] + 1
    assert 0 < after["tokens_generated"] - before["tokens_generated"] < 2000


def test_a_client_gone_during_embedding_stops_it(engine_url: str, engine_stats) -> None:  # type: ignore[no-untyped-def]
    ollama.Client(host=engine_url).embed(model=EMBED_MODEL, input="warm")
    texts = [f"{LONG_PROMPT[:1500]} ({i})" for i in range(400)]
    before = settled(engine_stats)
    send_and_leave(engine_url, "/api/embed", {"model": EMBED_MODEL, "input": texts}, wait_s=1.0)
    after = settled(engine_stats)
    assert after["cancelled_requests"] == before["cancelled_requests"] + 1
    assert after["embed_requests"] == before["embed_requests"]
    assert len(ollama.Client(host=engine_url).embed(model=EMBED_MODEL, input="after").embeddings[0]) == 384


def test_cancelling_scribes_client_during_prompt_evaluation_cuts_the_call_and_stops_the_engine(  # type: ignore[no-untyped-def]
    engine_url: str, engine_stats,
) -> None:
    """What Esc does in the TUI: `cancel` set while no chunk has arrived yet ends the call at once,
    marked cancelled, and the engine stops reading the prompt."""
    import threading

    from scribe.models import ModelClient

    client = ModelClient(engine_url)
    client.stream_chat(FAST_WRITER, [{"role": "user", "content": "hi"}], options={"num_predict": 1, "num_ctx": 4096})
    before = settled(engine_stats)
    cancel = threading.Event()
    results = []
    worker = threading.Thread(target=lambda: results.append(client.stream_chat(
        FAST_WRITER, [{"role": "user", "content": LONG_PROMPT}], options={"num_predict": 64, "num_ctx": 4096}, cancel=cancel)))
    worker.start()
    while engine_stats()["chat_requests"] == before["chat_requests"]:
        time.sleep(0.05)
    cancel.set()
    worker.join(timeout=120)
    (result,) = results
    assert result.status == "cancelled" and result.text == "" and result.chunks == 0
    after = settled(engine_stats)
    assert after["cancelled_requests"] == before["cancelled_requests"] + 1
    assert after["tokens_generated"] == before["tokens_generated"]
