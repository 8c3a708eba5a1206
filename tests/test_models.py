"""scribe's client layer against the real engine: streaming, metrics, embeddings, and every failure."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path

import pytest

from conftest import MODEL, settled, start_engine, stop_engine
from scribe.errors import HostUnreachable, ModelNotFound, ModelRequestError
from scribe.models import AsyncModelClient, ModelClient

MESSAGES = [{"role": "user", "content": "Explain tenant isolation in two sentences."}]
OPTIONS = {"num_predict": 32, "seed": 11}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_stream_chat_keeps_metrics_and_clocks_ttft(engine_url: str) -> None:
    pieces: list[str] = []
    result = ModelClient(engine_url).stream_chat(MODEL, MESSAGES, options=OPTIONS, on_token=pieces.append)
    assert result.status == "ok" and result.error is None
    assert result.text == "".join(pieces) and result.text
    m = result.metrics
    assert m.eval_count == result.chunks
    assert 0 < m.ttft_ms <= m.wall_ms
    assert m.prompt_tps and m.prompt_tps > 0 and m.eval_tps and m.eval_tps > 0
    assert m.total_duration_ns and m.load_duration_ns is not None
    assert result.log_values().eval_tps == m.eval_tps


def test_list_models_and_digest(engine_url: str) -> None:
    client = ModelClient(engine_url)
    (info,) = [m for m in client.list_models() if m.name == MODEL]
    assert (info.name, info.family, info.quantization) == (MODEL, "gemma3", "Q4_K_M")
    assert client.digest(MODEL) == info.digest and len(info.digest) == 64
    assert client.digest("absent:1b") is None


def test_embed_batches_in_order(engine_url: str, engine_stats) -> None:  # type: ignore[no-untyped-def]
    client = ModelClient(engine_url)
    texts = [f"chunk {i} about job schedulers and leases" for i in range(70)]
    before = engine_stats()
    vectors = client.embed(MODEL, texts, batch_size=32)
    after = engine_stats()
    assert len(vectors) == 70 and {len(v) for v in vectors} == {640}
    assert after["embed_requests"] - before["embed_requests"] == 3
    assert after["embed_inputs"] - before["embed_inputs"] == 70
    assert client.embed(MODEL, [texts[5]])[0] == pytest.approx(vectors[5], abs=1e-4)


def test_unreachable_host_names_it_and_the_fix() -> None:
    host = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(HostUnreachable) as info:
        ModelClient(host).stream_chat(MODEL, MESSAGES)
    message = str(info.value)
    assert host in message and "scribe serve" in message and "ollama serve" in message
    with pytest.raises(HostUnreachable):
        ModelClient(host).embed(MODEL, ["x"])


def test_unknown_model_lists_models_and_suggests_pull(engine_url: str) -> None:
    with pytest.raises(ModelNotFound) as info:
        ModelClient(engine_url).stream_chat("llama9:70b", MESSAGES)
    assert "gemma3:270m" in str(info.value) and "ollama pull llama9:70b" in str(info.value)
    with pytest.raises(ModelNotFound):
        ModelClient(engine_url).embed("llama9:70b", ["x"])


def test_refused_request_is_a_clear_error(engine_url: str) -> None:
    with pytest.raises(ModelRequestError, match="refused"):
        ModelClient(engine_url).stream_chat(MODEL, MESSAGES, format={"type": "object", "properties": 3})


def test_cancel_keeps_partial_text_and_stops_the_engine(engine_url: str, engine_stats) -> None:  # type: ignore[no-untyped-def]
    cancel = threading.Event()
    seen: list[str] = []

    def on_token(piece: str) -> None:
        seen.append(piece)
        if len(seen) == 5:
            cancel.set()

    before = settled(engine_stats)
    result = ModelClient(engine_url).stream_chat(MODEL, MESSAGES, options={"num_predict": 3000}, on_token=on_token, cancel=cancel)
    time.sleep(1.0)
    after = engine_stats()
    assert result.status == "cancelled"
    assert result.text == "".join(seen) and len(seen) == 5
    assert after["cancelled_streams"] == before["cancelled_streams"] + 1
    assert after["tokens_generated"] - before["tokens_generated"] < 100


@pytest.mark.engine
def test_engine_killed_mid_stream_keeps_partial_and_fails(tmp_path: Path) -> None:
    """A real fault: the server process dies with SIGKILL while tokens are streaming."""
    proc, url = start_engine(tmp_path)
    try:
        seen: list[str] = []

        def on_token(piece: str) -> None:
            seen.append(piece)
            if len(seen) == 5:
                proc.kill()

        result = ModelClient(url).stream_chat(MODEL, MESSAGES, options={"num_predict": 3000}, on_token=on_token)
    finally:
        stop_engine(proc)
    assert result.status == "failed"
    assert url in (result.error or "")
    assert result.text == "".join(seen) and len(seen) >= 5


def test_async_client_streams_embeds_and_cancels(engine_url: str) -> None:
    async def go() -> None:
        client = AsyncModelClient(engine_url)
        result = await client.stream_chat(MODEL, MESSAGES, options=OPTIONS)
        assert result.status == "ok" and result.metrics.eval_count == result.chunks and result.metrics.ttft_ms
        vectors = await client.embed(MODEL, ["a", "b", "c"], batch_size=2)
        assert len(vectors) == 3
        cancel = threading.Event()
        cancelled = await client.stream_chat(
            MODEL, MESSAGES, options={"num_predict": 3000}, on_token=lambda _: cancel.set(), cancel=cancel
        )
        assert cancelled.status == "cancelled" and cancelled.text
        with pytest.raises(ModelNotFound):
            await client.stream_chat("absent:1b", MESSAGES)

    asyncio.run(go())


def test_async_task_cancellation_closes_the_stream(engine_url: str, engine_stats) -> None:  # type: ignore[no-untyped-def]
    async def go() -> None:
        client = AsyncModelClient(engine_url)
        started = asyncio.Event()
        task = asyncio.create_task(
            client.stream_chat(MODEL, MESSAGES, options={"num_predict": 3000}, on_token=lambda _: started.set())
        )
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    before = settled(engine_stats)  # an earlier test's closed stream may still be counted
    asyncio.run(go())
    after = settled(engine_stats)
    assert after["cancelled_streams"] == before["cancelled_streams"] + 1
    assert after["tokens_generated"] - before["tokens_generated"] < 300
