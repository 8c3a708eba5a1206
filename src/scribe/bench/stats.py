"""Statistics for benchmarks (pure: numbers and records in, numbers and records out).

* Latency: ``percentile`` and ``summarize``, the numbers a latency table shows.
* Quality from pairwise judgements: ``bradley_terry`` ratings, ``bootstrap_ratings`` intervals and
  a ``win_rate_matrix``; ``combine_swapped`` turns an LLM judge's two verdicts on one pair (asked
  in both orders, to cancel its position bias) into one ``Comparison``.
* Trade-offs: ``pareto_frontier`` over (speed, quality).
* Proportions: ``wilson_interval``, e.g. the share of a model's edits the author kept.

Ratings are on an Elo-like scale: ``400 * log10(strength)``, centred so that the mean rating of the
rated models is 0. A gap of ``d`` points means the higher-rated model is expected to win
``1 / (1 + 10 ** (-d / 400))`` of its games against the other (``win_probability``): 0 is a coin
flip, about 241 points is 4:1 (80 %), 400 points is 10:1. Elo-like because people read it at a
glance; centred because Bradley-Terry strengths are only defined up to a common factor.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

ELO_SCALE = 400 / math.log(10)
"""Rating points per unit of natural-log strength (``400 * log10(s) == ELO_SCALE * ln(s)``)."""

Verdict = Literal["A", "B", "tie"]
"""A judge's pick in terms of positions: the output shown first (A), second (B), or neither."""

_OUTCOMES = (0.0, 0.5, 1.0)
_ITERATIONS = 10_000
_TOL = 1e-9


@dataclass(frozen=True)
class Summary:
    """The usual description of a latency sample; ``stdev`` is the sample stdev (0 when n < 2)."""

    n: int
    median: float
    p95: float
    mean: float
    stdev: float
    min: float
    max: float
    iqr: float


@dataclass(frozen=True)
class Comparison:
    """One pairwise outcome: 1.0 if ``a`` won, 0.0 if ``b`` won, 0.5 for a tie."""

    a: str
    b: str
    outcome: float

    def __post_init__(self) -> None:
        if self.a == self.b:
            raise ValueError(f"a model cannot be compared with itself: {self.a!r}")
        if self.outcome not in _OUTCOMES:
            raise ValueError(f"outcome must be 1.0, 0.5 or 0.0, not {self.outcome!r}")


@dataclass(frozen=True)
class Interval:
    """A point estimate with its interval, bootstrap percentile or Wilson (``low <= high``)."""

    low: float
    estimate: float
    high: float


@dataclass(frozen=True)
class WinRate:
    """How one model fared against one other: a tie counts as half a win."""

    wins: int
    ties: int
    losses: int

    @property
    def n(self) -> int:
        return self.wins + self.ties + self.losses

    @property
    def rate(self) -> float:
        return (self.wins + 0.5 * self.ties) / self.n


@dataclass(frozen=True)
class PairResult:
    """Two swapped-order verdicts combined: ``outcome`` is for x against y, as in ``Comparison``.

    ``consistent`` is False when the two orders disagreed; the outcome is then a tie, because a
    verdict that flips with the position says more about the judge than about the outputs.
    """

    outcome: float
    consistent: bool


@dataclass(frozen=True)
class JudgedPair:
    """One pair judged in both orders: first with (A=x, B=y), then swapped to (A=y, B=x)."""

    x: str
    y: str
    first_pick: Verdict
    second_pick: Verdict

    def result(self) -> PairResult:
        return combine_swapped(self.first_pick, self.second_pick)

    def comparison(self) -> Comparison:
        """The combined verdict as an input for ``bradley_terry`` and ``win_rate_matrix``."""
        return Comparison(self.x, self.y, self.result().outcome)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (q in [0, 100]) by linear interpolation, as numpy's default method."""
    if not values:
        raise ValueError("percentile of an empty sequence")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be in [0, 100], not {q!r}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    fraction = position - lower
    return ordered[lower] + (ordered[upper] - ordered[lower]) * fraction


def summarize(values: Sequence[float]) -> Summary:
    """Describe a sample; percentiles interpolate linearly, so small samples still get a p95."""
    if not values:
        raise ValueError("cannot summarize an empty sequence")
    return Summary(
        n=len(values),
        median=percentile(values, 50),
        p95=percentile(values, 95),
        mean=statistics.fmean(values),
        stdev=statistics.stdev(values) if len(values) > 1 else 0.0,
        min=min(values),
        max=max(values),
        iqr=percentile(values, 75) - percentile(values, 25),
    )


def _fit(
    models: Sequence[str],
    comparisons: Sequence[Comparison],
    prior: float,
    iterations: int,
    tol: float,
) -> dict[str, float]:
    """Bradley-Terry by minorise-maximise (Hunter 2004), with the prior as pseudo-games.

    Every pair of models is credited with ``prior / (k - 1)`` extra wins each, so each model gets
    ``prior`` pseudo-wins in total and the pseudo-games link every model to every other: the
    likelihood then has a unique finite maximum even for an undefeated model or a comparison
    graph in pieces. Strengths are rescaled to geometric mean 1 after every step (the likelihood
    does not depend on the scale), which also centres the ratings.
    """
    k = len(models)
    index = {model: i for i, model in enumerate(models)}
    pseudo = prior / (k - 1)
    wins = [prior] * k
    games = {(i, j): 2 * pseudo for i in range(k) for j in range(i + 1, k)}
    for c in comparisons:
        i, j = index[c.a], index[c.b]
        wins[i] += c.outcome
        wins[j] += 1 - c.outcome
        key = (i, j) if i < j else (j, i)
        games[key] += 1
    pairs = [(i, j, n) for (i, j), n in games.items()]
    log_strength = [0.0] * k
    for _ in range(iterations):
        strength = [math.exp(s) for s in log_strength]
        denominator = [0.0] * k
        for i, j, n in pairs:
            share = n / (strength[i] + strength[j])
            denominator[i] += share
            denominator[j] += share
        updated = [math.log(w / d) for w, d in zip(wins, denominator, strict=True)]
        centre = statistics.fmean(updated)
        updated = [s - centre for s in updated]
        change = max(abs(new - old) for new, old in zip(updated, log_strength, strict=True))
        log_strength = updated
        if change < tol:
            break
    return {model: ELO_SCALE * log_strength[i] for model, i in index.items()}


def _models(comparisons: Sequence[Comparison]) -> list[str]:
    return sorted({c.a for c in comparisons} | {c.b for c in comparisons})


def bradley_terry(
    comparisons: Sequence[Comparison],
    *,
    prior: float = 0.5,
    iterations: int = _ITERATIONS,
    tol: float = _TOL,
) -> dict[str, float]:
    """Elo-like ratings (see the module docstring) of every model in ``comparisons``.

    ``prior`` is the number of pseudo-wins each model gets, spread evenly over ties with every
    other model: it pulls ratings toward equality so that an undefeated model stays finite, and
    it must be positive for that reason (use e.g. 1e-3 for a near-maximum-likelihood fit).
    Iteration stops when no log-strength moves by ``tol`` or after ``iterations`` sweeps.
    """
    if prior <= 0:
        raise ValueError(f"prior must be positive to keep undefeated models finite, not {prior!r}")
    models = _models(comparisons)
    if not models:
        return {}
    return _fit(models, comparisons, prior, iterations, tol)


def win_probability(rating_a: float, rating_b: float) -> float:
    """The chance that a model rated ``rating_a`` beats one rated ``rating_b`` (ties as halves)."""
    return 1 / (1 + 10 ** ((rating_b - rating_a) / 400))


def bootstrap_ratings(
    comparisons: Sequence[Comparison],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    prior: float = 0.5,
    tol: float = _TOL,
) -> dict[str, Interval]:
    """Ratings with percentile intervals from refitting on comparisons resampled with replacement.

    Deterministic for a given ``seed``. Every resample rates every model (one drawn no games
    keeps just its pseudo-games), so each interval is built from ``n_boot`` values. ``tol`` is
    the refits' stopping rule (as in ``bradley_terry``); 1e-6 is ample for an interval and
    several times faster.
    """
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), not {ci!r}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, not {n_boot!r}")
    estimate = bradley_terry(comparisons, prior=prior)
    if not estimate:
        return {}
    models = list(estimate)
    rng = random.Random(seed)
    samples: dict[str, list[float]] = {model: [] for model in models}
    for _ in range(n_boot):
        resample = rng.choices(comparisons, k=len(comparisons))
        for model, rating in _fit(models, resample, prior, _ITERATIONS, tol).items():
            samples[model].append(rating)
    tail = 100 * (1 - ci) / 2
    return {
        model: Interval(
            low=percentile(samples[model], tail),
            estimate=estimate[model],
            high=percentile(samples[model], 100 - tail),
        )
        for model in models
    }


def win_rate_matrix(comparisons: Sequence[Comparison]) -> dict[str, dict[str, WinRate]]:
    """``matrix[m][o]``: how m fared against o, for every ordered pair that met at least once."""
    tallies: dict[str, dict[str, list[int]]] = {}
    for c in comparisons:
        column = {1.0: 0, 0.5: 1, 0.0: 2}[c.outcome]
        tallies.setdefault(c.a, {}).setdefault(c.b, [0, 0, 0])[column] += 1
        tallies.setdefault(c.b, {}).setdefault(c.a, [0, 0, 0])[2 - column] += 1
    return {
        model: {other: WinRate(*counts) for other, counts in sorted(row.items())}
        for model, row in sorted(tallies.items())
    }


def combine_swapped(first: Verdict, second: Verdict) -> PairResult:
    """Combine verdicts on (A=x, B=y) and then (A=y, B=x) into one outcome for x against y."""
    x_first = {"A": 1.0, "B": 0.0, "tie": 0.5}[first]
    x_second = {"A": 0.0, "B": 1.0, "tie": 0.5}[second]
    if x_first == x_second:
        return PairResult(outcome=x_first, consistent=True)
    return PairResult(outcome=0.5, consistent=False)


def judge_agreement(results: Sequence[PairResult]) -> float:
    """The share of pairs on which the judge gave the same verdict in both orders."""
    if not results:
        raise ValueError("judge agreement of no pairs is undefined")
    return sum(r.consistent for r in results) / len(results)


def wilson_interval(successes: float, n: int, z: float = 1.96) -> Interval:
    """The share ``successes / n`` with its Wilson score interval (95 % for the default ``z``).

    Wilson rather than p ± z·se: it stays inside [0, 1] and does not collapse to a point when
    every one of a few trials went the same way (8 of 8 kept says little about the ninth).
    ``successes`` may be fractional, a sum of scores in [0, 1].
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, not {n!r}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], not {successes!r}")
    p, zz = successes / n, z * z
    centre = (p + zz / (2 * n)) / (1 + zz / n)
    half = z * math.sqrt(p * (1 - p) / n + zz / (4 * n * n)) / (1 + zz / n)
    return Interval(max(0.0, centre - half), p, min(1.0, centre + half))


def pareto_frontier(points: Sequence[tuple[str, float, float]]) -> list[str]:
    """Labels of the (label, speed, quality) points no other point dominates, in input order.

    Higher is better on both axes; a point is dominated by one at least as good on both and
    strictly better on one, so identical points are all kept.
    """
    return [
        label
        for label, speed, quality in points
        if not any(
            s >= speed and q >= quality and (s > speed or q > quality) for _, s, q in points
        )
    ]
