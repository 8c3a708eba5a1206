"""Conversations on the real engine: what a follow-up sends is checked in the requests the engine
received (its request log, SCRIBE_ENGINE_LOG_REQUESTS), not in what scribe meant to send. One
scenario, three short calls to the smallest writer, to keep the engine suite fast."""

from __future__ import annotations

from pathlib import Path

from cli_support import ok
from conftest import FAST_WRITER


def test_ask_continue_sends_the_earlier_turns_and_a_fork_leaves_the_original(workspace: Path, engine_requests) -> None:  # type: ignore[no-untyped-def]
    first = ok(workspace, "ask", "Name a colour.", "-m", FAST_WRITER, "--num-predict", "16", "--seed", "1", "--json").json()
    second = ok(workspace, "ask", "-c", "Name another one.", "--json").json()
    chats = [r for r in engine_requests() if r["endpoint"] == "/api/chat"]
    assert chats[-1]["model"] == FAST_WRITER and chats[-1]["options"]["num_predict"] == 16
    assert chats[-1]["messages"] == [
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": first["text"]},
        {"role": "user", "content": "Name another one."},
    ]
    assert (second["conversation_id"], second["turn"], second["status"]) == (first["conversation_id"], 2, "ok")

    before = ok(workspace, "log", "--conversation", first["conversation_id"], "--json").json()
    fork = ok(workspace, "ask", "--cid", first["conversation_id"], "--from-turn", "1", "Name a fruit instead.", "--json").json()
    assert engine_requests()[-1]["messages"] == [*chats[-1]["messages"][:2], {"role": "user", "content": "Name a fruit instead."}]
    assert fork["conversation_id"] != first["conversation_id"] and fork["turn"] == 2
    assert ok(workspace, "log", "--conversation", first["conversation_id"], "--json").json() == before
