"""A model repeating itself, caught while it streams (pure).

A small writer at a low temperature can fall into a loop: the same sentence again and again
("Sixthly, dashboards don't tell you ... They only show you what's happening now, not what will
happen in the future."), or the same critique issue, until the token limit ends it. The task layer
ends such a stream at the first repeat (done reason LOOPING), which spares the author the wait,
and what goes into the draft is what came before the loop (`before_loop`).
"""

from __future__ import annotations

import re

LOOPING = "looping"
# A shorter sentence ("It depends.", "Then it fails.") may come back on purpose.
MIN_SENTENCE_CHARS = 40
# How far back a sentence's end still makes the stream worth reading again: more than a streamed
# piece holds, so each sentence is read whole at least once, and few pieces are read for nothing.
_RECENT_CHARS = 32


def _repeated_sentence(text: str) -> str | None:
    """The first prose sentence of `text` (long enough to matter) that an earlier one repeats word for word."""
    from scribe.chunking import prose_sentences

    seen: set[str] = set()
    for sentence in prose_sentences(text):
        if len(sentence) < MIN_SENTENCE_CHARS:
            continue
        if sentence in seen:
            return sentence
        seen.add(sentence)
    return None


def prose_loop(text: str) -> str | None:
    """LOOPING once the prose streamed so far holds a sentence twice, else None. Read only when a
    sentence ended lately: a repeat is whole then, and the stream is not parsed at every piece."""
    if not any(mark in text[-_RECENT_CHARS:] for mark in ".!?"):
        return None
    return LOOPING if _repeated_sentence(text) is not None else None


def before_loop(text: str) -> str:
    """`text` up to where it began repeating itself: before the paragraph that holds the first
    repeat, or, when the repeat is in the paragraph it repeats, before the repeat itself. Cut
    again while what is left still repeats a sentence: where a sentence ends can depend on what
    follows it ("next. e.g. a" reads as one sentence), so a cut can bare a repeat. Text with no
    repeat is returned whole."""
    while (sentence := _repeated_sentence(text)) is not None:
        words = r"\s+".join(re.escape(word) for word in sentence.split(" "))
        found = list(re.finditer(words, text))
        if len(found) < 2:  # the sentence as `prose_sentences` reads it is not in the text twice as written
            return text
        first, again = found[:2]
        paragraph = text.rfind("\n\n", 0, again.start())
        cut = paragraph if paragraph >= first.end() else again.start()
        text = text[:cut].rstrip() + "\n"
    return text
