"""No request can take the engine down: a burst of hostile requests, then a normal one that must answer.

The engine here is its own process (not the session's), so a crash would show as a refused request.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import ollama
import pytest

from conftest import EMBED_MODEL, MODEL, start_engine, stop_engine

pytestmark = pytest.mark.engine  # these start engines of their own

HUGE_PROMPT = " ".join(f"word{i}" for i in range(30_000))


@pytest.fixture(scope="module")
def lone_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = start_engine(tmp_path_factory.mktemp("hostile"))
    yield url
    stop_engine(proc)


def chat(model: str = MODEL, content: str = "hi", **options: object) -> dict:
    return {"model": model, "stream": False, "messages": [{"role": "user", "content": content}],
            "options": {"num_predict": 4, **options}}


HOSTILE: list[tuple[str, str, bytes]] = [
    ("huge num_ctx", "/api/chat", json.dumps(chat(num_ctx=1_000_000_000)).encode()),
    ("huge prompt", "/api/chat", json.dumps(chat(content=HUGE_PROMPT)).encode()),
    # unbounded (as Ollama reads a negative num_predict) until the context is full: a small context keeps it short
    ("negative num_predict", "/api/chat", json.dumps(chat(num_predict=-5, num_ctx=256)).encode()),
    ("negative num_ctx", "/api/chat", json.dumps(chat(num_ctx=-1)).encode()),
    ("absurd sampling", "/api/chat", json.dumps(chat(temperature=-3, top_k=-1, top_p=7, min_p=-2, repeat_penalty=-1)).encode()),
    ("seed past 64 bits", "/api/chat", json.dumps(chat(seed=2**70)).encode()),
    ("options of the wrong type", "/api/chat", json.dumps(chat(temperature="hot", num_ctx=[1])).encode()),
    ("lone surrogate", "/api/chat", b'{"model": "gemma3:270m", "stream": false, "messages": [{"role": "user", "content": "\\ud800 hi"}], "options": {"num_predict": 2}}'),
    ("invalid UTF-8", "/api/chat", b'{"model": "gemma3:270m", "messages": [{"role": "user", "content": "\xff\xfe"}]}'),
    ("empty embed list", "/api/embed", json.dumps({"model": EMBED_MODEL, "input": []}).encode()),
    ("empty embed string", "/api/embed", json.dumps({"model": EMBED_MODEL, "input": ""}).encode()),
    ("oversized embed input", "/api/embed", json.dumps({"model": EMBED_MODEL, "input": [HUGE_PROMPT] * 3}).encode()),
    ("embed with a chat model, huge", "/api/embed", json.dumps({"model": MODEL, "input": HUGE_PROMPT}).encode()),
    ("bad format", "/api/chat", json.dumps({**chat(), "format": {"type": "object", "properties": 5}}).encode()),
    ("unknown model", "/api/chat", json.dumps(chat(model="nope:9b")).encode()),
    ("not JSON", "/api/chat", b"{{{{"),
    ("array body", "/api/chat", b"[1, 2]"),
]


def test_a_burst_of_hostile_requests_leaves_the_engine_serving(lone_engine: str) -> None:
    parts = urlsplit(lone_engine)
    idle = [socket.create_connection((parts.hostname, parts.port)) for _ in range(50)]
    try:
        statuses = {}
        for name, path, body in HOSTILE:
            try:
                response = httpx.post(f"{lone_engine}{path}", content=body, timeout=240)
            except httpx.HTTPError as exc:
                raise AssertionError(f"{name}: {exc!r}") from exc
            statuses[name] = response.status_code
            assert response.status_code < 500, (name, response.status_code, response.text[:300])
            if response.status_code >= 400:
                assert response.json()["error"], name
        reply = ollama.Client(host=lone_engine).chat(model=MODEL, messages=[{"role": "user", "content": "Say hello."}],
                                                     options={"num_predict": 8})
        assert reply.message.content.strip()
        assert len(ollama.Client(host=lone_engine).embed(model=EMBED_MODEL, input="still here").embeddings[0]) == 384
    finally:
        for sock in idle:
            sock.close()
    assert statuses["unknown model"] == 404 and statuses["not JSON"] == 400 and statuses["negative num_ctx"] == 400


def test_num_ctx_past_the_trained_length_is_clamped(lone_engine: str) -> None:
    """As Ollama clamps: the request is served with the model's own context length."""
    client = ollama.Client(host=lone_engine)
    reply = client.generate(model=MODEL, prompt="hi", options={"num_ctx": 10_000_000, "num_predict": 2})
    assert reply.done
    trained = client.show(MODEL).modelinfo["gemma3.context_length"]
    running = {m["model"]: m for m in httpx.get(f"{lone_engine}/api/ps").json()["models"]}
    assert running[MODEL]["context_length"] == trained == 32768


def test_a_prompt_longer_than_the_context_keeps_its_newest_tokens(lone_engine: str) -> None:
    reply = ollama.Client(host=lone_engine).generate(model=MODEL, prompt=HUGE_PROMPT, options={"num_ctx": 512, "num_predict": 4})
    assert reply.prompt_eval_count <= 512


def test_smaller_contexts_share_the_loaded_one(lone_engine: str) -> None:
    """The pool bound: one chat context per model, as big as the largest ask so far; smaller asks
    reuse it (no reload) and still see only their own window."""
    client = ollama.Client(host=lone_engine)
    client.generate(model=MODEL, prompt="hi", options={"num_ctx": 2048, "num_predict": 1})
    loads = httpx.get(f"{lone_engine}/scribe/stats").json()["loads"]
    prompt = HUGE_PROMPT[:8000]  # longer than every window asked for below
    for num_ctx in (256, 1024, 2048, 128):
        reply = client.generate(model=MODEL, prompt=prompt, options={"num_ctx": num_ctx, "num_predict": 2})
        assert reply.prompt_eval_count <= num_ctx
    assert httpx.get(f"{lone_engine}/scribe/stats").json()["loads"] == loads
    running = {m["model"]: m for m in httpx.get(f"{lone_engine}/api/ps").json()["models"]}
    assert running[MODEL]["context_length"] >= 2048
