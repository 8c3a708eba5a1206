"""`scribe bench --replay` (issue 16 item 4): new models on the drafts whose suggestions the author
judged, and how often they propose edits where the author kept one, and where the author refused one.

The agreement is checked on handmade spans and hunks; the command end to end against the fake model
server, with a log made the way an author makes one: a critique and a rewrite run by the CLI with
scripted replies, then verdicts recorded through RunLog.add_decision.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from cli_support import ok, one_line_error, scribe
from fake_server import CHAT_MODEL, FakeModelServer

from scribe.bench.replay import (
    NO_JUDGED,
    Judged,
    Span,
    hits,
    judge_spans,
    judged_runs,
    replay_rows,
)
from scribe.bench.stats import wilson_interval
from scribe.edits import make_hunk
from scribe.runlog import Decision, RunLog, RunRecord
from scribe.runmeta import RunMeta
from scribe.suggestions import hunks_of_run

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
        {"severity": "low", "quote": old, "problem": f"p: {old}", "suggestion": "s", "replacement": new} for old, new in edits]})


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


# --- scribe bench --replay, end to end against the fake model server ----------------------------

DRAFT = Path("notes") / "drafts" / "idempotency-in-payment-flows.md"
SECTION = "Why retries are unavoidable"
A, B = f"{CHAT_MODEL}@temperature=0.1", f"{CHAT_MODEL}@temperature=0.9"
S0 = "Networks drop responses."
S1 = "In my experience roughly 40% of payment incidents trace back to retries that weren't handled properly."
S2 = "Most teams only find this out after their first large incident."
S3 = "Neither can a load balancer or a message broker."
CRITIQUE = [(S0, "Networks lose responses all the time."), (S1, "Many payment incidents trace back to mishandled retries."),
            (S2, "Most teams learn this from their first large incident.")]
# The judged rewrite of SECTION: "drop" -> "lose", a sentence inserted after S3, and a shorter S1's start.
REWRITE = [(S0, "Networks lose responses."), (S3, S3 + " Nor can a queue."), ("In my experience roughly 40% of", "Many")]


def _section_with(ws: Path, edits: list[tuple[str, str]]) -> str:
    text = (ws / DRAFT).read_text(encoding="utf-8")
    section = text[text.index(f"## {SECTION}"):text.index("## The idempotency key")]
    for old, new in edits:
        assert section.count(old) == 1
        section = section.replace(old, new)
    return section.strip()


def _log(ws: Path) -> RunLog:
    return RunLog(ws / ".scribe" / "runs.sqlite")


@pytest.fixture
def judged_workspace(fake_workspace: Path, fake_server: FakeModelServer) -> Path:
    """A workspace whose draft had a critique (3 edits: accept, reject, edit) and a rewrite of one
    section (3 edits, the second an insertion: accept, accept, reject) judged by the author."""
    ws = fake_workspace
    fake_server.script(json.dumps({"summary": "s", "issues": [
        {"severity": "medium", "quote": old, "problem": f"p: {old}", "suggestion": "s", "replacement": new} for old, new in CRITIQUE]}))
    ok(ws, "critique", str(ws / DRAFT), "-k", "0")
    fake_server.script(_section_with(ws, REWRITE))
    ok(ws, "run", "rewrite", str(ws / DRAFT), "--section", SECTION, "-k", "0")
    with _log(ws) as log:
        critique, rewrite = log.recent(2)[::-1]
        for run, verdicts in ((critique, ["accept", "reject", "edit"]), (rewrite, ["accept", "accept", "reject"])):
            hunks = hunks_of_run(run, log.draft_text(run.meta.draft_hash) or "")
            assert len(hunks) == 3 and (run.task != "rewrite" or hunks[1].old == "")  # the rewrite's second: an insertion
            for hunk, verdict in zip(hunks, verdicts, strict=True):
                log.add_decision(Decision(run.id, hunk.id, str(run.meta.draft), hunk.old, hunk.new, verdict,
                                          "my words" if verdict == "edit" else None, source="cli"))
    return ws


def _script_replays(ws: Path, fake: FakeModelServer) -> None:
    """The replies in the order the replay asks: the warm-up, then the critique's round (A, B), then
    the rewrite's (B first: the configurations' order rotates)."""
    critique_a = [(S0, "Networks lose replies."), (S1, "Retries cause many payment incidents.")]  # accepted S0, rejected S1
    critique_b = [(S0, "Responses get lost."), (S2, "Teams learn it late."), (S3, "Nor can a broker.")]  # both accepted, S3 unjudged
    rewrite_b = [(S0, "Networks miss responses.")]  # the first accepted span only
    rewrite_a = [(S0, "Networks lose responses."), (S3, S3 + " A proxy cannot either."),  # both accepted (the insertion at
                 ("In my experience roughly 40% of", "Most")]  # its spot), and the rejected one again
    fake.script("OK", *(json.dumps({"summary": "s", "issues": [
        {"severity": "low", "quote": old, "problem": f"p: {old}", "suggestion": "s", "replacement": new} for old, new in edits]})
        for edits in (critique_a, critique_b)),
        _section_with(ws, rewrite_b), _section_with(ws, rewrite_a))


def _replay(ws: Path, *extra: str) -> list[str]:
    """`bench --replay` of A and B, the report in the workspace (a relative --out is the test's cwd)."""
    return ["bench", "--replay", "--model", A, "--model", B, "-k", "0", "--out", str(ws / "reports" / "replay"), *extra]



def test_bench_replay_reports_how_often_each_configuration_edits_where_the_author_kept_one(
        judged_workspace: Path, fake_server: FakeModelServer) -> None:
    ws = judged_workspace
    _script_replays(ws, fake_server)
    ran = ok(ws, *_replay(ws, "--json")).json()
    assert (ran["done"], ran["skipped"], ran["failed"]) == (4, 0, [])
    table = {(r["config"], r["task"]): (r["drafts"], r["runs"], r["accepted_hit"], r["accepted"], r["rejected_hit"], r["rejected"])
             for r in ran["replay"]}
    assert table == {
        (A, "critique"): (1, 1, 1, 2, 1, 1),
        (B, "critique"): (1, 1, 2, 2, 0, 1),
        (A, "rewrite"): (1, 1, 2, 2, 1, 1),
        (B, "rewrite"): (1, 1, 1, 2, 0, 1),
    }
    rates = {(r["config"], r["task"]): (r["accepted_rate"], r["rejected_rate"]) for r in ran["replay"]}
    assert rates[(A, "critique")] == (asdict(wilson_interval(1, 2)), asdict(wilson_interval(1, 1)))
    assert rates[(B, "rewrite")] == (asdict(wilson_interval(1, 2)), asdict(wilson_interval(0, 1)))

    with _log(ws) as log:
        judged = {r.task: r.id for r in log.iter_all() if r.meta.bench is None}
        replays = [r for r in log.iter_all() if r.meta.replay_of is not None]
    assert sorted((r.meta.config, r.task, r.meta.replay_of, r.meta.bench) for r in replays) == sorted(
        (c, t, judged[t], "replay") for c in (A, B) for t in ("critique", "rewrite"))
    assert all(r.meta.section == (SECTION if r.task == "rewrite" else None) for r in replays)

    out = ws / "reports" / "replay"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["replay"] == ran["replay"]
    section = (out / "report.md").read_text().split("## Proposes what the author kept", 1)[1].split("\n## ", 1)[0]
    assert f"| {A} | critique | 1 | 1 | 1/2 50% [9%, 91%] | 1/1 100% [21%, 100%] |" in section
    assert f"| {B} | rewrite | 1 | 1 | 1/2 50% [9%, 91%] | 0/1 0% [0%, 79%] |" in section
    assert "Proposes what the author kept" in (out / "report.html").read_text()


def test_the_replay_table_is_printed_and_a_rerun_resumes(judged_workspace: Path, fake_server: FakeModelServer,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    _script_replays(judged_workspace, fake_server)
    shown = ok(judged_workspace, *_replay(judged_workspace)).stdout
    assert "Proposes what the author kept" in shown and "rejected spans hit (lower is better)" in shown
    lines = {tuple(line.split()[:2]): " ".join(line.split()[2:]) for line in shown.splitlines() if line.strip().startswith(CHAT_MODEL)}
    assert lines[(B, "critique")] == "1 2/2 100% [34%, 100%] 0/1 0% [0%, 79%]"
    calls = len(fake_server.chats)
    again = ok(judged_workspace, *_replay(judged_workspace, "--json")).json()
    assert (again["done"], again["skipped"], len(fake_server.chats)) == (0, 4, calls)  # nothing re-run, not even a warm-up
    assert {(r["config"], r["task"]): r["accepted_hit"] for r in again["replay"]}[(B, "critique")] == 2


def test_a_task_filter_replays_only_that_task(judged_workspace: Path, fake_server: FakeModelServer) -> None:
    fake_server.script("OK", _critique((S0, "Networks lose replies.")))
    ran = ok(judged_workspace, "bench", "--replay", "--model", A, "--task", "critique", "-k", "0", "--out", str(judged_workspace / "reports" / "one"), "--json").json()
    assert [(r["task"], r["accepted_hit"], r["accepted"], r["rejected_hit"]) for r in ran["replay"]] == [("critique", 1, 2, 0)]


def test_without_judged_suggestions_the_replay_says_how_to_get_some(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    ran = scribe(fake_workspace, "bench", "--replay", "--model", A)  # no run log at all
    assert one_line_error(ran) == f"error: {NO_JUDGED}"
    fake_server.script(_critique((S0, "Networks lose responses.")))
    ok(fake_workspace, "critique", str(fake_workspace / DRAFT), "-k", "0")  # suggestions, but none judged yet
    ran = scribe(fake_workspace, "bench", "--replay", "--model", A)
    assert one_line_error(ran) == "error: no judged suggestions yet; review some first: scribe review DRAFT"
    assert len(fake_server.chats) == 1  # the critique's: the replay started no model call


@pytest.mark.parametrize(("args", "message"), [
    (["--task", "outline"], "--task 'outline': a replay reruns tasks that propose edits: critique, expand, rewrite"),
    (["--task", "expand"], "no judged expand suggestions yet; review some first: scribe review DRAFT"),
    (["--judge", CHAT_MODEL], "--judge does not go with --replay"),
])
def test_replay_errors_are_one_line(judged_workspace: Path, fake_server: FakeModelServer, args: list[str], message: str) -> None:
    calls = len(fake_server.chats)
    ran = scribe(judged_workspace, "bench", "--replay", "--model", A, *args)
    assert message in one_line_error(ran) and len(fake_server.chats) == calls
