"""A model repeating itself: caught as it streams, and what came before the loop kept (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from scribe.loops import LOOPING, before_loop, prose_loop
from scribe.splice import trim_unfinished

HEALTH = "They only show you what is happening now, not what will happen next."
FIRST = "Dashboards for queue depth and job age show the backlog as it grows.\n\n"
LOOP = (FIRST + f"Fifthly, they miss the impact of a change. {HEALTH}\n\n"
        f"Sixthly, they miss the health of the system. {HEALTH}\n\nSeventhly, they miss")


def test_a_repeated_sentence_is_a_loop_once_it_is_whole() -> None:
    repeat_at = LOOP.rindex(HEALTH)
    assert prose_loop(LOOP[: repeat_at + len(HEALTH) - 1]) is None  # the repeat is still being written
    assert prose_loop(LOOP[: repeat_at + len(HEALTH)]) == LOOPING
    assert prose_loop(FIRST + "It depends. " * 3) is None  # short sentences come back on purpose
    code = "```python\nretry_with_backoff(job, attempts=5, jitter=True)  # the default policy.\n```\n"
    assert prose_loop(FIRST + code + code + "Both jobs use the same default policy here.") is None  # code is not prose


def test_what_is_kept_ends_before_the_paragraph_where_the_loop_began() -> None:
    kept = before_loop(LOOP)
    assert kept == FIRST + f"Fifthly, they miss the impact of a change. {HEALTH}\n"
    inline = f"{FIRST}{HEALTH} So look at trends. {HEALTH} So look"  # a loop inside one paragraph
    assert before_loop(inline) == f"{FIRST}{HEALTH} So look at trends.\n"
    assert before_loop(FIRST) == FIRST  # no loop: all of it


def test_an_unfinished_answer_is_trimmed_by_why_it_ended() -> None:
    assert trim_unfinished(LOOP, cut_off=True, done_reason=LOOPING) == before_loop(LOOP)
    cut = FIRST + "Then the reaper runs ag"
    assert trim_unfinished(cut, cut_off=True, done_reason="length") == FIRST
    assert trim_unfinished(LOOP, cut_off=False, done_reason="stop") == LOOP


SENTENCES = st.sampled_from([
    HEALTH, "Every write has to check that the worker still owns the job.", "It depends.",
    "e.g. a reaper that runs every few seconds returns abandoned jobs to the queue.",
])
JOINS = st.sampled_from([" ", "\n", "\n\n", "\n\n- ", "\n\n> ", "\n\n## Next\n\n", "\n\n```\ncode.\n```\n\n"])


@given(st.lists(st.tuples(SENTENCES, JOINS), max_size=12))
def test_what_is_kept_is_a_start_of_the_answer_with_no_sentence_twice(parts: list[tuple[str, str]]) -> None:
    text = "".join(sentence + join for sentence, join in parts)
    kept = before_loop(text)
    assert text.startswith(kept.rstrip())
    assert prose_loop(kept.rstrip() + " .") is None  # nothing left repeats
