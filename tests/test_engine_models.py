"""The bundled models through Ollama's API: names, details, templates, and the embedding model."""

from __future__ import annotations

import math

import ollama
import pytest

from conftest import EMBED_MODEL, WRITER

FAST_WRITER = "qwen2.5-coder:0.5b"


def test_tags_list_the_bundled_models_best_writer_first(engine_url: str) -> None:
    models = {m.model: m for m in ollama.Client(host=engine_url).list().models}
    assert list(models)[:4] == [WRITER, FAST_WRITER, "gemma3:270m", "all-minilm:latest"]
    writer = models[WRITER]
    assert writer.digest.startswith("cc324af0") and writer.size == 1_117_320_768
    assert (writer.details.family, writer.details.parameter_size, writer.details.quantization_level) == ("qwen2", "1.5B", "Q4_K_M")
    assert models["all-minilm:latest"].details.family == "bert"


def test_show_reports_context_length_template_and_capabilities(engine_url: str) -> None:
    client = ollama.Client(host=engine_url)
    writer = client.show(WRITER)
    assert writer.modelinfo["qwen2.context_length"] == 32768
    assert "<|im_start|>" in writer.template and writer.capabilities == ["completion", "embedding"]
    embedder = client.show(EMBED_MODEL)
    assert embedder.modelinfo["bert.context_length"] == 512
    assert embedder.capabilities == ["embedding"] and not embedder.template


def test_the_writer_answers_in_its_chat_format(engine_url: str) -> None:
    """ChatML turns: the reply ends on <|im_end|> (done_reason stop) and no marker leaks into it."""
    reply = ollama.Client(host=engine_url).chat(
        model=FAST_WRITER, messages=[{"role": "user", "content": "Reply with the single word: ready"}],
        options={"num_predict": 16, "seed": 1, "temperature": 0},
    )
    assert reply.done_reason == "stop"
    assert "ready" in reply.message.content.lower()
    assert "<|im" not in reply.message.content


def test_the_writer_keeps_the_json_schema(engine_url: str) -> None:
    schema = {"type": "object", "properties": {"severity": {"type": "string", "enum": ["low", "high"]}}, "required": ["severity"]}
    reply = ollama.Client(host=engine_url).chat(
        model=FAST_WRITER, messages=[{"role": "user", "content": "Is a double charge high or low severity? Answer in JSON."}],
        format=schema, options={"num_predict": 32, "seed": 3},
    )
    import json

    assert json.loads(reply.message.content)["severity"] in ("low", "high")


def test_the_embedding_model_embeds_and_refuses_chat(engine_url: str) -> None:
    client = ollama.Client(host=engine_url)
    vectors = client.embed(
        model=EMBED_MODEL,
        input=["Kafka consumer retries and dead letter queues", "retrying Kafka messages and DLQ topics", "a recipe for lemon cake"],
    ).embeddings
    assert {len(v) for v in vectors} == {384}
    assert all(math.isclose(math.fsum(x * x for x in v), 1.0, rel_tol=1e-3) for v in vectors)
    dot = lambda a, b: sum(x * y for x, y in zip(a, b))  # noqa: E731
    assert dot(vectors[0], vectors[1]) > dot(vectors[0], vectors[2]) + 0.2
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model=EMBED_MODEL, messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 400 and "does not support chat" in info.value.error


def test_an_input_longer_than_the_embedding_context_is_cut_not_fatal(engine_url: str) -> None:
    """all-MiniLM has 512 positions; an ~800-token input once crashed the engine."""
    long_text = " ".join(f"word{i} retries idempotency" for i in range(400))
    client = ollama.Client(host=engine_url)
    assert len(client.embed(model=EMBED_MODEL, input=[long_text, "short"]).embeddings) == 2
    assert len(client.embed(model=EMBED_MODEL, input="still serving").embeddings[0]) == 384
