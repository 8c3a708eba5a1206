"""num_ctx sized to the call: the pure choice, the CLI against the fake server (fast), and the real
engine: a long draft gets a larger window, and one longer than the model takes fails with the count."""

from __future__ import annotations

import re
from pathlib import Path

from cli_support import ok, one_line_error, scribe
from conftest import MODEL
from fake_server import FakeModelServer

from scribe.config import DEFAULT_MAX_NUM_CTX
from scribe.grounding import MIN_NUM_CTX, ContextLimits, choose_num_ctx, context_needed, overflow_message

WORDS = "Retries need idempotency keys, and the keys need a store that outlives the request. "
# Sentences of a draft whose expand prompt needs an 8,192 window: about 4,200 of gemma3's tokens,
# just past the 4,096 that expand used to pin (each token more costs the engine test time).
LONG = 215


def long_draft(ws: Path, sentences: int) -> Path:
    """A draft of `sentences` sentences under one heading."""
    path = ws / "notes" / "drafts" / "long.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# A long draft\n\n## Retries\n\n" + WORDS * sentences + "\n", encoding="utf-8")
    return path


def logged_options(ws: Path) -> dict:
    (run,) = ok(ws, "log", "--json").json()
    return ok(ws, "log", "show", str(run["id"]), "--json").json()["options"]


# -- the choice (pure) ---------------------------------------------------------------------------


def test_the_window_is_the_smallest_power_of_two_that_holds_the_call() -> None:
    limits = ContextLimits(model=32768, cap=16384)
    assert choose_num_ctx(100, limits) == MIN_NUM_CTX == 2048
    assert choose_num_ctx(2048, limits) == 2048
    assert choose_num_ctx(2049, limits) == 4096
    assert choose_num_ctx(9000, limits) == 16384
    assert choose_num_ctx(40000, limits) == 16384  # the cap; the sources are cut to fit


def test_the_ceiling_is_the_smaller_of_the_model_and_the_cap() -> None:
    assert ContextLimits(model=8192, cap=16384).ceiling == 8192
    assert ContextLimits(model=32768, cap=16384).ceiling == 16384
    assert ContextLimits(model=None, cap=12000).ceiling == 12000
    assert choose_num_ctx(9000, ContextLimits(model=None, cap=12000)) == 12000


def test_the_need_counts_the_tokenizer_margin_and_the_reserved_output() -> None:
    assert context_needed(1000, 512) == 1200 + 512
    assert context_needed(1000, 512, source_tokens=500) == 1800 + 512


def test_an_overflow_says_how_far_over_and_what_to_change() -> None:
    capped = overflow_message("critique", 20000, 1024, 16384, ContextLimits(model=32768, cap=16384), pinned=False)
    assert "3,616 more than max_num_ctx = 16,384" in capped and "--section" in capped and "raise max_num_ctx" in capped
    assert "up to 32,768" in capped
    model = overflow_message("critique", 40000, 1024, 32768, ContextLimits(model=32768, cap=65536), pinned=False)
    assert "7,232 more than the model's context length, 32,768" in model and "max_num_ctx" not in model
    pinned = overflow_message("critique", 3000, 512, 2048, ContextLimits(model=32768, cap=16384), pinned=True)
    assert "952 more than num_ctx = 2048, which is pinned" in pinned


# -- the CLI against the fake server ----------------------------------------------------------------


def test_a_short_draft_gets_the_smallest_window_and_the_log_records_it(fake_workspace: Path) -> None:
    draft = long_draft(fake_workspace, 20)
    ok(fake_workspace, "expand", str(draft), "-k", "0")
    assert logged_options(fake_workspace)["num_ctx"] == MIN_NUM_CTX


def test_a_long_draft_gets_a_larger_window(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    draft = long_draft(fake_workspace, LONG)
    ok(fake_workspace, "expand", str(draft), "-k", "0")
    assert logged_options(fake_workspace)["num_ctx"] == 8192
    assert fake_server.chats[0].options is not None and fake_server.chats[0].options["num_ctx"] == 8192


def test_a_pinned_num_ctx_is_sent_as_given(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    draft = long_draft(fake_workspace, 20)
    ok(fake_workspace, "expand", str(draft), "-k", "0", "--model", f"{fake_server.chat_model}@num_ctx=3000")
    assert logged_options(fake_workspace)["num_ctx"] == 3000


def test_the_window_stops_at_the_models_context_length(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    fake_server.context_length = 4096
    draft = long_draft(fake_workspace, LONG)
    error = one_line_error(scribe(fake_workspace, "expand", str(draft), "-k", "0"))
    assert "more than the model's context length, 4,096" in error and "--section" in error
    assert not fake_server.chats


def test_max_num_ctx_in_scribe_toml_caps_the_window(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    with (fake_workspace / "scribe.toml").open("a", encoding="utf-8") as toml:
        toml.write("max_num_ctx = 4096\n")
    draft = long_draft(fake_workspace, LONG)
    error = one_line_error(scribe(fake_workspace, "expand", str(draft), "-k", "0"))
    assert "more than max_num_ctx = 4,096 in scribe.toml" in error and "raise max_num_ctx" in error
    assert not fake_server.chats


def test_the_default_cap_is_a_setting() -> None:
    from scribe.config import load_settings

    assert load_settings(Path("/nonexistent"), env={}).max_num_ctx == DEFAULT_MAX_NUM_CTX


# -- the real engine -----------------------------------------------------------------------------


def test_a_long_draft_gets_a_larger_num_ctx_on_the_engine(workspace: Path) -> None:
    """The engine used the larger window: it read more prompt tokens than the smaller one holds."""
    draft = long_draft(workspace, LONG)
    ok(workspace, "expand", str(draft), "-k", "0", "--model", f"{MODEL}@num_predict=8")
    (run,) = ok(workspace, "log", "--json").json()
    shown = ok(workspace, "log", "show", str(run["id"]), "--json").json()
    assert shown["status"] == "ok" and shown["options"]["num_ctx"] == 8192
    assert 4096 < shown["prompt_eval_count"] < 8192


def test_a_draft_longer_than_the_model_takes_fails_with_the_count(workspace: Path) -> None:
    """The engine's /api/show gives the model's 32,768: past it, no call is made and the error counts."""
    with (workspace / "scribe.toml").open("a", encoding="utf-8") as toml:
        toml.write("max_num_ctx = 65536\n")
    draft = long_draft(workspace, 2500)
    error = one_line_error(scribe(workspace, "expand", str(draft), "-k", "0"))
    over = re.search(r"output, ([\d,]+) more than the model's context length, 32,768", error)
    assert over is not None and int(over.group(1).replace(",", "")) > 0, error
    assert ok(workspace, "log", "--json").json() == []

