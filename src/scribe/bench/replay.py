"""Replay: does a model propose edits where the author, judging an earlier model's suggestions, kept
one, and where they turned one down? (pure, but for `judged_in_log`, which reads the log.)

A verdict names a run and a hunk of it (the run log's decisions); the run's hunks are made again
from its output and the draft text it saw (`suggestions.hunks_of_run`, the same hunks with the same
ids every time), which gives each verdict a span of that text. A new run of another model on the
same text and task proposes its own hunks, and a verdict's span is hit when one of them edits there.
Hitting the accepted spans is finding what the author wanted changed; hitting the rejected ones is
proposing again what the author already refused.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from scribe.bench.stats import Interval, wilson_interval
from scribe.edits import Hunk
from scribe.runlog import Decision, RunLog, RunRecord
from scribe.suggestions import SUGGESTING, hunks_of_run

NO_JUDGED = "no judged suggestions yet; review some first: scribe review DRAFT"


@dataclass(frozen=True)
class Span:
    """Where the author judged an edit, in the text the judged run saw; an insertion is empty."""

    start: int
    end: int

    def meets(self, start: int, end: int) -> bool:
        """Whether an edit of start..end is an edit here. Two spans with text meet when they share a
        character (touching ends are neighbours, not the same words); an insertion meets an edit
        whose span holds its place, ends included, so an insertion at the same spot, or a rewrite
        of the word right after it, is an edit there."""
        if self.start == self.end or start == end:
            return start <= self.end and self.start <= end
        return start < self.end and self.start < end


@dataclass(frozen=True)
class Judged:
    """A run whose suggested edits the author judged: the text it saw, and the verdicts as spans of it."""

    run: RunRecord
    text: str  # the draft text the run saw (RunLog.draft_text of its meta.draft_hash)
    accepted: tuple[Span, ...]  # kept, as proposed or edited
    rejected: tuple[Span, ...]


@dataclass(frozen=True)
class ReplayRow:
    """One configuration's replays of one task: of the judged spans, how many it also edits."""

    config: str
    task: str
    drafts: int  # judged runs replayed
    runs: int  # replay runs counted (a judged run's spans count once per run: repeats count again)
    accepted_hit: int
    accepted: int
    rejected_hit: int
    rejected: int
    accepted_rate: Interval | None  # accepted_hit / accepted, Wilson; None without such spans
    rejected_rate: Interval | None  # lower is better


def latest_verdicts(decisions: Iterable[Decision]) -> dict[int, dict[int, Decision]]:
    """Verdicts by run and hunk; of a hunk decided twice (undone, reviewed again) the latest counts,
    as in the report's "Kept by the author". `decisions` oldest first, as the log gives them."""
    verdicts: dict[int, dict[int, Decision]] = defaultdict(dict)
    for d in decisions:
        verdicts[d.run_id][d.hunk_id] = d
    return dict(verdicts)


def _span(hunk: Hunk | None, decision: Decision, text: str) -> Span | None:
    """The judged hunk's span; should the run no longer give that hunk, where its old words are
    (an insertion, with none, is then lost)."""
    if hunk is not None and (hunk.old, hunk.new) == (decision.old_text, decision.new_text):
        return Span(hunk.start, hunk.end)
    at = text.find(decision.old_text) if decision.old_text else -1
    return Span(at, at + len(decision.old_text)) if at >= 0 else None


def judge_spans(run: RunRecord, text: str, verdicts: Mapping[int, Decision]) -> Judged:
    """The run's verdicts as spans of `text`, the draft it saw."""
    hunks = {h.id: h for h in hunks_of_run(run, text)}
    accepted: list[Span] = []
    rejected: list[Span] = []
    for hunk_id, decision in sorted(verdicts.items()):
        span = _span(hunks.get(hunk_id), decision, text)
        if span is not None:
            (accepted if decision.kept else rejected).append(span)
    return Judged(run, text, tuple(accepted), tuple(rejected))


def judged_runs(runs: Mapping[int, RunRecord], decisions: Iterable[Decision], drafts: Mapping[str, str]) -> dict[int, Judged]:
    """Every finished suggesting run with verdicts whose draft text the log keeps, by run id, in id
    order; a run whose verdicts no longer place anywhere is left out."""
    found: dict[int, Judged] = {}
    for run_id, verdicts in sorted(latest_verdicts(decisions).items()):
        run = runs.get(run_id)
        text = drafts.get(run.meta.draft_hash or "") if run is not None else None
        if run is None or text is None or run.status != "ok" or run.task not in SUGGESTING:
            continue
        judged = judge_spans(run, text, verdicts)
        if judged.accepted or judged.rejected:
            found[run_id] = judged
    return found


def judged_in_log(runlog: RunLog, run_ids: Iterable[int] | None = None) -> dict[int, Judged]:
    """`judged_runs` over the log (only `run_ids`, when given)."""
    decisions = runlog.decisions()
    wanted = set(run_ids) if run_ids is not None else {d.run_id for d in decisions}
    runs = {i: run for i in sorted(wanted) if (run := runlog.get(i)) is not None}
    texts = {h: t for h in {r.meta.draft_hash for r in runs.values()} if h and (t := runlog.draft_text(h)) is not None}
    return judged_runs(runs, [d for d in decisions if d.run_id in wanted], texts)


def hits(spans: Sequence[Span], proposed: Sequence[Hunk]) -> int:
    """How many of `spans` one of the `proposed` hunks edits (hunks over the same text)."""
    return sum(1 for span in spans if any(span.meets(h.start, h.end) for h in proposed))


def replay_rows(replays: Iterable[RunRecord], judged: Mapping[int, Judged], config: Callable[[RunRecord], str]) -> list[ReplayRow]:
    """Agreement per configuration (`config` names a run's) and task, over the finished replay runs
    of judged runs. A critique retried after invalid JSON counts once, as its retry; a replay on
    other words than the judged run saw (none scribe makes) is left out."""
    finished = [r for r in replays if r.status == "ok" and r.meta.replay_of in judged]
    superseded = {r.meta.retry_of for r in finished if r.meta.retry_of is not None}
    groups: dict[tuple[str, str], list[tuple[RunRecord, Judged]]] = defaultdict(list)
    for run in finished:
        target = judged[run.meta.replay_of]  # type: ignore[index]
        if run.id not in superseded and run.task == target.run.task and run.meta.draft_hash == target.run.meta.draft_hash:
            groups[(config(run), run.task)].append((run, target))
    rows = []
    for (name, task), pairs in sorted(groups.items()):
        a_hit = a_all = r_hit = r_all = 0
        for run, target in pairs:
            proposed = hunks_of_run(run, target.text)
            a_hit, a_all = a_hit + hits(target.accepted, proposed), a_all + len(target.accepted)
            r_hit, r_all = r_hit + hits(target.rejected, proposed), r_all + len(target.rejected)
        rows.append(ReplayRow(name, task, len({t.run.id for _, t in pairs}), len(pairs), a_hit, a_all, r_hit, r_all,
                              wilson_interval(a_hit, a_all) if a_all else None, wilson_interval(r_hit, r_all) if r_all else None))
    return rows
