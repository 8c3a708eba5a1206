"""Benchmark reports from a recorded run log: the files, their numbers, and the pure aggregation.

The log is written through the RunLog API with hand-picked numbers, so every figure in the report
can be checked against what went in. No model server is needed here; test_bench_run.py runs the
real engine.
"""

from __future__ import annotations

import csv
import json
import statistics
import subprocess
import sys
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from conftest import run_scribe
from scribe.bench.aggregate import build_model, parse_rubric, parse_verdict, recommend, run_checks
from scribe.bench.stats import Interval
from scribe.loops import LOOPING
from scribe.prompts import get_template
from scribe.runlog import CallRequest, Preference, RunLog, RunOutcome, RunRecord
from scribe.runmeta import RunMeta

A, B = "gemma3:270m@temperature=0.2", "gemma3:270m@temperature=0.9"
DRAFT = "# Retries\n\nA retry charged the card twice.\n\n## Keys\n\nIdempotency keys make a retry safe.\n"
TPS = {A: [40.0, 44.0, 48.0, 52.0], B: [20.0, 22.0, 24.0, 26.0]}
TTFT = {A: [100.0, 110.0, 120.0, 400.0], B: [200.0, 210.0, 220.0, 230.0]}
OUTPUTS = {
    "outline": "# Retries\n\n## One\n- a [1]\n\n## Two\n- b [2]\n",
    "critique": json.dumps({"summary": "s", "issues": [{"severity": "high", "quote": "charged the card twice", "problem": "p", "suggestion": "s", "replacement": "charged the card once"}]}),
    "expand": "## Keys\n\n" + " ".join(["word"] * 30) + " [1]",
}
SCHEMA: dict[str, Any] = get_template("critique", None).format  # type: ignore[assignment]


def _run(log: RunLog, task: str, config: str, *, output: str, tps: float | None = None, ttft: float | None = None,
         meta: dict[str, Any] | None = None, status: str = "ok") -> int:
    name, _, opts = config.partition("@")
    run_id = log.start(CallRequest(
        task=task, model=name, messages=[{"role": "user", "content": f"<draft>\n{DRAFT}\n</draft>"}],
        options={"temperature": float(opts.split("=")[1]), "seed": 7} if opts else {},
        prompt_name=task.split(":")[0], prompt_version="v1", sources=[{"path": "n.md"}, {"path": "m.md"}],
        meta=RunMeta.from_json({"bench": "recorded", "config": config, **(meta or {})}),
    ), host="http://127.0.0.1:1", model_digest="sha256:abc")
    log.finish(run_id, RunOutcome(
        status=status, output_text=output, ttft_ms=ttft, eval_tps=tps, eval_count=64,
        eval_duration_ns=int(64 / tps * 1e9) if tps else None, total_duration_ns=2_000_000_000 if tps else None,
        load_duration_ns=1_000_000, prompt_eval_count=500, prompt_tps=400.0 if tps else None,
    ))
    return run_id


def record_log(path: Path) -> None:
    """A bench of two configurations: 4 repeats × 3 tasks each, warm-ups, judge calls, author picks."""
    ids: dict[tuple[str, str, int], int] = {}
    with RunLog(path) as log:
        log.keep_draft("d1", DRAFT)
        _run(log, "bench:warmup", "gemma3:270m", output="OK", meta={"warmup": True, "machine": "test box",
             "engine": {"name": "scribe", "version": "9.9", "host": "h"}, "command": "scribe bench --model A"})
        for repeat in range(4):
            for task in ("outline", "critique", "expand"):
                for config in (A, B):
                    meta = {"draft_hash": "d1", "repeat": repeat, "warmup": False, "sections": 2, "words": 30,
                            **({"section": "Keys"} if task == "expand" else {})}
                    ids[(config, task, repeat)] = _run(log, task, config, output=OUTPUTS[task], tps=TPS[config][repeat],
                                                       ttft=TTFT[config][repeat], meta=meta)
        _run(log, "outline", A, output="", meta={"draft_hash": "d1", "repeat": 9}, status="failed")
        for repeat in range(4):  # the judge prefers A; once it flips with the order
            x, y = ids[(A, "outline", repeat)], ids[(B, "outline", repeat)]
            second = "A" if repeat == 3 else "B"
            for order, verdict in (("xy", "A"), ("yx", second)):
                _run(log, "judge-pairwise:outline", "gemma3:270m", output=json.dumps({"winner": verdict, "reason": "r"}),
                     meta={"judge": "gemma3:270m", "run_x": x, "run_y": y, "order": order, "config_x": A, "config_y": B})
            _run(log, "judge:outline", "gemma3:270m", output=json.dumps({"structure": 4, "coverage": 2, "grounding": 3, "reason": "fine <b>"}),
                 meta={"judge": "gemma3:270m", "judged_run": x, "config": A})
        for repeat in range(3):  # the author prefers B, blind
            log.add_preference(Preference(task="outline", run_a=ids[(A, "outline", repeat)], run_b=ids[(B, "outline", repeat)],
                                          model_a="gemma3:270m", model_b="gemma3:270m", winner="b"))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("recorded")
    (ws / "scribe.toml").write_text('engine = "ollama"\nollama_host = "http://127.0.0.1:9"\n')
    record_log(ws / ".scribe" / "runs.sqlite")
    return ws


@pytest.fixture(scope="module")
def report_dir(recorded: Path) -> Path:
    done = run_scribe("report", "--out", "out", cwd=recorded)
    assert done.returncode == 0, done.stderr
    return recorded / "out"


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.images: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith("data:"):
                self.external.append(value)
            if tag == "img" and name == "src" and value:
                self.images.append(value)


def test_report_files_are_written_and_html_is_self_contained(report_dir: Path) -> None:
    assert {p.name for p in report_dir.iterdir()} >= {"report.md", "report.html", "runs.csv", "summary.json"}
    page = _Page()
    page.feed((report_dir / "report.html").read_text(encoding="utf-8"))
    page.close()
    assert "table" in page.tags and "script" not in page.tags and "link" not in page.tags
    assert page.external == []
    assert len(page.images) == 3 and all(src.startswith("data:image/png;base64,") for src in page.images)
    assert "<b>" not in (report_dir / "report.html").read_text()  # a judge's reason is text, not markup


def test_numbers_match_the_log(recorded: Path, report_dir: Path) -> None:
    with RunLog(recorded / ".scribe" / "runs.sqlite") as log:
        runs = list(log.iter_all())
    rows = list(csv.DictReader((report_dir / "runs.csv").open(encoding="utf-8")))
    assert [int(r["id"]) for r in rows] == [r.id for r in runs]
    for row, run in zip(rows, runs, strict=True):
        assert row["eval_tps"] == ("" if run.eval_tps is None else str(run.eval_tps))
    summary = json.loads((report_dir / "summary.json").read_text())
    latency = {(r["config"], r["task"]): r for r in summary["latency"]}
    assert set(latency) == {(c, t) for c in (A, B) for t in ("outline", "critique", "expand")}
    a_outline = latency[(A, "outline")]
    assert a_outline["n"] == 4 and a_outline["failed"] == 1
    assert a_outline["eval_tps"]["median"] == pytest.approx(statistics.median(TPS[A]))
    assert a_outline["ttft_ms"]["median"] == pytest.approx(statistics.median(TTFT[A]))
    assert a_outline["ttft_ms"]["max"] == 400.0 and a_outline["total_ms"]["median"] == pytest.approx(2000.0)
    assert summary["loads"] == [{"model": "gemma3:270m", "n": 1, "load_ms": summary["loads"][0]["load_ms"]}]
    assert summary["loads"][0]["load_ms"]["median"] == pytest.approx(1.0)
    assert summary["judge"]["pairs"] == 4 and summary["judge"]["agreement"] == pytest.approx(0.75)
    assert summary["preferences"] == 3
    sources = {(s["source"], s["task"]) for s in summary["ratings"]}
    assert sources == {("judge", "all"), ("author", "all"), ("combined", "outline"), ("combined", "all")}
    judge_all = next(s for s in summary["ratings"] if s["source"] == "judge")
    author_all = next(s for s in summary["ratings"] if s["source"] == "author")
    assert judge_all["ratings"][A]["estimate"] > 0 > author_all["ratings"][A]["estimate"]
    rubric = summary["rubric"][0]
    assert (rubric["config"], rubric["n"], rubric["criteria"]) == (A, 4, {"coverage": 2.0, "grounding": 3.0, "structure": 4.0})
    checks = {(c["config"], c["task"], c["check"]): c for c in summary["checks"]}
    assert checks[(A, "critique", "critique schema + quotes")]["passed"] == 4
    assert checks[(A, "outline", "outline structure")]["score"]["estimate"] == 1.0
    prov = summary["provenance"]
    assert prov["machines"] == ["test box"] and prov["engines"] == ["scribe 9.9 at h"]
    assert prov["digests"] == {"gemma3:270m": ["sha256:abc"]} and prov["seeds"][A] == [7]
    md = (report_dir / "report.md").read_text()
    assert "scribe bench --model A" in md and "## Which model for which task" in md and "test box" in md


def test_model_filter_and_since(recorded: Path, tmp_path: Path) -> None:
    done = run_scribe("report", "--model", A, "--out", str(tmp_path / "a"), "--json", cwd=recorded)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert {r["config"] for r in summary["latency"]} == {A}
    assert summary["ratings"] == [] and summary["preferences"] == 0
    done = run_scribe("report", "--since", "2999-01-01", "--out", str(tmp_path / "b"), cwd=recorded)
    assert done.returncode == 1 and "no model runs to report (since 2999-01-01)" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_without_matplotlib_the_report_says_how_to_get_charts(recorded: Path, tmp_path: Path) -> None:
    # A fake: matplotlib is installed in this venv, so its absence is simulated by blocking the import.
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from pathlib import Path\nfrom scribe.bench.report import build_report\nfrom scribe.runlog import RunLog\n"
        f"from scribe.prompts import get_template\nlog = RunLog(Path({str(recorded / '.scribe' / 'runs.sqlite')!r}))\n"
        f"files = build_report(log, Path({str(tmp_path)!r}), critique_schema=get_template('critique', None).format)\n"
        "print(files.charts_note)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "pip install 'scribe[charts]'" in done.stdout
    html = (tmp_path / "report.html").read_text()
    assert "data:image/png" not in html and "scribe[charts]" in html and "<table>" in html


# --- pure parts -------------------------------------------------------------------------------


def _record(task: str, output: str, *, input_text: str = "", meta: dict[str, Any] | None = None, sources: int = 0) -> RunRecord:
    return RunRecord(
        id=1, started_at="2026-01-01T00:00:00", finished_at=None, task=task, model="m", model_digest=None, host="h",
        options={}, prompt_name=task, prompt_version="v", input_text=input_text, output_text=output,
        sources=[{}] * sources, ttft_ms=None, wall_ms=None, total_duration_ns=None, load_duration_ns=None,
        prompt_eval_count=None, prompt_eval_duration_ns=None, eval_count=None, eval_duration_ns=None, prompt_tps=None,
        eval_tps=None, done_reason=None, status="ok", error=None, meta=RunMeta.from_json(meta or {}),
    )


def test_checks_read_what_was_asked_from_the_logged_prompt() -> None:
    outline = _record("outline", "## A\n- x [1]\n## B\n- y [3]\n", input_text="Use exactly 2 sections, each", sources=2)
    checks = run_checks(outline, SCHEMA)
    assert checks["outline structure"].passed and not checks["citations"].passed
    expand = _record("expand", "## Other\n\nwords " * 3, input_text='Expand the section "Keys" of the essay "T" to about 40 words.')
    assert run_checks(expand, SCHEMA)["expand heading + length"].score == 0.0
    critique = _record("critique", OUTPUTS["critique"], input_text=f"<draft>\n{DRAFT}\n</draft>")
    assert run_checks(critique, SCHEMA)["critique schema + quotes"].passed
    assert run_checks(_record("ask", "hi"), SCHEMA) == {}


def test_checks_read_what_was_asked_from_the_meta_and_the_kept_draft_not_the_prompt() -> None:
    """A run logged since the task layer records what it asked: the prompt's wording is not read."""
    prompt = 'Use exactly 5 sections. Expand the section "Other" of the essay to about 400 words.'
    outline = _record("outline", "## A\n- x [1]\n## B\n- y [2]\n", input_text=prompt, meta={"sections": 2}, sources=2)
    assert run_checks(outline, SCHEMA)["outline structure"].passed
    expand = _record("expand", "## Keys\n\n" + "word " * 30, input_text=prompt, meta={"section": "Keys", "heading": "Keys", "words": 30})
    assert run_checks(expand, SCHEMA)["expand heading + length"].passed
    critique = _record("critique", OUTPUTS["critique"], input_text="<draft>\nnothing like it\n</draft>", meta={"draft_hash": "d"})
    assert run_checks(critique, SCHEMA, DRAFT)["critique schema + quotes"].passed
    assert not run_checks(critique, SCHEMA)["critique schema + quotes"].passed  # without the kept draft: the prompt's
    model = build_model([critique], [], critique_schema=SCHEMA, generated_at="now", report_machine="box", drafts={"d": DRAFT})
    assert [(c.check, c.passed) for c in model.checks] == [("critique schema + quotes", 1), ("no repeat loop", 1)]


def test_an_outline_logged_as_json_is_checked_as_the_markdown_the_author_read() -> None:
    reply = json.dumps({"title": "T", "sections": [{"heading": "A", "bullets": ["x [1]", "y"]}, {"heading": "B", "bullets": ["z [3]"]}]})
    checks = run_checks(_record("outline", reply, input_text="in exactly 2 sections.", sources=2), SCHEMA)
    assert checks["outline structure"].passed and checks["citations"].invalid == (3,)
    assert checks["outline own words"].detail == "0 of 3 bullets copied from the draft or notes"
    cut_off = run_checks(_record("outline", reply[:40], input_text="in exactly 2 sections.", sources=2), SCHEMA)
    assert not cut_off["outline structure"].passed


def test_judge_answers_are_parsed_or_rejected() -> None:
    assert parse_rubric('{"a": 4, "b": 9, "ok": true, "reason": "r"}') == ({"a": 4}, "r")
    assert parse_rubric('{"reason": "no scores"}') is None and parse_rubric('{"a": 4') is None
    assert parse_verdict('{"winner": "tie"}') == "tie" and parse_verdict('{"winner": "C"}') is None
    assert parse_verdict('{"review_a": "r", "review_b": "r", "score_a": 7, "score_b": 4}') == "A"
    assert parse_verdict('{"score_a": 3, "score_b": 8}') == "B" and parse_verdict('{"score_a": 5, "score_b": 5}') == "tie"
    assert parse_verdict('{"score_a": true, "score_b": 2}') is None


def test_recommendation_says_when_intervals_overlap_or_data_is_thin() -> None:
    from scribe.bench.aggregate import CheckRow, LatencyRow
    from scribe.bench.stats import summarize

    def rows(a: Interval, b: Interval, n: int) -> list[CheckRow]:
        return [CheckRow(A, "outline", "outline structure", n, n, a), CheckRow(B, "outline", "outline structure", n, n, b)]

    latency = [LatencyRow(c, "outline", 4, 0, None, None, summarize([tps]), None, None) for c, tps in ((A, 50.0), (B, 20.0))]
    overlap = recommend("outline", rows(Interval(0.5, 0.6, 0.7), Interval(0.6, 0.65, 0.8), 20), [], latency)
    assert overlap.config == A and "cannot be told apart" in overlap.text and "fastest" in overlap.text
    clear = recommend("outline", rows(Interval(0.1, 0.2, 0.3), Interval(0.8, 0.9, 1.0), 20), [], latency)
    assert clear.config == B and "leads" in clear.text and "thin" not in clear.text
    thin = recommend("outline", rows(Interval(0.1, 0.2, 0.3), Interval(0.8, 0.9, 1.0), 2), [], latency)
    assert "thin" in thin.text
    assert recommend("expand", [], [], latency).config is None


def test_build_model_keeps_only_the_configurations_asked_for(tmp_path: Path) -> None:
    record_log(tmp_path / "runs.sqlite")
    with RunLog(tmp_path / "runs.sqlite") as log:
        runs, prefs = list(log.iter_all()), log.preferences()
    model = build_model(runs, prefs, critique_schema=SCHEMA, generated_at="now", report_machine="box", keep_config=lambda c: c == B)
    assert {r.config for r in model.latency} == {B} and model.judge.pairs == 0 and model.rubric == []


def test_a_retried_critique_is_checked_once_on_the_output_the_author_saw(tmp_path: Path) -> None:
    with RunLog(tmp_path / "runs.sqlite") as log:
        first = _run(log, "critique", A, output='{"summary": "cut of', tps=10.0, meta={"draft_hash": "d", "repeat": 0})
        _run(log, "critique", A, output=OUTPUTS["critique"], tps=12.0, meta={"draft_hash": "d", "repeat": 0, "retry_of": first})
        runs = list(log.iter_all())
    model = build_model(runs, [], critique_schema=SCHEMA, generated_at="now", report_machine="box")
    assert [(c.check, c.n, c.passed) for c in model.checks] == [("critique schema + quotes", 1, 1), ("no repeat loop", 1, 1)]
    assert model.latency[0].n == 2  # both calls took time


def test_a_run_stopped_for_repeating_itself_fails_the_loop_check_whatever_its_task() -> None:
    for task in ("outline", "critique", "expand"):
        looped = replace(_record(task, "## Keys\n\nThe same words. The same words."), done_reason=LOOPING)
        assert not run_checks(looped, SCHEMA)["no repeat loop"].passed
        assert run_checks(replace(looped, done_reason="stop"), SCHEMA)["no repeat loop"].passed


def test_judge_plan_renders_every_rubric_and_both_orders_of_each_pair() -> None:
    from scribe.bench.executor import split_finished
    from scribe.bench.judge import judged, judging_jobs, plan_judging
    from scribe.modelspec import parse_model_spec
    from scribe.prompts import find_templates
    from scribe.tasks import Draft

    runs = []
    for n, (task, config) in enumerate((t, c) for t in ("outline", "critique", "expand") for c in (A, B)):
        run = _record(task, OUTPUTS[task], meta={"bench": "b", "config": config, "draft_hash": "d", "repeat": 0, "section": "Keys"})
        runs.append(RunRecord(**{**run.__dict__, "id": n + 1}))
    judge = parse_model_spec("gemma3:270m@num_predict=40")
    calls = plan_judging(runs, {"d": Draft("Retries", DRAFT)}, find_templates(None), judge, "b")
    assert sorted(c.task for c in calls).count("judge-pairwise:critique") == 2 and len(calls) == 6 + 3 * 2
    for call in calls:
        messages = call.template.render(call.values)  # every variable the template declares is given
        assert DRAFT.split("\n")[2] in messages[-1]["content"]
    pairs = [c for c in calls if c.task == "judge-pairwise:outline"]
    assert [(c.meta.order, c.values["output_a"] == OUTPUTS["outline"]) for c in pairs] == [("xy", True), ("yx", True)]
    first = calls[0]
    answered = replace(_record(first.task, "{}", meta=first.meta.to_json()), prompt_version=first.template.version)
    todo, done = split_finished(judging_jobs(calls), judged([answered]), force=False)
    assert [j.item for j in done] == [first] and [j.item for j in todo] == calls[1:]  # a rerun judges the rest only


def test_score_intervals_stay_honest_for_few_runs() -> None:
    from scribe.bench.aggregate import mean_interval

    few, many = mean_interval([0.0] * 6), mean_interval([0.0] * 600)
    assert few.estimate == 0.0 and few.low == 0.0 and 0.3 < few.high < 0.5
    assert many.high < 0.01
    half = mean_interval([0.0, 1.0] * 50)
    assert half.low < 0.5 < half.high and half.estimate == 0.5


def test_a_replay_under_the_same_name_is_not_one_of_the_benchs_runs() -> None:
    from scribe.bench.runner import bench_runs

    item = _record("critique", OUTPUTS["critique"], meta={"bench": "b", "config": A, "repeat": 0})
    replay = _record("critique", OUTPUTS["critique"], meta={"bench": "b", "config": A, "repeat": 0, "replay_of": 3})
    assert bench_runs([item, replay], "b") == [item]
