"""Replays (issue 16 item 4): how often a model proposes edits where the author, judging an earlier
model's suggestions, kept one, and where the author refused one; checked on handmade spans and hunks.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from scribe.bench.replay import (
    Judged,
    Span,
    hits,
    judge_spans,
    judged_runs,
    replay_rows,
)
from scribe.bench.stats import wilson_interval
from scribe.edits import make_hunk
from scribe.runlog import Decision, RunRecord
from scribe.runmeta import RunMeta

# --- the agreement, on handmade spans and hunks -------------------------------------------------


@pytest.mark.parametrize(("start", "end", "meets"), [
    (15, 25, True),  # overlaps the end
    (5, 11, True),  # overlaps the start
    (12, 14, True),  # inside
    (5, 25, True),  # around
    (0, 10, False),  # ends where the span starts: neighbouring words
    (20, 30, False),  # starts where it ends
    (21, 30, False),
])
def test_spans_with_words_meet_when_they_share_a_character(start: int, end: int, meets: bool) -> None:
    assert Span(10, 20).meets(start, end) is meets


@pytest.mark.parametrize(("span", "start", "end", "meets"), [
    (Span(10, 10), 10, 10, True),  # an insertion at the same spot
    (Span(10, 10), 11, 11, False),  # one character on
    (Span(10, 10), 10, 15, True),  # a rewrite of the words right after it
    (Span(10, 10), 5, 10, True),  # of the words right before it
    (Span(10, 10), 5, 15, True),  # of words around it
    (Span(10, 10), 11, 15, False),
    (Span(10, 20), 10, 10, True),  # an insertion at the start of the author's span
    (Span(10, 20), 15, 15, True),  # inside it
    (Span(10, 20), 20, 20, True),  # at its end
    (Span(10, 20), 21, 21, False),
])
def test_an_insertion_meets_an_edit_at_its_place(span: Span, start: int, end: int, meets: bool) -> None:
    assert span.meets(start, end) is meets


TEXT = "Networks drop responses. The client retries. Nobody can tell. So retries stay."


def _at(words: str, new: str, *, after: bool = False) -> Any:
    """The hunk replacing `words` in TEXT with `new`, or inserting `new` right after them."""
    start = TEXT.index(words)
    end = start + len(words)
    return make_hunk(TEXT, end, end, new) if after else make_hunk(TEXT, start, end, new)


def _span(words: str, *, after: bool = False) -> Span:
    start = TEXT.index(words)
    return Span(start + len(words), start + len(words)) if after else Span(start, start + len(words))


def test_hits_counts_the_spans_some_proposed_hunk_edits_each_once() -> None:
    accepted = [_span("drop"), _span("The client retries.", after=True), _span("Nobody can tell.")]
    proposed = [
        _at("drop responses", "lose replies"),  # over the first span: a hit
        _at("drop", "miss"),  # the same span again: still one hit
        _at("The client retries.", " Again and again.", after=True),  # an insertion at the same spot: a hit
        _at("So", "Thus"),  # nothing the author judged
    ]
    assert hits(accepted, proposed) == 2
    assert hits(accepted, [_at("Networks", "Links")]) == 0  # next to "drop", not on it
    assert hits(accepted, [_at("Nobody", "No one")]) == 1
    assert hits([_span("The client retries.", after=True)], [_at("The client retries. ", "Then ", after=True)]) == 0  # a space further on
    assert hits([], proposed) == 0


def _record(run_id: int, task: str, output: str, *, replay_of: int | None = None, retry_of: int | None = None,
            config: str = "m", draft_hash: str = "h1", status: str = "ok") -> RunRecord:
    return RunRecord(
        id=run_id, started_at="2025-01-01T00:00:00", finished_at="2025-01-01T00:00:01", task=task, model="m",
        model_digest=None, host="fake://writer", options={}, prompt_name=task, prompt_version="v1", input_text="",
        sources=[], status=status, output_text=output,
        meta=RunMeta(draft="d.md", draft_hash=draft_hash, config=config, replay_of=replay_of, retry_of=retry_of),
    )


def _critique(*edits: tuple[str, str]) -> str:
    return json.dumps({"summary": "s", "issues": [
        {"severity": "low", "quote": old, "problem": "p", "suggestion": "s", "replacement": new} for old, new in edits]})


def _verdict(run_id: int, hunk_id: int, old: str, new: str, decision: str) -> Decision:
    return Decision(run_id, hunk_id, "d.md", old, new, decision, "mine" if decision == "edit" else None)


def test_verdicts_become_spans_of_the_text_the_run_saw_and_the_latest_counts() -> None:
    run = _record(1, "critique", _critique(("Networks drop responses.", "Networks lose responses."),
                                           ("Nobody can tell.", "No one can tell.")))
    verdicts = {0: _verdict(1, 0, "Networks drop responses.", "Networks lose responses.", "edit"),
                1: _verdict(1, 1, "Nobody can tell.", "No one can tell.", "reject")}
    judged = judge_spans(run, TEXT, verdicts)
    assert (judged.accepted, judged.rejected) == ((_span("Networks drop responses."),), (_span("Nobody can tell."),))

    later = [verdicts[0], verdicts[1], _verdict(1, 1, "Nobody can tell.", "No one can tell.", "accept")]
    only = judged_runs({1: run}, later, {"h1": TEXT})[1]
    assert (len(only.accepted), only.rejected) == (2, ())  # hunk 1 accepted after all: its latest verdict


def test_a_verdict_on_a_hunk_the_run_no_longer_gives_is_placed_by_its_words_or_dropped() -> None:
    run = _record(1, "critique", _critique(("Networks drop responses.", "Networks lose responses.")))
    verdicts = {5: _verdict(1, 5, "So retries stay.", "Retries stay.", "accept"),  # found by its old words
                6: _verdict(1, 6, "", " Always.", "accept"),  # an insertion: nowhere to place it
                7: _verdict(1, 7, "words not there", "x", "reject")}
    judged = judge_spans(run, TEXT, verdicts)
    assert (judged.accepted, judged.rejected) == ((_span("So retries stay."),), ())


def test_only_finished_suggesting_runs_with_their_draft_kept_are_judged() -> None:
    edits = _critique(("Nobody can tell.", "No one can tell."))
    runs = {1: _record(1, "critique", edits), 2: _record(2, "critique", edits, draft_hash="gone"),
            3: _record(3, "outline", "{}"), 4: _record(4, "critique", edits, status="failed")}
    decisions = [_verdict(i, 0, "Nobody can tell.", "No one can tell.", "accept") for i in (1, 2, 3, 4, 9)]
    assert list(judged_runs(runs, decisions, {"h1": TEXT})) == [1]


def test_replay_rows_count_each_configuration_and_task_over_its_finished_replays() -> None:
    judged = {1: Judged(_record(1, "critique", ""), TEXT, (_span("drop"), _span("Nobody can tell.")), (_span("So"),))}
    a_bad = _critique(("So retries stay.", "Thus retries stay."))
    replays = [
        _record(10, "critique", _critique(("Networks drop responses.", "Networks lose them.")), replay_of=1, config="A"),
        _record(11, "critique", "not json", replay_of=1, config="B"),  # retried: only the retry counts
        _record(12, "critique", _critique(("Nobody can tell.", "None can tell."), ("So retries stay.", "Retries stay.")),
                replay_of=1, config="B", retry_of=11),
        _record(13, "critique", _critique(("drop responses.", "lose responses.")), replay_of=1, config="A"),  # a repeat
        _record(14, "critique", a_bad, replay_of=1, config="A", status="failed"),  # not finished
        _record(15, "critique", a_bad, replay_of=1, config="A", draft_hash="h2"),  # other words than were judged
        _record(16, "critique", a_bad, replay_of=2, config="A"),  # no such judged run
    ]
    rows = replay_rows(replays, judged, lambda r: r.meta.config or "")
    assert [(r.config, r.task, r.drafts, r.runs, r.accepted_hit, r.accepted, r.rejected_hit, r.rejected) for r in rows] == [
        ("A", "critique", 1, 2, 2, 4, 0, 2), ("B", "critique", 1, 1, 1, 2, 1, 1)]
    assert rows[0].accepted_rate == wilson_interval(2, 4) and rows[1].rejected_rate == wilson_interval(1, 1)
    only_accepted = {1: Judged(judged[1].run, TEXT, judged[1].accepted, ())}
    assert replay_rows(replays[:1], only_accepted, lambda r: "A")[0].rejected_rate is None
