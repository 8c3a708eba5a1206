"""From run log records to the tables a report shows (pure: records in, a `ReportModel` out).

Four kinds of quality stay apart, never blended into one score: deterministic checks (computed
here from each logged output), the LLM judge's rubric scores and pairwise ratings (read back from
the judge calls in the log), the author's blind picks (the `preferences` table), and the edits the
author kept in review (the `decisions` table). Judge and author ratings are shown separately and
also together ("combined"), since both are pairwise games between the same configurations; what
the author kept is a rate per configuration, not a game, and stays on its own, as do replays of the
drafts the author judged (`bench.replay`: does a configuration propose edits where the author kept one).

A run's configuration is its `RunMeta.config` (bench), `RunMeta.model_spec` (batch) or its model
name (CLI, TUI), so every consumer's runs count.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from scribe.bench.checks import (
    CheckResult,
    check_citations,
    check_critique,
    check_expand,
    check_outline,
    check_own_words,
)
from scribe.bench.replay import Judged, ReplayRow, replay_rows
from scribe.bench.stats import (
    Comparison,
    Interval,
    JudgedPair,
    Summary,
    WinRate,
    bootstrap_ratings,
    judge_agreement,
    pareto_frontier,
    summarize,
    wilson_interval,
    win_rate_matrix,
)
from scribe.loops import LOOPING
from scribe.outline import as_markdown
from scribe.runlog import Decision, Preference, RunRecord

TASKS = ("outline", "critique", "expand")
WARMUP_TASK = "bench:warmup"
THIN = 5
"""Fewer observations than this per configuration and task: the report says the data is too thin."""
N_BOOT = 200
KEPT_ENOUGH = 10
"""Decisions per configuration before what the author kept speaks in a recommendation."""


def config_of(run: RunRecord) -> str:
    return run.meta.config or run.meta.model_spec or run.model


def is_contest(run: RunRecord) -> bool:
    """A call that did writing work (not a judge call, not a warm-up)."""
    return not run.task.startswith("judge") and run.task != WARMUP_TASK and not run.meta.warmup


# --- deterministic checks ---------------------------------------------------------------------

# Runs logged before the task layer recorded what it asked (RunMeta.sections, .words, .heading and
# the draft's text in the log) hold it only in their prompt, in the packaged templates' words. These
# read it back so that old logs keep their checks; runs logged since never reach them.
_SECTIONS = re.compile(r"exactly (\d+) sections")
_WORDS = re.compile(r"to about (\d+) words")
_HEADING = re.compile(r'Expand the section "(.+?)" of')
_DRAFT = re.compile(r"<draft>\n(.*)\n</draft>", re.DOTALL)


def _in_prompt(run: RunRecord, pattern: re.Pattern[str]) -> str | None:
    match = pattern.search(run.input_text)
    return match.group(1) if match else None


def _number_in_prompt(run: RunRecord, pattern: re.Pattern[str]) -> int | None:
    found = _in_prompt(run, pattern)
    return int(found) if found else None


# The check a task's recommendation falls back on when no ratings exist: the one that says whether
# the output does the task at all (the others say how, or catch one defect).
MAIN_CHECK = {"outline": "outline structure", "critique": "critique schema + quotes", "expand": "expand heading + length"}


def run_checks(run: RunRecord, critique_schema: dict[str, Any], draft: str | None = None) -> dict[str, CheckResult]:
    """The deterministic checks that apply to one finished run, by check name.

    What was asked (sections, words, the heading) is what the task layer recorded in the run's
    meta, and `draft` is the text the log keeps under the run's draft hash (`RunLog.drafts`); for
    runs logged before either was recorded they are read from the prompt. An outline is also checked
    for bullets copied from its prompt (the draft, the notes). Citations are checked where the prompt demands them
    (outline, expand); a critique cites only where notes support a fix, so it is not. Every task's
    run is checked for a repetition loop, which the task layer stopped (done reason LOOPING).
    """
    m = run.meta
    text = as_markdown(run.output_text) if run.task == "outline" else run.output_text
    results: dict[str, CheckResult] = {}
    if run.task == "outline":
        sections = m.sections or _number_in_prompt(run, _SECTIONS)
        results[MAIN_CHECK["outline"]] = check_outline(text, expected_sections=sections)
        results["outline own words"] = check_own_words(text, run.input_text)
    elif run.task == "critique":
        quoted = draft if draft is not None else _in_prompt(run, _DRAFT) or ""
        results[MAIN_CHECK["critique"]] = check_critique(text, quoted, schema=critique_schema)
    elif run.task == "expand":
        words = m.words or _number_in_prompt(run, _WORDS) or 250
        heading = m.heading or m.section or _in_prompt(run, _HEADING) or ""
        results[MAIN_CHECK["expand"]] = check_expand(text, heading=heading, max_words=math.ceil(words * 1.5), min_words=words // 2)
    else:
        return results
    if run.task in ("outline", "expand"):
        results["citations"] = check_citations(text, n_sources=len(run.sources))
    looped = run.done_reason == LOOPING
    results["no repeat loop"] = CheckResult(not looped, 0.0 if looped else 1.0,
                                            "stopped: it began repeating itself" if looped else "no sentence or issue repeated")
    return results


# --- judge verdicts ---------------------------------------------------------------------------


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def parse_rubric(text: str) -> tuple[dict[str, int], str] | None:
    """Integer 1-5 scores and the reason from a rubric answer; None if it is not one."""
    data = _json_object(text)
    if data is None:
        return None
    scores = {k: v for k, v in data.items() if isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 5}
    return (scores, str(data.get("reason", ""))) if scores else None


def parse_verdict(text: str) -> str | None:
    """"A", "B" or "tie" from a pairwise answer: the higher of `score_a` and `score_b`, or (as
    judge-pairwise answered before it scored each output) its `winner`; None if it is neither."""
    data = _json_object(text)
    if data is None:
        return None
    a, b = data.get("score_a"), data.get("score_b")
    if all(isinstance(v, int) and not isinstance(v, bool) for v in (a, b)):
        return "A" if a > b else "B" if b > a else "tie"  # type: ignore[operator]
    winner = data.get("winner")
    return winner if winner in ("A", "B", "tie") else None


# --- the report model -------------------------------------------------------------------------


@dataclass(frozen=True)
class LatencyRow:
    """Steady-state latency of one configuration on one task (ms, tokens/s); None: never reported."""

    config: str
    task: str
    n: int
    failed: int
    ttft_ms: Summary | None
    prompt_tps: Summary | None
    eval_tps: Summary | None
    total_ms: Summary | None
    load_ms: Summary | None


@dataclass(frozen=True)
class LoadRow:
    """A model's load time, from the warm-up calls (the first call after a model is asked for)."""

    model: str
    n: int
    load_ms: Summary | None


@dataclass(frozen=True)
class CheckRow:
    config: str
    task: str
    check: str
    n: int
    passed: int
    score: Interval  # mean score with its 95 % Wilson interval (see mean_interval)


@dataclass(frozen=True)
class KeptRow:
    """What the author did with one configuration's proposed edits on one task, each edit counted once."""

    config: str
    task: str
    n: int  # edits decided
    kept: int  # accepted, as proposed or edited
    edited: int  # of the kept, accepted with changes
    rate: Interval  # kept / n with its 95 % Wilson interval


@dataclass(frozen=True)
class RubricRow:
    config: str
    task: str
    judge: str
    n: int
    unparsed: int
    criteria: dict[str, float]
    mean: Interval | None
    reasons: list[str]


@dataclass(frozen=True)
class RatingSet:
    """Bradley-Terry ratings with 95 % bootstrap intervals from one source of pairwise games."""

    source: str  # "judge", "author" or "combined"
    task: str  # a task, or "all"
    comparisons: int
    ratings: dict[str, Interval]
    win_rates: dict[str, dict[str, WinRate]]


@dataclass(frozen=True)
class JudgeSummary:
    judges: list[str]
    prompt_versions: dict[str, list[str]]
    pairs: int
    unparsed: int
    agreement: float | None  # share of pairs with the same verdict in both orders


@dataclass(frozen=True)
class ParetoPoint:
    config: str
    eval_tps: float
    quality: float
    on_frontier: bool


@dataclass(frozen=True)
class Recommendation:
    task: str
    config: str | None
    basis: str
    text: str


@dataclass(frozen=True)
class Provenance:
    """What a reader needs to rerun the numbers."""

    runs: int
    first: str | None
    last: str | None
    machines: list[str]
    engines: list[str]
    hosts: list[str]
    digests: dict[str, list[str]]
    options: dict[str, list[dict[str, Any]]]
    prompts: dict[str, list[str]]
    seeds: dict[str, list[Any]]
    commands: list[str]


@dataclass
class ReportModel:
    generated_at: str
    report_machine: str
    provenance: Provenance
    latency: list[LatencyRow]
    loads: list[LoadRow]
    checks: list[CheckRow]
    rubric: list[RubricRow]
    ratings: list[RatingSet]
    judge: JudgeSummary
    preferences: int
    kept_by_author: list[KeptRow]
    pareto: list[ParetoPoint]
    recommendations: list[Recommendation]
    rows: list[dict[str, Any]] = field(default_factory=list)  # one per run, for runs.csv
    replay: list[ReplayRow] = field(default_factory=list)  # bench --replay: proposes what the author kept


def _summary(values: Sequence[float | None]) -> Summary | None:
    present = [v for v in values if v is not None]
    return summarize(present) if present else None


def mean_interval(values: Sequence[float], z: float = 1.96) -> Interval:
    """The mean of scores in [0, 1] with a 95 % Wilson interval.

    A score in [0, 1] with mean p has variance at most p(1 - p), so the Wilson interval for a
    proportion is a safe (if wide) bound; unlike mean ± 2 standard errors it does not shrink to
    nothing when six runs all score 0, which says little about the seventh.
    """
    return wilson_interval(math.fsum(values), len(values), z)


def _total_ms(run: RunRecord) -> float | None:
    return run.total_duration_ns / 1e6 if run.total_duration_ns else run.wall_ms


def _latency(contest: Sequence[RunRecord]) -> list[LatencyRow]:
    groups: dict[tuple[str, str], list[RunRecord]] = defaultdict(list)
    for run in contest:
        groups[(config_of(run), run.task)].append(run)
    rows = []
    for (config, task), runs in sorted(groups.items()):
        ok = [r for r in runs if r.status == "ok"]
        rows.append(LatencyRow(
            config, task, len(ok), len(runs) - len(ok),
            _summary([r.ttft_ms for r in ok]), _summary([r.prompt_tps for r in ok]), _summary([r.eval_tps for r in ok]),
            _summary([_total_ms(r) for r in ok]),
            _summary([r.load_duration_ns / 1e6 if r.load_duration_ns is not None else None for r in ok]),
        ))
    return rows


def _loads(warmups: Sequence[RunRecord]) -> list[LoadRow]:
    by_model: dict[str, list[RunRecord]] = defaultdict(list)
    for run in warmups:
        by_model[run.model].append(run)
    return [
        LoadRow(model, len(runs), _summary([r.load_duration_ns / 1e6 if r.load_duration_ns is not None else None for r in runs]))
        for model, runs in sorted(by_model.items())
    ]


def _checks(scored: dict[tuple[str, str, str], list[CheckResult]]) -> list[CheckRow]:
    return [
        CheckRow(config, task, check, len(results), sum(r.passed for r in results), mean_interval([r.score for r in results]))
        for (config, task, check), results in sorted(scored.items())
    ]


def _rubric(judge_runs: Sequence[RunRecord], by_id: dict[int, RunRecord]) -> list[RubricRow]:
    groups: dict[tuple[str, str, str], list[RunRecord]] = defaultdict(list)
    for run in judge_runs:
        m = run.meta
        judged = by_id.get(m.judged_run) if m.judged_run is not None else None
        config = m.config or (config_of(judged) if judged else "?")
        groups[(config, run.task.removeprefix("judge:"), m.judge or run.model)].append(run)
    rows = []
    for (config, task, judge), runs in sorted(groups.items()):
        parsed = [p for p in (parse_rubric(r.output_text) for r in runs) if p is not None]
        criteria: dict[str, list[int]] = defaultdict(list)
        for scores, _ in parsed:
            for name, value in scores.items():
                criteria[name].append(value)
        means = [statistics.fmean(scores.values()) for scores, _ in parsed]
        mean = None
        if means:  # on a 1-5 scale: scale to [0, 1] for the interval, then back
            unit = mean_interval([(m - 1) / 4 for m in means])
            mean = Interval(1 + 4 * unit.low, 1 + 4 * unit.estimate, 1 + 4 * unit.high)
        rows.append(RubricRow(
            config, task, judge, len(parsed), len(runs) - len(parsed),
            {name: statistics.fmean(values) for name, values in sorted(criteria.items())}, mean,
            [reason for _, reason in parsed if reason][:3],
        ))
    return rows


def _judged_pairs(pair_runs: Sequence[RunRecord]) -> tuple[dict[str, list[JudgedPair]], int]:
    """Both orders of each judged pair, matched up; pairs missing an order or a verdict are dropped."""
    halves: dict[tuple[Any, ...], dict[str, RunRecord]] = defaultdict(dict)
    for run in pair_runs:
        m = run.meta
        halves[(run.task, m.judge, run.prompt_version, m.run_x, m.run_y)][str(m.order)] = run
    pairs: dict[str, list[JudgedPair]] = defaultdict(list)
    unparsed = 0
    for (task, *_), orders in halves.items():
        if "xy" not in orders or "yx" not in orders:
            continue
        first, second = parse_verdict(orders["xy"].output_text), parse_verdict(orders["yx"].output_text)
        x, y = orders["xy"].meta.config_x, orders["xy"].meta.config_y
        if first is None or second is None or not x or not y or x == y:
            unparsed += 1
            continue
        pairs[task.removeprefix("judge-pairwise:")].append(JudgedPair(x, y, first, second))  # type: ignore[arg-type]
    return pairs, unparsed


def _author_games(prefs: Sequence[Preference], by_id: dict[int, RunRecord], keep: Callable[[str], bool]) -> dict[str, list[Comparison]]:
    games: dict[str, list[Comparison]] = defaultdict(list)
    for p in prefs:
        a = config_of(by_id[p.run_a]) if p.run_a in by_id else p.model_a
        b = config_of(by_id[p.run_b]) if p.run_b in by_id else p.model_b
        if a == b or not (keep(a) and keep(b)):
            continue
        games[p.task].append(Comparison(a, b, {"a": 1.0, "b": 0.0, "tie": 0.5}[p.winner]))
    return games


def _kept_by_author(decisions: Sequence[Decision], by_id: dict[int, RunRecord]) -> list[KeptRow]:
    """Acceptance per configuration and task, from decisions on the runs kept. A hunk decided twice
    (accepted, then undone and rejected; or reviewed again) counts once, at its latest decision."""
    latest = {(d.run_id, d.hunk_id): d for d in decisions if d.run_id in by_id}  # oldest first: the last wins
    groups: dict[tuple[str, str], list[Decision]] = defaultdict(list)
    for (run_id, _), d in latest.items():
        run = by_id[run_id]
        groups[(config_of(run), run.task)].append(d)
    rows = []
    for (config, task), ds in sorted(groups.items()):
        kept = sum(d.kept for d in ds)
        rows.append(KeptRow(config, task, len(ds), kept, sum(d.decision == "edit" for d in ds), wilson_interval(kept, len(ds))))
    return rows


def _rated(source: str, task: str, comparisons: list[Comparison]) -> RatingSet:
    intervals = bootstrap_ratings(comparisons, n_boot=N_BOOT, tol=1e-6)
    return RatingSet(source, task, len(comparisons), intervals, win_rate_matrix(comparisons))


def _rating_sets(judge_games: dict[str, list[Comparison]], author_games: dict[str, list[Comparison]]) -> list[RatingSet]:
    """Judge and author games rated apart over all tasks, then per task on every game there is
    (source "combined" when both kinds exist): the per-task sets are what recommendations use."""
    sets = [_rated(source, "all", [c for g in games.values() for c in g])
            for source, games in (("judge", judge_games), ("author", author_games)) if games]
    merged = {t: judge_games.get(t, []) + author_games.get(t, []) for t in sorted({*judge_games, *author_games})}
    source = "combined" if judge_games and author_games else ("judge" if judge_games else "author")
    sets += [_rated(source, task, games) for task, games in merged.items()]
    if judge_games and author_games:
        sets.append(_rated("combined", "all", [c for g in merged.values() for c in g]))
    return sets


def _pareto(contest: Sequence[RunRecord], checks: Sequence[CheckRow]) -> list[ParetoPoint]:
    """Per configuration: median decode tokens/s against the mean score of its task checks."""
    speeds: dict[str, list[float]] = defaultdict(list)
    for run in contest:
        if run.status == "ok" and run.eval_tps is not None:
            speeds[config_of(run)].append(run.eval_tps)
    quality: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for row in checks:
        if row.check != "citations":
            quality[row.config].append((row.score.estimate, row.n))
    points = [
        (config, statistics.median(speeds[config]), sum(s * n for s, n in quality[config]) / sum(n for _, n in quality[config]))
        for config in sorted(set(speeds) & set(quality))
    ]
    frontier = set(pareto_frontier(points))
    return [ParetoPoint(c, s, q, c in frontier) for c, s, q in points]


def _overlaps(a: Interval, b: Interval) -> bool:
    return a.low <= b.high and b.low <= a.high


def recommend(
    task: str,
    checks: Sequence[CheckRow],
    ratings: Sequence[RatingSet],
    latency: Sequence[LatencyRow],
    kept: Sequence[KeptRow] = (),
) -> Recommendation:
    """Which configuration for `task`, from the numbers, saying so when they cannot tell.

    The ratings (or, without them, the checks) give a pick; what the author kept overrides it only
    when there is enough of it and one configuration's interval is above every other's, and it is
    then reported beside the other figures, never folded into them.
    """
    return _with_kept(_recommend_on_scores(task, checks, ratings, latency), [r for r in kept if r.task == task])


def _with_kept(rec: Recommendation, kept: Sequence[KeptRow]) -> Recommendation:
    enough = sorted((r for r in kept if r.n >= KEPT_ENOUGH), key=lambda r: r.rate.estimate, reverse=True)
    if len(enough) < 2:
        return rec
    figures = ", ".join(f"{r.config} {r.rate.estimate:.0%} [{r.rate.low:.0%}, {r.rate.high:.0%}] of {r.n}" for r in enough)
    best, others = enough[0], enough[1:]
    if not all(best.rate.low > r.rate.high for r in others):
        return replace(rec, text=f"{rec.text} Kept by the author does not single one out (95 % intervals overlap: {figures}).")
    basis = f"kept by the author ({sum(r.n for r in enough)} decisions)"
    text = f"{rec.task}: {best.config}, whose edits the author kept most often (kept by the author, 95 % intervals apart: {figures})."
    if rec.config is not None:
        text += f" By the other measures, {rec.text.removeprefix(f'{rec.task}: ')}"
    return Recommendation(rec.task, best.config, basis, text)


def _recommend_on_scores(task: str, checks: Sequence[CheckRow], ratings: Sequence[RatingSet], latency: Sequence[LatencyRow]) -> Recommendation:
    """The pick from the ratings, or from the checks when there are none."""
    speed = {r.config: r.eval_tps.median for r in latency if r.task == task and r.eval_tps is not None}

    def fast(config: str) -> str:
        return f"{speed[config]:.1f} tok/s" if config in speed else "speed unknown"

    rated = next((s for source in ("combined", "judge", "author") for s in ratings if s.source == source and s.task == task), None)
    if rated is not None and len(rated.ratings) >= 2:
        basis = f"{rated.source} ratings ({rated.comparisons} games)"
        ranked = sorted(rated.ratings.items(), key=lambda kv: kv[1].estimate, reverse=True)
        thin = rated.comparisons < THIN
        unit, digits = "rating", 0
    else:
        rows = [r for r in checks if r.task == task and r.check == MAIN_CHECK.get(task)]
        if not rows:
            return Recommendation(task, None, "none", f"{task}: no runs to judge by.")
        basis = f"deterministic check ({rows[0].check})"
        ranked = sorted(((r.config, r.score) for r in rows), key=lambda kv: kv[1].estimate, reverse=True)
        thin = min(r.n for r in rows) < THIN
        unit, digits = "score", 2
    best, interval = ranked[0]
    if len(ranked) == 1:
        return Recommendation(task, best, basis, f"{task}: only {best} was measured ({unit} {interval.estimate:.{digits}f}, {fast(best)}); nothing to compare.")
    ties = [c for c, i in ranked[1:] if _overlaps(i, interval)]
    figures = ", ".join(f"{c} {i.estimate:.{digits}f} [{i.low:.{digits}f}, {i.high:.{digits}f}]" for c, i in ranked)
    caveat = f" Data is thin (fewer than {THIN} per configuration): treat this as a hint." if thin else ""
    if ties:
        contenders = [best, *ties]
        pick = max(contenders, key=lambda c: speed.get(c, 0.0))
        text = (f"{task}: {', '.join(contenders)} cannot be told apart on {basis} (95 % intervals overlap: {figures}); "
                f"{pick} is the fastest of them ({fast(pick)}).{caveat}")
        return Recommendation(task, pick, basis, text)
    return Recommendation(task, best, basis, f"{task}: {best} leads on {basis} ({figures}) at {fast(best)}.{caveat}")


def _distinct(values: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if v is not None and v not in out:
            out.append(v)
    return out


def _provenance(runs: Sequence[RunRecord]) -> Provenance:
    digests: dict[str, list[str]] = defaultdict(list)
    options: dict[str, list[dict[str, Any]]] = defaultdict(list)
    prompts: dict[str, list[str]] = defaultdict(list)
    seeds: dict[str, list[Any]] = defaultdict(list)
    def note(store: dict[str, list[Any]], key: str | None, value: Any) -> None:
        if key is not None and value is not None and value not in store[key]:
            store[key].append(value)

    for run in runs:
        config = config_of(run)
        note(digests, run.model, run.model_digest)
        note(prompts, run.prompt_name, run.prompt_version)
        note(options, config, run.options)
        note(seeds, config, run.options.get("seed"))
    engine = [f"{e.name} {e.version} at {e.host}" for e in (r.meta.engine for r in runs) if e is not None]
    return Provenance(
        runs=len(runs), first=runs[0].started_at if runs else None, last=runs[-1].started_at if runs else None,
        machines=_distinct([r.meta.machine for r in runs]), engines=_distinct(engine),
        hosts=_distinct([r.host for r in runs]), digests=dict(digests), options=dict(options),
        prompts=dict(prompts), seeds=dict(seeds), commands=_distinct([r.meta.command for r in runs]),
    )


def _row(run: RunRecord, checks: dict[str, CheckResult]) -> dict[str, Any]:
    m = run.meta
    task_check = next(((name, r) for name, r in checks.items() if name != "citations"), None)
    return {
        "id": run.id, "started_at": run.started_at, "task": run.task, "model": run.model, "config": config_of(run),
        "status": run.status, "bench": m.bench, "draft": m.draft, "repeat": m.repeat,
        "warmup": m.warmup, "ttft_ms": run.ttft_ms, "prompt_tps": run.prompt_tps, "eval_tps": run.eval_tps,
        "total_ms": _total_ms(run), "load_ms": run.load_duration_ns / 1e6 if run.load_duration_ns is not None else None,
        "prompt_eval_count": run.prompt_eval_count, "eval_count": run.eval_count,
        "prompt_version": run.prompt_version, "model_digest": run.model_digest,
        "check": task_check[0] if task_check else None,
        "check_score": task_check[1].score if task_check else None,
        "check_passed": task_check[1].passed if task_check else None,
        "citations_score": checks["citations"].score if "citations" in checks else None,
    }


def _kept(run: RunRecord, keep: Callable[[str], bool]) -> bool:
    """Whether a run is about the configurations kept (a judge call: about the ones it judged)."""
    m = run.meta
    if run.task.startswith("judge-pairwise:"):
        return keep(str(m.config_x)) and keep(str(m.config_y))
    if run.task.startswith("judge:"):
        return keep(str(m.config))
    return keep(config_of(run))


def build_model(
    runs: Sequence[RunRecord],
    prefs: Sequence[Preference],
    decisions: Sequence[Decision] = (),
    *,
    critique_schema: dict[str, Any],
    generated_at: str,
    report_machine: str,
    drafts: Mapping[str, str] | None = None,
    keep_config: Callable[[str], bool] = lambda _: True,
    judged: Mapping[int, Judged] | None = None,
) -> ReportModel:
    """Everything the report shows, from the runs (oldest first), the author's preferences, the
    author's decisions on proposed edits (oldest first), the drafts' texts by hash (`RunLog.drafts`,
    for the critique check) and the judged runs that replay runs replay (`replay.judged_in_log`:
    they need not be among `runs`, which a report may filter to one bench)."""
    runs = [r for r in runs if _kept(r, keep_config)]
    by_id = {r.id: r for r in runs}
    contest = [r for r in runs if is_contest(r)]
    warmups = [r for r in runs if not is_contest(r) and not r.task.startswith("judge") and r.status == "ok"]
    superseded = {r.meta.retry_of for r in contest if r.meta.retry_of is not None}  # the author saw the retry's output
    texts = drafts or {}
    scored: dict[tuple[str, str, str], list[CheckResult]] = defaultdict(list)
    rows = []
    for run in runs:
        checked = run.status == "ok" and is_contest(run) and run.task in TASKS and run.id not in superseded
        draft = texts.get(run.meta.draft_hash) if run.meta.draft_hash else None
        checks = run_checks(run, critique_schema, draft) if checked else {}
        for name, result in checks.items():
            scored[(config_of(run), run.task, name)].append(result)
        rows.append(_row(run, checks))
    judge_runs = [r for r in runs if r.status == "ok" and r.task.startswith("judge:")]
    pair_runs = [r for r in runs if r.status == "ok" and r.task.startswith("judge-pairwise:")]
    pairs, unparsed = _judged_pairs(pair_runs)
    judge_games = {task: [p.comparison() for p in ps] for task, ps in pairs.items()}
    author_games = _author_games(prefs, by_id, keep_config)
    all_pairs = [p.result() for ps in pairs.values() for p in ps]
    judge_prompts: dict[str, list[str]] = defaultdict(list)
    for r in [*judge_runs, *pair_runs]:
        if r.prompt_name and r.prompt_version not in judge_prompts[r.prompt_name]:
            judge_prompts[r.prompt_name].append(r.prompt_version or "")
    judge = JudgeSummary(
        judges=_distinct([r.meta.judge or r.model for r in [*judge_runs, *pair_runs]]),
        prompt_versions=dict(judge_prompts), pairs=len(all_pairs), unparsed=unparsed,
        agreement=judge_agreement(all_pairs) if all_pairs else None,
    )
    latency = _latency(contest)
    check_rows = _checks(scored)
    ratings = _rating_sets(judge_games, author_games)
    kept = _kept_by_author(decisions, by_id)
    tasks = [t for t in TASKS if any(r.task == t for r in latency)]
    return ReportModel(
        generated_at=generated_at, report_machine=report_machine, provenance=_provenance(runs),
        latency=latency, loads=_loads(warmups), checks=check_rows, rubric=_rubric(judge_runs, by_id),
        ratings=ratings, judge=judge, preferences=sum(len(g) for g in author_games.values()), kept_by_author=kept,
        pareto=_pareto(contest, check_rows),
        recommendations=[recommend(t, check_rows, ratings, latency, kept) for t in tasks], rows=rows,
        replay=replay_rows([r for r in contest if r.meta.replay_of is not None], judged or {}, config_of),
    )
