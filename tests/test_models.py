"""scribe's client layer against the real engine: streaming, metrics, embeddings, and every failure;
and the registry that gives a host its implementation (the real client, or a registered one)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import MODEL, settled, start_engine, stop_engine
from fake_server import FakeModelServer

from scribe.errors import ConfigError, HostUnreachable, ModelNotFound, ModelRequestError
from scribe.models import ModelClient, is_network_host, open_server, register_server

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
    assert "gemma3:270m" in str(info.value) and "scribe pull llama9:70b" in str(info.value)
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


def test_stop_when_ends_the_stream_as_ok_with_its_reason_and_stops_the_engine(engine_url: str, engine_stats) -> None:  # type: ignore[no-untyped-def]
    asked: list[str] = []

    def stop_when(text: str) -> str | None:
        asked.append(text)
        return "enough" if len(asked) == 5 else None

    before = settled(engine_stats)
    result = ModelClient(engine_url).stream_chat(MODEL, MESSAGES, options={"num_predict": 3000}, stop_when=stop_when)
    after = settled(engine_stats)
    assert (result.status, result.error, result.metrics.done_reason) == ("ok", None, "enough")
    assert result.text == asked[-1] and len(asked) == 5  # nothing read after the reason
    assert after["tokens_generated"] - before["tokens_generated"] < 100  # the closed stream stopped generation


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


# -- the registry: which implementation a host gets ----------------------------------------------


def test_http_hosts_open_the_real_client_and_a_bare_host_port_is_http() -> None:
    for host in ("http://127.0.0.1:11434", "HTTPS://gpu-box.lan", "127.0.0.1:11434"):
        client = open_server(host)
        assert isinstance(client, ModelClient) and client.host == host
    assert is_network_host("localhost:11434") and not is_network_host("fake://writer")


def test_a_registered_scheme_opens_its_own_implementation(fake_server: FakeModelServer) -> None:
    assert open_server("fake://writer") is fake_server and open_server("FAKE://other") is fake_server
    register_server("fake", lambda host: FakeModelServer(host=host))
    assert open_server("fake://second").host == "fake://second"


def test_an_unknown_scheme_names_the_host_and_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"grpc://models\.lan: scribe knows no model server at grpc:// URLs; give an http:// URL"):
        open_server("grpc://models.lan")
