"""`scribe bench` for real: the embedded engine, the bundled model, the run log, the report.

The CI bench (issue 6): two configurations of the bundled model over the three drafts in
notes/drafts, three tasks, `--repeats 2`, with a small `num_predict` from `--options-file` to keep
it cheap. It runs as repeats 1 and then repeats 2, so the second run is also the resume check.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_support import one_line_error, scribe
from conftest import MODEL, REPO, run_scribe
from processes import child_env

from scribe.bench.judge import final_runs
from scribe.runlog import RunLog

CONFIGS = [f"{MODEL}@temperature=0.2", f"{MODEL}@temperature=0.9"]
TASKS = ["outline", "critique", "expand"]


def _bench_args(*extra: str) -> list[str]:
    args = ["bench", "--drafts", "notes/drafts", "--options-file", "options.json", "-k", "0", "--json"]
    for config in CONFIGS:
        args += ["--model", config]
    return args + [a for task in TASKS for a in ("--task", task)] + list(extra)


@pytest.fixture
def bench_workspace(workspace: Path) -> Path:
    shutil.copytree(REPO / "notes" / "drafts", workspace / "notes" / "drafts")
    (workspace / "options.json").write_text(json.dumps({"num_predict": 48, "seed": 3}))
    return workspace


def _runs(ws: Path) -> list:  # type: ignore[type-arg]
    with RunLog(ws / ".scribe" / "runs.sqlite") as log:
        return list(log.iter_all())


@pytest.mark.slow
@pytest.mark.timeout(3600)  # about 50 model calls: minutes on 2 idle cores, more on a busy machine
def test_ci_bench_two_configurations_resumes_and_reports(bench_workspace: Path) -> None:
    ws = bench_workspace
    first = run_scribe(*_bench_args("--repeats", "1", "--out", "reports/ci"), cwd=ws, timeout=3600)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["done"] == 18
    second = run_scribe(*_bench_args("--repeats", "2", "--out", "reports/ci"), cwd=ws, timeout=3600)
    assert second.returncode == 0, second.stderr
    assert (json.loads(second.stdout)["done"], json.loads(second.stdout)["skipped"]) == (18, 18)
    runs = _runs(ws)
    warmups = [r for r in runs if r.task == "bench:warmup"]
    contest = [r for r in runs if r.task in TASKS]
    assert len(warmups) == 2 and all(r.meta.warmup and r.meta.engine.name == "scribe engine" for r in warmups)
    assert all(r.meta.bench == "ci" and r.options["num_predict"] == 48 for r in contest)
    assert all(r.options["seed"] == (4 if r.meta.retry_of is not None else 3) for r in contest)  # a critique retry takes the next seed
    finals = {(r.meta.draft_hash, r.meta.config, r.task, r.meta.repeat) for r in contest if r.status == "ok"}
    assert len(finals) == 3 * 3 * 2 * 2
    # interleaved: consecutive items of one (repeat, draft, task) alternate the configurations
    firsts = [r.meta.config for r in contest if r.meta.retry_of is None]
    assert all(a != b for a, b in zip(firsts[::2], firsts[1::2], strict=True))
    assert firsts[0] != firsts[2]  # and which one goes first rotates

    third = run_scribe(*_bench_args("--repeats", "2", "--out", "reports/ci"), cwd=ws, timeout=600)
    assert third.returncode == 0, third.stderr
    assert (json.loads(third.stdout)["done"], json.loads(third.stdout)["skipped"]) == (0, 36)
    assert len(_runs(ws)) == len(runs)  # nothing re-run, not even a warm-up

    out = ws / "reports" / "ci"
    summary = json.loads((out / "summary.json").read_text())
    latency = {(r["config"], r["task"]): r for r in summary["latency"]}
    assert set(latency) == {(c, t) for c in CONFIGS for t in TASKS}
    assert all(row["n"] >= 6 and row["eval_tps"]["median"] > 0 for row in latency.values())
    assert summary["loads"][0]["model"] == MODEL and len(summary["recommendations"]) == 3
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 2 and "<script" not in html
    assert "scribe engine" in (out / "report.md").read_text()


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_ctrl_c_keeps_finished_runs_and_the_rerun_finishes_and_judges(bench_workspace: Path) -> None:
    ws = bench_workspace
    one = ws / "one"
    one.mkdir()
    shutil.copy(ws / "notes" / "drafts" / "idempotency-in-payment-flows.md", one)
    args = ["bench", "--drafts", "one", "--task", "outline", "--repeats", "1", "--options-file", "options.json",
            "-k", "0", "--out", "reports/small", *(a for c in CONFIGS for a in ("--model", c))]
    env = child_env()
    proc = subprocess.Popen([sys.executable, "-m", "scribe", *args], cwd=ws, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and proc.poll() is None:
        if (ws / ".scribe" / "runs.sqlite").exists() and any(r.task == "outline" and r.status == "ok" for r in _runs(ws)):
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)  # Ctrl-C, during the second item (or after the last, if it was quick)
    _, stderr = proc.communicate(timeout=300)
    finished = final_runs([r for r in _runs(ws) if r.task == "outline" and r.status == "ok"])  # an outline cut off is retried
    if proc.returncode != 0:
        assert proc.returncode == 1 and "interrupted" in stderr and "run the same command again" in stderr
        assert len(stderr.strip().splitlines()) == 1
    assert finished

    judge = f"{MODEL}@num_predict=40"
    rerun = run_scribe(*args, "--judge", judge, "--json", cwd=ws, timeout=3600)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["skipped"] == len(finished)
    runs = _runs(ws)
    outlines = final_runs([r for r in runs if r.task == "outline" and r.status == "ok"])
    assert len(outlines) == 2
    rubric = [r for r in runs if r.task == "judge:outline"]
    pairwise = [r for r in runs if r.task == "judge-pairwise:outline"]
    assert sorted(r.meta.judged_run for r in rubric) == sorted(r.id for r in outlines)
    assert sorted(r.meta.order for r in pairwise) == ["xy", "yx"]
    assert {r.meta.run_x for r in pairwise} | {r.meta.run_y for r in pairwise} == {r.id for r in outlines}
    assert all(r.prompt_name in ("judge-outline", "judge-pairwise") and r.options["num_predict"] == 40 for r in rubric + pairwise)
    summary = json.loads((ws / "reports" / "small" / "summary.json").read_text())
    assert summary["judge"]["judges"] == [judge]
    assert set(summary["judge"]["prompt_versions"]) == {"judge-outline", "judge-pairwise"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "poem"], "--task 'poem': not a bench task; use one of: outline, critique, expand"),
        (["--drafts", "missing"], "--drafts missing: no such folder"),
        (["--drafts", "empty"], "--drafts empty: no .md drafts in it"),
        (["--options-file", "bad.json"], "--options-file bad.json: not valid JSON"),
        (["--options-file", "list.json"], "--options-file list.json: must be a flat mapping of model options"),
        (["--options-file", "nope.toml"], "--options-file nope.toml: cannot read it"),
        (["--model", "@temperature=1"], "missing the model name"),
    ],
)
def test_bench_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)  # the paths given are relative, as typed
    (tmp_path / "scribe.toml").write_text('engine = "ollama"\nollama_host = "http://127.0.0.1:9"\n')
    (tmp_path / "notes" / "drafts").mkdir(parents=True)
    (tmp_path / "notes" / "drafts" / "d.md").write_text("# D\n\ntext\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[48]")
    ran = scribe(tmp_path, "bench", *args)
    assert message in one_line_error(ran) and len(ran.stderr.strip().splitlines()) == 1, ran.stderr


def test_report_without_a_run_log_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "scribe.toml").write_text('engine = "ollama"\n')
    ran = scribe(tmp_path, "report", "--out", "r")
    assert "no run log yet" in one_line_error(ran) and len(ran.stderr.strip().splitlines()) == 1, ran.stderr


def test_plan_interleaves_and_rotates_the_configurations() -> None:
    from scribe.bench.runner import plan
    from scribe.modelspec import parse_model_spec
    from scribe.tasks import Draft

    specs = [parse_model_spec(s) for s in ("a", "b", "c")]
    items = plan(specs, ["outline", "expand"], [Draft("D", "body")], 2)
    rounds = [items[i : i + 3] for i in range(0, len(items), 3)]
    assert len(items) == 12 and all(len({(i.task, i.repeat) for i in r}) == 1 for r in rounds)
    assert [[i.spec.name for i in r] for r in rounds] == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]]
