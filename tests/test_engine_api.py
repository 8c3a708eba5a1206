"""The engine speaks Ollama's API: the official `ollama` client, sync and async, against `scribe serve`."""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time

import httpx
import jsonschema
import ollama
import pytest

from conftest import MODEL

SHORT = {"num_predict": 24, "seed": 7, "temperature": 0.7}
MESSAGES = [{"role": "user", "content": "Name three causes of slow SQL queries."}]


def test_version_and_root(engine_url: str) -> None:
    assert httpx.get(f"{engine_url}/api/version").json()["version"]
    assert httpx.get(engine_url).text == "Ollama is running"


def test_tags_have_ollama_shape(engine_url: str) -> None:
    listing = ollama.Client(host=engine_url).list()
    (model,) = [m for m in listing.models if m.model == MODEL]
    assert model.size > 100_000_000
    assert len(model.digest) == 64
    assert model.modified_at is not None
    assert model.details.family == "gemma3"
    assert model.details.quantization_level == "Q4_K_M"
    assert model.details.parameter_size == "270M"


def test_show_describes_the_model(engine_url: str) -> None:
    shown = ollama.Client(host=engine_url).show(MODEL)
    assert shown.details.family == "gemma3"
    assert shown.modelinfo["general.architecture"] == "gemma3"
    assert "completion" in shown.capabilities and "embedding" in shown.capabilities


def test_streamed_chat_metrics_are_real_and_consistent(engine_url: str) -> None:
    chunks = list(ollama.Client(host=engine_url).chat(model=MODEL, messages=MESSAGES, options=SHORT, stream=True))
    final = chunks[-1]
    tokens = [c for c in chunks if not c.done]
    assert final.done and not any(c.done for c in tokens)
    assert final.eval_count == len(tokens)
    assert 0 < final.eval_count <= SHORT["num_predict"]
    assert final.done_reason in ("stop", "length")
    for name in ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration"):
        assert getattr(final, name) > 0, name
    assert final.prompt_eval_count > 5
    assert final.total_duration >= final.prompt_eval_duration + final.eval_duration
    assert "".join(c.message.content for c in tokens).strip()


def test_non_streamed_chat_and_generate(engine_url: str) -> None:
    client = ollama.Client(host=engine_url)
    reply = client.chat(model=MODEL, messages=MESSAGES, options=SHORT)
    assert reply.done and reply.message.role == "assistant" and reply.message.content
    assert reply.eval_count > 0
    generated = client.generate(model=MODEL, prompt="Kafka retries are", options=SHORT)
    assert generated.done and generated.response and generated.context
    assert generated.prompt_eval_count + generated.eval_count == len(generated.context)


def test_streamed_generate_raw(engine_url: str) -> None:
    parts = list(ollama.Client(host=engine_url).generate(model=MODEL, prompt="SELECT * FROM", raw=True, options=SHORT, stream=True))
    assert parts[-1].done and parts[-1].eval_count == len(parts) - 1


def test_same_seed_same_text_and_num_predict_caps(engine_url: str) -> None:
    client = ollama.Client(host=engine_url)
    first = client.chat(model=MODEL, messages=MESSAGES, options=SHORT)
    second = client.chat(model=MODEL, messages=MESSAGES, options=SHORT)
    assert first.message.content == second.message.content
    capped = client.chat(model=MODEL, messages=MESSAGES, options={**SHORT, "num_predict": 5})
    assert capped.eval_count == 5 and capped.done_reason == "length"


def test_stop_strings_end_generation(engine_url: str) -> None:
    client = ollama.Client(host=engine_url)
    free = client.generate(model=MODEL, prompt="1, 2, 3, 4, 5, 6, 7,", raw=True, options={"num_predict": 20, "temperature": 0})
    assert " 9" in free.response, free.response
    stopped = client.generate(model=MODEL, prompt="1, 2, 3, 4, 5, 6, 7,", raw=True, options={"num_predict": 20, "temperature": 0, "stop": [" 9"]})
    assert stopped.done_reason == "stop"
    assert stopped.response == free.response[: free.response.index(" 9")]


SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "severity": {"type": "string", "enum": ["low", "medium", "high"]}},
    "required": ["title", "severity"],
}


def test_format_json_schema_returns_valid_json(engine_url: str) -> None:
    reply = ollama.Client(host=engine_url).chat(
        model=MODEL, messages=[{"role": "user", "content": "Report one problem with this SQL: SELECT * FROM orders"}],
        format=SCHEMA, options={"num_predict": 200, "seed": 1},
    )
    jsonschema.validate(json.loads(reply.message.content), SCHEMA)


def test_format_json_constrains_output_to_json(engine_url: str) -> None:
    """The grammar allows only JSON; a reply that ends by itself (not cut by num_predict) parses."""
    client = ollama.Client(host=engine_url)
    finished = []
    for seed in range(6):
        reply = client.generate(
            model=MODEL, prompt="Give a JSON object describing a Kafka topic with its name and partition count.",
            format="json", options={"num_predict": 300, "seed": seed, "temperature": 0.7, "repeat_penalty": 1.0},
        )
        assert reply.response.lstrip().startswith("{")
        if reply.done_reason == "stop":
            finished.append(json.loads(reply.response))
    assert finished and all(isinstance(obj, dict) for obj in finished)


VERDICT = {
    "type": "object",
    "properties": {"verdict": {"type": "string", "enum": ["keep", "cut", "rewrite"]}, "reason": {"type": "string", "maxLength": 40}},
    "required": ["verdict", "reason"],
}


def test_schema_holds_when_the_models_own_choices_break_it(engine_url: str) -> None:
    """At temperature 1.6 most free draws do not fit the schema, so the engine's draw-check-then-mask
    sampler takes its masked path on many tokens; every reply must still be schema-valid JSON, with
    no raw newline inside a string (llama-cpp-python's own schema grammar let those through)."""
    client = ollama.Client(host=engine_url)
    finished = 0
    for seed in range(4):
        reply = client.chat(
            model=MODEL, messages=[{"role": "user", "content": "Should this paragraph about Kafka retries stay? Answer freely."}],
            format=VERDICT, options={"num_predict": 160, "seed": seed, "temperature": 1.6, "top_k": 200, "top_p": 1.0},
        )
        assert reply.message.content.startswith("{")
        if reply.done_reason == "stop":
            jsonschema.validate(json.loads(reply.message.content), VERDICT)
            finished += 1
    assert finished >= 3  # a 40-character reason closes well within 160 tokens

def test_embed_batch_of_32(engine_url: str) -> None:
    texts = [f"note {i}: retries, idempotency and dead letter queues" for i in range(32)]
    response = ollama.Client(host=engine_url).embed(model=MODEL, input=texts)
    assert len(response.embeddings) == 32
    assert {len(v) for v in response.embeddings} == {640}
    assert all(math.isclose(math.fsum(x * x for x in v), 1.0, rel_tol=1e-3) for v in response.embeddings)
    assert response.prompt_eval_count > 32


def test_embed_single_string_and_legacy_endpoint(engine_url: str) -> None:
    client = ollama.Client(host=engine_url)
    assert len(client.embed(model=MODEL, input="tenant isolation").embeddings) == 1
    legacy = client.embeddings(model=MODEL, prompt="tenant isolation")
    assert len(legacy.embedding) == 640


def test_similar_texts_embed_closer(engine_url: str) -> None:
    vecs = ollama.Client(host=engine_url).embed(
        model=MODEL,
        input=["Kafka consumer retries and dead letter queues", "retrying Kafka messages and DLQ topics", "a recipe for lemon cake"],
    ).embeddings
    dot = lambda a, b: sum(x * y for x, y in zip(a, b))  # noqa: E731
    assert dot(vecs[0], vecs[1]) > dot(vecs[0], vecs[2])


def test_unknown_model_is_404(engine_url: str) -> None:
    with pytest.raises(ollama.ResponseError) as info:
        ollama.Client(host=engine_url).chat(model="nope:1b", messages=MESSAGES)
    assert info.value.status_code == 404
    assert "not found" in info.value.error


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/chat", b"{not json"),
        ("/api/chat", json.dumps({"messages": MESSAGES}).encode()),
        ("/api/chat", json.dumps({"model": MODEL, "messages": "hi"}).encode()),
        ("/api/chat", json.dumps({"model": MODEL, "messages": MESSAGES, "options": {"num_predict": "many"}}).encode()),
        ("/api/chat", json.dumps({"model": MODEL, "messages": MESSAGES, "format": 42}).encode()),
        ("/api/embed", json.dumps({"model": MODEL, "input": [1, 2]}).encode()),
        ("/api/generate", json.dumps({"model": MODEL, "prompt": "x", "keep_alive": "soon"}).encode()),
    ],
)
def test_bad_requests_are_400_with_error(engine_url: str, path: str, body: bytes) -> None:
    response = httpx.post(f"{engine_url}{path}", content=body, timeout=30)
    assert response.status_code == 400
    assert response.json()["error"]


def test_two_concurrent_streams_both_complete(engine_url: str) -> None:
    results: dict[int, list] = {}

    def run(i: int) -> None:
        client = ollama.Client(host=engine_url)
        results[i] = list(client.chat(model=MODEL, messages=MESSAGES, options={**SHORT, "seed": i}, stream=True))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(results) == [0, 1]
    for chunks in results.values():
        assert chunks[-1].done and chunks[-1].eval_count == len(chunks) - 1


def test_closing_a_stream_stops_generation(engine_url: str, engine_stats) -> None:  # type: ignore[no-untyped-def]
    from conftest import settled

    before = settled(engine_stats)
    stream = ollama.Client(host=engine_url).chat(model=MODEL, messages=MESSAGES, options={"num_predict": 2000}, stream=True)
    for i, _ in enumerate(stream):
        if i == 3:
            break
    stream.close()
    time.sleep(0.5)
    settled = engine_stats()
    time.sleep(1.0)
    after = engine_stats()
    assert after["cancelled_streams"] == before["cancelled_streams"] + 1
    assert after["tokens_generated"] == settled["tokens_generated"]
    assert after["tokens_generated"] - before["tokens_generated"] < 200


def test_keep_alive_zero_unloads_and_ps_lists_loaded(engine_url: str) -> None:
    client = ollama.Client(host=engine_url)
    loaded = lambda: [m.model for m in client.ps().models]  # noqa: E731 - other tests load other models
    client.chat(model=MODEL, messages=MESSAGES, options=SHORT)
    assert MODEL in loaded()
    unload = client.chat(model=MODEL, messages=[], keep_alive=0)
    assert unload.done_reason == "unload"
    assert MODEL not in loaded()
    client.chat(model=MODEL, messages=MESSAGES, options=SHORT)  # loads again on demand
    assert MODEL in loaded()


def test_async_client_stream_and_embed(engine_url: str) -> None:
    async def go() -> tuple[list, list]:
        client = ollama.AsyncClient(host=engine_url)
        chunks = [c async for c in await client.chat(model=MODEL, messages=MESSAGES, options=SHORT, stream=True)]
        reply = await client.chat(model=MODEL, messages=MESSAGES, options=SHORT)
        embedded = await client.embed(model=MODEL, input=["a", "b"])
        assert reply.message.content
        return chunks, embedded.embeddings

    chunks, vectors = asyncio.run(go())
    assert chunks[-1].done and chunks[-1].eval_count == len(chunks) - 1
    assert len(vectors) == 2


def test_unknown_route_is_404(engine_url: str) -> None:
    assert httpx.get(f"{engine_url}/api/nothing").status_code == 404
