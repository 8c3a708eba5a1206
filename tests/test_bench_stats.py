"""Tests for scribe.bench.stats: percentiles, Bradley-Terry, bootstrap, position swaps, Pareto."""

from __future__ import annotations

import math
import random
import statistics

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scribe.bench.stats import (
    Comparison,
    Interval,
    JudgedPair,
    PairResult,
    Verdict,
    bootstrap_ratings,
    bradley_terry,
    combine_swapped,
    judge_agreement,
    pareto_frontier,
    percentile,
    summarize,
    win_probability,
    win_rate_matrix,
)

LOGIT_08 = 400 * math.log10(4)  # an 80 % win rate on the Elo-like scale, about 240.8


def games(a: str, b: str, *, wins: int, losses: int, ties: int = 0) -> list[Comparison]:
    return (
        [Comparison(a, b, 1.0)] * wins + [Comparison(a, b, 0.0)] * losses + [Comparison(a, b, 0.5)] * ties
    )


CHAIN = games("a", "b", wins=80, losses=20) + games("b", "c", wins=80, losses=20)


# percentiles and summaries


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1, 2, 3, 4], 0, 1),
        ([1, 2, 3, 4], 25, 1.75),
        ([1, 2, 3, 4], 50, 2.5),
        ([4, 1, 3, 2], 100, 4),
        ([10, 20], 95, 19.5),
        ([7], 37, 7),
    ],
)
def test_percentile_known_values(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == pytest.approx(expected)


@given(
    st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=1, max_size=50),
    st.floats(min_value=0, max_value=100),
)
def test_percentile_matches_numpy(values: list[float], q: float) -> None:
    expected = float(np.percentile(values, q))
    assert percentile(values, q) == pytest.approx(expected, rel=1e-9, abs=1e-6)


def test_percentile_rejects_empty_values_and_bad_q() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    for q in (-1, 100.5, math.nan):
        with pytest.raises(ValueError):
            percentile([1.0], q)


def test_summarize_known_sample() -> None:
    values = [float(v) for v in range(10, 0, -1)]
    s = summarize(values)
    assert (s.n, s.min, s.max) == (10, 1, 10)
    assert s.median == pytest.approx(5.5)
    assert s.p95 == pytest.approx(9.55)
    assert s.mean == pytest.approx(5.5)
    assert s.stdev == pytest.approx(statistics.stdev(values))
    assert s.iqr == pytest.approx(7.75 - 3.25)


def test_summarize_single_value_has_zero_spread_and_empty_raises() -> None:
    s = summarize([3.0])
    assert (s.n, s.median, s.p95, s.stdev, s.iqr) == (1, 3.0, 3.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        summarize([])


# Bradley-Terry


def test_ratings_follow_the_chain_and_match_the_logit_gap() -> None:
    ratings = bradley_terry(CHAIN, prior=0.01)
    assert ratings["a"] > ratings["b"] > ratings["c"]
    assert ratings["a"] - ratings["b"] == pytest.approx(LOGIT_08, abs=2)
    assert ratings["b"] - ratings["c"] == pytest.approx(LOGIT_08, abs=2)
    assert sum(ratings.values()) == pytest.approx(0, abs=1e-6)
    assert win_probability(ratings["a"], ratings["b"]) == pytest.approx(0.8, abs=0.005)


def test_default_prior_shrinks_gaps_only_a_little() -> None:
    ratings = bradley_terry(CHAIN)
    assert LOGIT_08 - 15 < ratings["a"] - ratings["b"] < LOGIT_08


def test_ties_count_as_half_a_win() -> None:
    with_ties = bradley_terry(games("a", "b", wins=2, losses=0, ties=2))
    without = bradley_terry(games("a", "b", wins=3, losses=1))
    assert with_ties == pytest.approx(without)
    assert bradley_terry(games("a", "b", wins=0, losses=0, ties=5)) == pytest.approx({"a": 0, "b": 0})


def test_an_undefeated_model_stays_finite() -> None:
    ratings = bradley_terry(games("a", "b", wins=50, losses=0) + games("b", "c", wins=5, losses=5))
    assert all(math.isfinite(r) for r in ratings.values())
    assert ratings["a"] > max(ratings["b"], ratings["c"])
    assert ratings["a"] - ratings["b"] < 1000  # 50-0 is strong evidence, not certainty


def test_disconnected_groups_still_get_finite_ratings() -> None:
    ratings = bradley_terry(games("a", "b", wins=3, losses=1) + games("c", "d", wins=1, losses=3))
    assert ratings["a"] > ratings["b"] and ratings["d"] > ratings["c"]
    assert all(math.isfinite(r) for r in ratings.values())


def test_no_comparisons_no_ratings_and_prior_must_be_positive() -> None:
    assert bradley_terry([]) == {}
    with pytest.raises(ValueError):
        bradley_terry(CHAIN, prior=0)


def test_comparisons_are_validated() -> None:
    with pytest.raises(ValueError):
        Comparison("a", "b", 0.7)
    with pytest.raises(ValueError):
        Comparison("a", "a", 1.0)


# bootstrap


def simulate(true: dict[str, float], n: int, rng: random.Random) -> list[Comparison]:
    models = sorted(true)
    out = []
    for _ in range(n):
        a, b = rng.sample(models, 2)
        outcome = 1.0 if rng.random() < win_probability(true[a], true[b]) else 0.0
        out.append(Comparison(a, b, outcome))
    return out


def test_bootstrap_intervals_cover_the_true_ratings() -> None:
    true = {"small": -150.0, "medium": 0.0, "large": 150.0}  # centred, like the fitted ratings
    rng = random.Random(1)
    covered = dict.fromkeys(true, 0)
    for dataset in range(20):
        intervals = bootstrap_ratings(simulate(true, 300, rng), n_boot=200, seed=dataset)
        for model, interval in intervals.items():
            covered[model] += interval.low <= true[model] <= interval.high
    assert all(count >= 17 for count in covered.values()), covered


def test_bootstrap_is_deterministic_given_the_seed_and_brackets_the_estimate() -> None:
    first = bootstrap_ratings(CHAIN, n_boot=100, seed=7)
    assert first == bootstrap_ratings(CHAIN, n_boot=100, seed=7)
    assert first != bootstrap_ratings(CHAIN, n_boot=100, seed=8)
    estimate = bradley_terry(CHAIN)
    for model, interval in first.items():
        assert isinstance(interval, Interval)
        assert interval.estimate == pytest.approx(estimate[model])
        assert interval.low <= interval.estimate <= interval.high
    narrow = bootstrap_ratings(CHAIN, n_boot=100, seed=7, ci=0.5)["a"]
    assert first["a"].low < narrow.low <= narrow.high < first["a"].high


def test_bootstrap_of_nothing_and_bad_arguments() -> None:
    assert bootstrap_ratings([], n_boot=10) == {}
    with pytest.raises(ValueError):
        bootstrap_ratings(CHAIN, ci=1.0)
    with pytest.raises(ValueError):
        bootstrap_ratings(CHAIN, n_boot=0)


# win rates


def test_win_rate_matrix_counts_both_directions() -> None:
    matrix = win_rate_matrix(games("a", "b", wins=3, losses=1, ties=2) + games("c", "a", wins=1, losses=0))
    ab, ba = matrix["a"]["b"], matrix["b"]["a"]
    assert (ab.wins, ab.ties, ab.losses, ab.n) == (3, 2, 1, 6)
    assert (ba.wins, ba.ties, ba.losses) == (1, 2, 3)
    assert ab.rate == pytest.approx(4 / 6) and ab.rate + ba.rate == pytest.approx(1)
    assert matrix["a"]["c"].rate == 0 and matrix["c"]["a"].rate == 1
    assert "c" not in matrix["b"]


# position swap


@pytest.mark.parametrize(
    ("first", "second", "outcome", "consistent"),
    [
        ("A", "B", 1.0, True),  # x shown first wins, then x shown second wins
        ("B", "A", 0.0, True),  # y wins in both orders
        ("tie", "tie", 0.5, True),
        ("A", "A", 0.5, False),  # the judge always picks the first position
        ("B", "B", 0.5, False),  # the judge always picks the second position
        ("A", "tie", 0.5, False),
        ("tie", "B", 0.5, False),
        ("B", "tie", 0.5, False),
        ("tie", "A", 0.5, False),
    ],
)
def test_combine_swapped_maps_positions_back_to_models(
    first: Verdict, second: Verdict, outcome: float, consistent: bool
) -> None:
    assert combine_swapped(first, second) == PairResult(outcome, consistent)


def test_judged_pair_becomes_a_comparison_for_x_against_y() -> None:
    assert JudgedPair("x", "y", "B", "A").comparison() == Comparison("x", "y", 0.0)
    assert JudgedPair("x", "y", "A", "A").result() == PairResult(0.5, False)


def test_judge_agreement_is_the_share_of_consistent_pairs() -> None:
    pairs = [JudgedPair("x", "y", "A", "B"), JudgedPair("x", "y", "A", "A"),
             JudgedPair("y", "z", "tie", "tie"), JudgedPair("x", "z", "B", "A")]
    assert judge_agreement([p.result() for p in pairs]) == 0.75
    with pytest.raises(ValueError):
        judge_agreement([])


# Pareto frontier


def test_pareto_frontier_keeps_the_undominated_in_order() -> None:
    points = [
        ("fast-weak", 100.0, 0.2),
        ("balanced", 50.0, 0.6),
        ("dominated", 40.0, 0.5),
        ("slow-strong", 10.0, 0.9),
        ("tied-with-balanced", 50.0, 0.6),
        ("same-speed-worse", 10.0, 0.8),
    ]
    assert pareto_frontier(points) == ["fast-weak", "balanced", "slow-strong", "tied-with-balanced"]
    assert pareto_frontier([]) == []
    assert pareto_frontier([("only", 1.0, 1.0)]) == ["only"]
