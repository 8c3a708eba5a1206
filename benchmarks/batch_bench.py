"""Batch critique throughput with one and two engine hosts, and scribe's scheduling overhead.

Each host is a `scribe serve` process with one llama.cpp thread, so two hosts use the two cores
of the reference machine. The same batch (drafts × model configurations, critique prompt,
sources from the notes index) runs against one host, then against both. Reported per run:
wall time, items per minute, the busiest host's model time (the time its engine spent loading,
generating or embedding, from the `busy_ns` counter of `/scribe/stats`, so retries and query
embeddings count) and the overhead, wall time minus that, as a share of wall time. A second
table says where the model time went (calls, prompt and decode tokens and seconds), so a run that
simply had more to do (a critique whose JSON did not close is retried; outputs differ in length)
is told apart from a slow one. The one-host and two-host runs alternate for `--rounds` rounds and
the speedup quoted is the median of the rounds' ratios. Targets (issue 4): two hosts at least 1.7x
the throughput of one; overhead under 3%.

    .venv/bin/python benchmarks/batch_bench.py [--drafts notes/drafts] [--configs 4] [--rounds 2] [--num-predict 192]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import start_engine, stop_engine  # noqa: E402

from machine import machine  # noqa: E402
from scribe.batch import BatchItem, BatchRun, HostPool  # noqa: E402
from scribe.config import open_workspace  # noqa: E402
from scribe.index import open_index  # noqa: E402
from scribe.modelspec import parse_model_spec  # noqa: E402
from scribe.models import ModelClient  # noqa: E402
from scribe.prompts import get_template  # noqa: E402
from scribe.retrieval import SharedRetrieval  # noqa: E402
from scribe.runlog import RunLog, RunRecord  # noqa: E402
from scribe.sync import SyncOptions, sync_notes  # noqa: E402
from scribe.tasks import load_draft  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def busy_s(host: str) -> float:
    return httpx.get(f"{host}/scribe/stats", timeout=5).json()["busy_ns"] / 1e9


@dataclass
class Run:
    hosts: int
    wall: float
    model: dict[str, float]  # engine busy seconds per host
    done: int
    prompt_tps: float  # medians over the final calls: if these fall with two hosts, the cores are shared
    eval_tps: float
    calls: dict[str, float]

    @property
    def rate(self) -> float:
        return self.done / self.wall * 60

    @property
    def overhead(self) -> float:
        return (self.wall - max(self.model.values())) / self.wall


def call_totals(runs: list[RunRecord]) -> dict[str, float]:
    """What the engine reported for every call of one run, retries included: where model time went."""
    def total(field: str) -> int:
        return sum(getattr(r, field) or 0 for r in runs)

    prompt_ns, eval_ns = total("prompt_eval_duration_ns"), total("eval_duration_ns")
    return {"calls": len(runs), "prompt_tokens": total("prompt_eval_count"), "prompt_s": prompt_ns / 1e9,
            "decode_tokens": total("eval_count"), "decode_s": eval_ns / 1e9,
            "other_s": (total("total_duration_ns") - prompt_ns - eval_ns) / 1e9}


def run_batch(hosts: list[str], ws_root: Path, items: list[BatchItem], retrieval: SharedRetrieval) -> Run:
    """One batch, one job per host, results written to a scratch directory."""
    out = Path(tempfile.mkdtemp(prefix="batch-out-"))
    with RunLog(ws_root / ".scribe" / "runs.sqlite") as runlog:
        first_id = max((r.id for r in runlog.recent(1)), default=0)
        run = BatchRun(get_template("critique", ws_root), HostPool(hosts), runlog, out, retrieve_with=retrieval.using, jobs=len(hosts), force=True)
        before = {host: busy_s(host) for host in hosts}
        started = time.perf_counter()
        outcomes = run.run(items)
        wall = time.perf_counter() - started
        model_time = {host: busy_s(host) - before[host] for host in hosts}
        calls = [r for r in runlog.iter_all() if r.id > first_id]
    shutil.rmtree(out)
    metrics = [o.result["metrics"] for o in outcomes if o.status == "done"]
    prompt_tps = statistics.median(m["prompt_tps"] or 0.0 for m in metrics) if metrics else 0.0
    eval_tps = statistics.median(m["eval_tps"] or 0.0 for m in metrics) if metrics else 0.0
    return Run(len(hosts), wall, model_time, len(metrics), prompt_tps, eval_tps, call_totals(calls))


def bench_drafts(drafts: Path, ws_root: Path) -> Path:
    """The drafts inside the bench's workspace: a folder of notes/ is already there (and indexed, so
    each draft's own chunks are kept out of its sources as in real use); another folder is copied."""
    try:
        return ws_root / "notes" / drafts.resolve().relative_to(REPO / "notes")
    except ValueError:
        shutil.copytree(drafts, ws_root / "bench-drafts")
        return ws_root / "bench-drafts"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drafts", type=Path, default=REPO / "notes" / "drafts")
    parser.add_argument("--configs", type=int, default=4, help="model configurations (temperature and seed) per draft")
    parser.add_argument("--rounds", type=int, default=2, help="one-host and two-host runs, alternating")
    parser.add_argument("--num-predict", type=int, default=192)
    args = parser.parse_args()

    load_before = f"{os.getloadavg()[0]:.2f}"
    tmp = Path(tempfile.mkdtemp(prefix="batch-bench-"))
    ws_root = tmp / "ws"
    shutil.copytree(REPO / "notes", ws_root / "notes")
    engines = [start_engine(tmp, "--threads", "1") for _ in range(2)]
    urls = [url for _, url in engines]
    runs: list[Run] = []
    try:
        (ws_root / "scribe.toml").write_text(f'engine = "ollama"\nollama_host = "{urls[0]}"\n')
        index = open_index(open_workspace(ws_root, env={}))
        sync_notes(index, [ws_root / "notes"], root=ws_root, client=ModelClient(urls[0]), options=SyncOptions(embed_model="all-minilm"))
        retrieval = SharedRetrieval(index)
        drafts = [load_draft(p, ws_root) for p in sorted(bench_drafts(args.drafts, ws_root).glob("*.md"))]
        specs = [parse_model_spec(f"gemma3:270m@temperature={0.2 + 0.2 * i:.1f},seed={7 + i},num_predict={args.num_predict}") for i in range(args.configs)]
        items = [BatchItem(d, s) for d in drafts for s in specs]
        for url in urls:  # load the chat and embedding contexts once so no run pays the load
            ModelClient(url).stream_chat("gemma3:270m", [{"role": "user", "content": "hi"}], options={"num_predict": 1})
            ModelClient(url).embed("all-minilm", ["warm up"])
        for _ in range(args.rounds):
            runs.append(run_batch(urls[:1], ws_root, items, retrieval))
            runs.append(run_batch(urls, ws_root, items, retrieval))
    finally:
        for proc, _ in engines:
            stop_engine(proc)
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\nmachine: {machine()}; load average before/after: {load_before} / {os.getloadavg()[0]:.2f}")
    print(f"batch: {len(items)} items (critique), {len(drafts)} drafts x {len(specs)} configs, num_predict {args.num_predict}, "
          f"1 llama.cpp thread per host, {args.rounds} rounds\n")
    print("| round | hosts | items done | wall s | items/min | busiest host model s | overhead | model s per host | prompt tok/s (median) | decode tok/s (median) |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, run in enumerate(runs):
        per_host = " / ".join(f"{t:.1f}" for t in run.model.values())
        print(f"| {n // 2 + 1} | {run.hosts} | {run.done} | {run.wall:.1f} | {run.rate:.2f} | {max(run.model.values()):.1f} "
              f"| {run.overhead * 100:.1f}% | {per_host} | {run.prompt_tps:.0f} | {run.eval_tps:.1f} |")
    print("\nwhere the model time went (every call, retries included; seconds summed over hosts):\n")
    print("| round | hosts | calls | prompt tokens | prompt s | decode tokens | decode s | other s (load, sampling) |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for n, run in enumerate(runs):
        c = run.calls
        print(f"| {n // 2 + 1} | {run.hosts} | {c['calls']} | {c['prompt_tokens']} | {c['prompt_s']:.1f} | {c['decode_tokens']} "
              f"| {c['decode_s']:.1f} | {c['other_s']:.1f} |")
    ratios = [two.rate / one.rate for one, two in zip(runs[::2], runs[1::2])]
    speedup = statistics.median(ratios)
    print(f"\nthroughput 2 hosts / 1 host per round: {', '.join(f'{r:.2f}x' for r in ratios)}; "
          f"median {speedup:.2f}x (target >= 1.7x) -> {'PASS' if speedup >= 1.7 else 'MISS'}")
    worst = max(run.overhead for run in runs)
    print(f"scheduling overhead (worst run): {worst * 100:.1f}% (target < 3%) -> {'PASS' if worst < 0.03 else 'MISS'}")


if __name__ == "__main__":
    main()
