"""What the author keeps of proposed edits: decisions in the run log, their migration, the Wilson
interval, and the report's "Kept by the author" section and its part in recommendations.

Runs are written with test_bench_report's helper, so the report sees the same kind of log as there.
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest

from conftest import run_scribe
from scribe.bench.aggregate import CheckRow, KeptRow, build_model, recommend
from scribe.bench.stats import Interval, wilson_interval
from scribe.runlog import MIGRATIONS, Decision, RunLog
from test_bench_report import OUTPUTS, SCHEMA, A, B, _run
from test_runlog import SCHEMA_V2


def _decide(log: RunLog, run_id: int, hunk_id: int, decision: str, *, edited: str | None = None, source: str = "tui") -> int:
    return log.add_decision(Decision(run_id, hunk_id, "drafts/retries.md", "charged the card twice", "charged the card once",
                                     decision, edited_text=edited, source=source))


# --- the run log --------------------------------------------------------------------------------


def test_decisions_are_recorded_on_disk_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / ".scribe" / "runs.sqlite"
    with RunLog(path) as log:
        first, second = (_run(log, "critique", c, output=OUTPUTS["critique"], tps=10.0) for c in (A, B))
        _decide(log, first, 0, "accept")
        _decide(log, first, 1, "edit", edited="charged it once", source="cli")
        _decide(log, second, 0, "reject")
    with RunLog(path) as log:  # a fresh connection: what was written is on disk
        every = log.decisions()
        assert [d.run_id for d in log.decisions(run_id=first)] == [first, first]
        assert log.decisions(since="2999-01-01") == [] and len(log.decisions(since="2000-01-01")) == 3
    assert [(d.id, d.hunk_id, d.decision, d.edited_text, d.source, d.kept) for d in every] == [
        (1, 0, "accept", None, "tui", True), (2, 1, "edit", "charged it once", "cli", True), (3, 0, "reject", None, "tui", False),
    ]
    assert every[0].created_at and every[0].draft_path == "drafts/retries.md"
    assert (every[0].old_text, every[0].new_text) == ("charged the card twice", "charged the card once")


def test_a_decision_is_validated_before_and_by_the_table(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="decision must be"):
        Decision(1, 0, "d.md", "a", "b", "keep")
    with pytest.raises(ValueError, match="edited_text"):
        Decision(1, 0, "d.md", "a", "b", "edit")
    with pytest.raises(ValueError, match="edited_text"):
        Decision(1, 0, "d.md", "a", "b", "accept", edited_text="c")
    with RunLog(tmp_path / "runs.sqlite") as log:
        run_id = _run(log, "critique", A, output=OUTPUTS["critique"])
    db = sqlite3.connect(tmp_path / "runs.sqlite")
    insert = "INSERT INTO decisions (created_at, run_id, hunk_id, draft_path, old_text, new_text, decision, edited_text) VALUES ('t', ?, 0, 'd', 'a', 'b', ?, ?)"
    for decision, edited in (("maybe", None), ("reject", "c"), ("edit", None)):
        with pytest.raises(sqlite3.IntegrityError):
            db.execute(insert, (run_id, decision, edited))
    db.close()


# The drafts table as migration 3 created it: with SCHEMA_V2, a run log as scribe wrote it at version 3.
SCHEMA_V3 = SCHEMA_V2.replace("PRAGMA user_version = 2;", """
CREATE TABLE drafts (hash TEXT PRIMARY KEY, text TEXT NOT NULL, first_seen TEXT NOT NULL);
PRAGMA user_version = 3;
""")


def test_a_version_3_log_is_migrated_and_takes_decisions(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_V3)
    db.execute("INSERT INTO runs (started_at, task, model, host, status, output_text) VALUES ('2025-01-01T00:00:00', 'critique', 'm', 'h', 'ok', '{}')")
    db.execute("INSERT INTO drafts VALUES ('d1', '# Draft', '2025-01-01T00:00:00')")
    db.commit()
    db.close()
    with RunLog(path) as log:
        assert log.decisions() == [] and log.drafts() == {"d1": "# Draft"}
        (run,) = log.iter_all()
        _decide(log, run.id, 0, "accept")
        assert [(d.run_id, d.decision) for d in log.decisions()] == [(run.id, "accept")]
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


# --- the Wilson interval ------------------------------------------------------------------------


@pytest.mark.parametrize(("successes", "n", "low", "high"), [
    (8, 10, 0.4902, 0.9433), (2, 10, 0.0567, 0.5098), (5, 10, 0.2366, 0.7634),
    (0, 10, 0.0, 0.2775), (10, 10, 0.7225, 1.0), (1, 10, 0.0179, 0.4042), (81, 263, 0.2553, 0.3662),
])
def test_wilson_interval_matches_known_values(successes: int, n: int, low: float, high: float) -> None:
    i = wilson_interval(successes, n)
    assert (i.low, i.estimate, i.high) == pytest.approx((low, successes / n, high), abs=5e-5)


@pytest.mark.parametrize(("successes", "n"), [(3, 7), (8, 10), (40, 50)])
def test_wilson_bounds_solve_the_score_equation(successes: int, n: int) -> None:
    """Each bound p is where the observed share is exactly z standard errors (at p itself) from p."""
    i, z = wilson_interval(successes, n, z=2.5758), 2.5758
    for p in (i.low, i.high):
        assert abs(successes / n - p) == pytest.approx(z * math.sqrt(p * (1 - p) / n))
    mirrored = wilson_interval(n - successes, n, z=2.5758)
    assert (mirrored.low, mirrored.high) == pytest.approx((1 - i.high, 1 - i.low))


def test_wilson_interval_refuses_what_is_not_a_share() -> None:
    for successes, n in ((1, 0), (-1, 5), (6, 5)):
        with pytest.raises(ValueError):
            wilson_interval(successes, n)


# --- the report -------------------------------------------------------------------------------


def _record_critiques(log: RunLog, config: str, kept: int, *, edited: int = 0) -> list[int]:
    """Five critiques by `config`, two hunks each: `kept` of the ten kept (`edited` of them with changes)."""
    runs = [_run(log, "critique", config, output=OUTPUTS["critique"], tps=30.0, ttft=100.0,
                 meta={"draft_hash": "d1", "repeat": repeat, "warmup": False}) for repeat in range(5)]
    verdicts = ["edit"] * edited + ["accept"] * (kept - edited) + ["reject"] * (10 - kept)
    for k, verdict in enumerate(verdicts):
        _decide(log, runs[k // 2], k % 2, verdict, edited="charged it once" if verdict == "edit" else None)
    return runs


def test_the_report_shows_what_the_author_kept(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "scribe.toml").write_text('engine = "ollama"\nollama_host = "http://127.0.0.1:9"\n')
    with RunLog(ws / ".scribe" / "runs.sqlite") as log:
        _record_critiques(log, A, 8, edited=2)
        b_runs = _record_critiques(log, B, 3)
        _decide(log, b_runs[0], 0, "reject")  # B's first kept hunk undone: its latest decision counts
    done = run_scribe("report", "--out", "out", "--json", cwd=ws)
    assert done.returncode == 0, done.stderr
    out = ws / "out"
    summary = json.loads((out / "summary.json").read_text())
    rows = {(r["config"], r["task"]): r for r in summary["kept_by_author"]}
    assert set(rows) == {(A, "critique"), (B, "critique")}
    a, b = rows[(A, "critique")], rows[(B, "critique")]
    assert (a["n"], a["kept"], a["edited"], b["n"], b["kept"], b["edited"]) == (10, 8, 2, 10, 2, 0)
    assert (a["rate"]["low"], a["rate"]["estimate"], a["rate"]["high"]) == pytest.approx((0.4902, 0.8, 0.9433), abs=5e-5)
    assert (b["rate"]["low"], b["rate"]["estimate"], b["rate"]["high"]) == pytest.approx((0.0567, 0.2, 0.5098), abs=5e-5)
    md = (out / "report.md").read_text()
    section = md.split("## Kept by the author", 1)[1].split("\n## ", 1)[0]
    assert f"| {A} | critique | 10 | 8 | 2 | 2 | 80% [49%, 94%] |" in section
    assert f"| {B} | critique | 10 | 2 | 0 | 8 | 20% [6%, 51%] |" in section
    assert "Kept by the author" in (out / "report.html").read_text()
    # 8 of 10 against 2 of 10: the intervals still overlap, so the pick stays the checks' and says why
    (critique,) = json.loads(done.stdout)["recommendations"]
    assert "deterministic check" in critique and "Kept by the author does not single one out" in critique
    assert f"{A} 80% [49%, 94%] of 10" in critique
    checks = {c["config"]: (c["n"], c["score"]) for c in summary["checks"]}
    assert checks[A] == checks[B] and checks[A][0] == 5  # same outputs, same checks: what was kept is not blended in


def test_decisions_follow_the_configurations_kept(tmp_path: Path) -> None:
    with RunLog(tmp_path / "runs.sqlite") as log:
        _record_critiques(log, A, 8)
        _record_critiques(log, B, 2)
        runs, decisions = list(log.iter_all()), log.decisions()
    model = build_model(runs, [], decisions, critique_schema=SCHEMA, generated_at="now", report_machine="box", keep_config=lambda c: c == B)
    assert [(r.config, r.n, r.kept) for r in model.kept_by_author] == [(B, 10, 2)]
    assert build_model(runs, [], critique_schema=SCHEMA, generated_at="now", report_machine="box").kept_by_author == []


def test_recommendation_follows_the_author_only_when_the_intervals_are_apart() -> None:
    checks = [CheckRow(A, "critique", "critique schema + quotes", 20, 20, Interval(0.8, 0.9, 1.0)),
              CheckRow(B, "critique", "critique schema + quotes", 20, 20, Interval(0.1, 0.2, 0.3))]

    def kept(a: int, b: int, n: int = 10) -> list[KeptRow]:
        return [KeptRow(A, "critique", n, a, 0, wilson_interval(a, n)), KeptRow(B, "critique", n, b, 0, wilson_interval(b, n))]

    scores_only = recommend("critique", checks, [], [])
    assert scores_only.config == A
    apart = recommend("critique", checks, [], [], kept(1, 9))
    assert (apart.config, apart.basis) == (B, "kept by the author (20 decisions)")
    assert apart.text.startswith(f"critique: {B}, whose edits the author kept most often")
    assert f"By the other measures, {A} leads on deterministic check" in apart.text  # reported apart, not mixed in
    overlapping = recommend("critique", checks, [], [], kept(2, 8))
    assert (overlapping.config, overlapping.basis) == (A, scores_only.basis) and "does not single one out" in overlapping.text
    assert recommend("critique", checks, [], [], kept(0, 9, n=9)) == scores_only  # too few decisions to speak
    assert recommend("critique", checks, [], [], kept(1, 9)[1:]) == scores_only  # one configuration: nothing to compare
    assert recommend("outline", checks, [], [], kept(1, 9)).config is None  # another task's decisions do not count


def test_without_ratings_a_task_is_recommended_on_its_main_check_alone() -> None:
    checks = [CheckRow(A, "outline", "no repeat loop", 20, 20, Interval(1.0, 1.0, 1.0)),
              CheckRow(A, "outline", "outline own words", 20, 20, Interval(0.9, 0.95, 1.0)),
              CheckRow(A, "outline", "outline structure", 20, 4, Interval(0.1, 0.2, 0.3)),
              CheckRow(B, "outline", "no repeat loop", 20, 15, Interval(0.5, 0.75, 0.9)),
              CheckRow(B, "outline", "outline own words", 20, 10, Interval(0.3, 0.5, 0.7)),
              CheckRow(B, "outline", "outline structure", 20, 18, Interval(0.7, 0.9, 1.0))]
    picked = recommend("outline", checks, [], [])
    assert (picked.config, picked.basis) == (B, "deterministic check (outline structure)")
    assert f"{A} 0.20" in picked.text and "0.95" not in picked.text and "0.75" not in picked.text  # not the other checks' figures
