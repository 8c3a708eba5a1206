"""How long `scribe report` takes on a large run log. Target (issue 6): under 5 s for 10,000 runs.

Synthesises a log through the RunLog API: bench runs of three configurations over three tasks
(realistic outputs, so every deterministic check does its real work), warm-ups, judge rubric and
pairwise calls, and some blind preferences; then times the real command (`python -m scribe report`,
a fresh process, as the author runs it) and the in-process build alone. CPU seconds are printed
beside wall seconds: on a shared machine (see the load average line) wall time includes waiting
for a core, CPU time does not.

    .venv/bin/python benchmarks/report_bench.py [--runs 10000] [--judged 600] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import machine

from scribe.bench.report import build_report
from scribe.prompts import get_template
from scribe.runlog import CallRequest, Preference, RunLog, RunOutcome
from scribe.runmeta import RunMeta

TARGET_S = 5.0
CONFIGS = ["gemma3:270m@temperature=0.2", "gemma3:270m@temperature=0.9", "qwen3:0.6b"]
TASKS = ["outline", "critique", "expand"]
DRAFT = "# Retries\n\nA retry that charged the card twice is the classic failure of payment flows.\n\n## Keys\n\nIdempotency keys make a retry safe.\n"


def _output(task: str, rng: random.Random) -> str:
    if task == "outline":
        sections = rng.choice([4, 5, 5, 6])
        return "# Title\n\n" + "\n".join(f"## Part {i}\n- a point [{rng.randint(1, 6)}]\n- another" for i in range(sections))
    if task == "critique":
        quote = rng.choice(["charged the card twice", "make a retry safe", "an invented quote"])
        return json.dumps({"summary": "thin", "issues": [{"severity": "high", "quote": quote, "problem": "p", "suggestion": "s"}]})
    return "## Keys\n\n" + " ".join(["word"] * rng.randint(60, 260)) + " [2]"


def synthesise(path: Path, n_runs: int, n_judged: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    speed = {c: rng.uniform(20, 60) for c in CONFIGS}
    with RunLog(path) as log:
        for i in range(7):
            log.keep_draft(f"d{i}", DRAFT)
        for config in CONFIGS:
            name = config.split("@")[0]
            run_id = log.start(CallRequest(task="bench:warmup", model=name, messages=[{"role": "user", "content": "Say OK."}],
                                           meta=RunMeta(bench="synthetic", warmup=True, config=name, machine=machine())),
                               host="http://127.0.0.1:11435")
            log.finish(run_id, RunOutcome(status="ok", output_text="OK", load_duration_ns=rng.randint(2, 9) * 10**8))
        contest: list[tuple[int, str, str, int]] = []
        for i in range(n_runs):
            config, task = CONFIGS[i % len(CONFIGS)], TASKS[(i // len(CONFIGS)) % len(TASKS)]
            name, _, opts = config.partition("@")
            tps = rng.gauss(speed[config], 3)
            eval_count = rng.randint(40, 400)
            meta = RunMeta(bench="synthetic", config=config, draft_hash=f"d{i % 7}", repeat=i // 63,
                           sections=5 if task == "outline" else None, words=150 if task == "expand" else None,
                           section="Keys" if task == "expand" else None, heading="Keys" if task == "expand" else None)
            run_id = log.start(CallRequest(task=task, model=name, messages=[{"role": "user", "content": f"The draft, as data:\n<draft>\n{DRAFT}\n</draft>"}],
                                           options={"temperature": 0.2, "seed": 1} if opts else {}, prompt_name=task,
                                           prompt_version="abc123", sources=[{"path": "n.md"}] * 6, meta=meta),
                               host="http://127.0.0.1:11435", model_digest=f"sha256:{name}")
            log.finish(run_id, RunOutcome(
                status="ok", output_text=_output(task, rng), ttft_ms=rng.uniform(200, 900),
                wall_ms=eval_count / tps * 1000 + 500, total_duration_ns=int((eval_count / tps + 0.5) * 1e9),
                load_duration_ns=rng.randint(1, 5) * 10**6, prompt_eval_count=900,
                prompt_eval_duration_ns=int(900 / rng.uniform(300, 600) * 1e9), eval_count=eval_count,
                eval_duration_ns=int(eval_count / tps * 1e9), prompt_tps=rng.uniform(300, 600), eval_tps=tps,
            ))
            contest.append((run_id, config, task, i // len(CONFIGS)))
        for run_id, config, task, _ in contest[:n_judged]:
            jid = log.start(CallRequest(task=f"judge:{task}", model="gemma3:270m", messages=[], prompt_name=f"judge-{task}", prompt_version="j1",
                                        meta=RunMeta(bench="synthetic", judge="gemma3:270m", judged_run=run_id, config=config)), host="h")
            log.finish(jid, RunOutcome(status="ok", output_text=json.dumps({"a": rng.randint(1, 5), "b": rng.randint(1, 5), "reason": "ok"})))
        by_item: dict[int, list[tuple[int, str, str, int]]] = {}
        for entry in contest[:n_judged]:
            by_item.setdefault(entry[3], []).append(entry)
        for group in by_item.values():
            for (x, cx, task, _), (y, cy, _, _) in zip(group, group[1:]):
                for order in ("xy", "yx"):
                    jid = log.start(CallRequest(task=f"judge-pairwise:{task}", model="gemma3:270m", messages=[],
                                                prompt_name="judge-pairwise", prompt_version="p1",
                                                meta=RunMeta(bench="synthetic", judge="gemma3:270m", run_x=x, run_y=y,
                                                             order=order, config_x=cx, config_y=cy)), host="h")
                    winner = rng.choice("AAB") if order == "xy" else rng.choice("BBA")
                    log.finish(jid, RunOutcome(status="ok", output_text=json.dumps({"winner": winner, "reason": "r"})))
        for run_id, config, _, _ in contest[: min(200, n_runs) : 2]:
            other = next(r for r, c, _, _ in contest if c != config)
            log.add_preference(Preference(task="outline", run_a=run_id, run_b=other, model_a=config.split("@")[0],
                                          model_b="x", winner=rng.choice(["a", "b", "tie"])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--judged", type=int, default=600, help="contestant runs that also get judge calls")
    parser.add_argument("--repeats", type=int, default=3, help="timed builds (the median is reported)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp)
        (ws / "scribe.toml").write_text('engine = "ollama"\n')
        log_path = ws / ".scribe" / "runs.sqlite"
        started = time.perf_counter()
        synthesise(log_path, args.runs, args.judged)
        with RunLog(log_path) as log:
            total = sum(1 for _ in log.iter_all())
        print(f"synthesised {total} runs ({args.runs} task runs) in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        cli: list[tuple[float, float]] = []
        inproc: list[tuple[float, float]] = []
        for i in range(args.repeats):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "scribe", "report", "--out", str(ws / f"r{i}")], cwd=ws,
                                  capture_output=True, text=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            cli.append((time.perf_counter() - t0, cpu))
            if done.returncode != 0:
                sys.exit(f"scribe report failed: {done.stderr.strip()}")
            with RunLog(log_path) as log:
                t0, c0 = time.perf_counter(), time.process_time()
                build_report(log, ws / f"p{i}", critique_schema=get_template("critique", None).format)  # type: ignore[arg-type]
                inproc.append((time.perf_counter() - t0, time.process_time() - c0))
        charts = (ws / "r0" / "report.html").read_text().count("data:image/png;base64,")
    print(f"\n{'measure':<30} {'runs':>7} {'wall s':>7} {'cpu s':>6} {'target s':>9}  result (wall, median of {args.repeats})")
    for label, timings in (("scribe report (new process)", cli), ("build_report in process", inproc)):
        wall, cpu = statistics.median(t[0] for t in timings), statistics.median(t[1] for t in timings)
        print(f"{label:<30} {total:>7} {wall:>7.2f} {cpu:>6.2f} {TARGET_S:>9.1f}  {'PASS' if wall < TARGET_S else 'MISS'}")
    print(f"\n{charts} charts inlined in report.html; load average at the end: {os.getloadavg()[0]:.1f}")
    print(f"machine: {machine()}")


if __name__ == "__main__":
    main()
