"""Batch critique throughput with one and two engine hosts, and scribe's scheduling overhead.

Each host is a `scribe serve` process with one llama.cpp thread, so two hosts use the two cores
of the reference machine. The same batch (drafts × model configurations, critique prompt,
sources from the notes index) runs against one host, then against both. Reported per run:
wall time, items per minute, the busiest host's model time (the time its engine spent loading,
generating or embedding, from the `busy_ns` counter of `/scribe/stats`, so retries and query
embeddings count) and the overhead, wall time minus that, as a share of wall time. Targets (issue 4): two hosts at least 1.7x the throughput of one; overhead under 3%.

    .venv/bin/python benchmarks/batch_bench.py [--drafts notes/drafts] [--configs 2] [--num-predict 192]
"""

from __future__ import annotations

import argparse
import os
import statistics
import shutil
import sys
import tempfile
import time
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
from scribe.runlog import RunLog  # noqa: E402
from scribe.sync import SyncOptions, sync_notes  # noqa: E402
from scribe.tasks import load_draft  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def busy_s(host: str) -> float:
    return httpx.get(f"{host}/scribe/stats", timeout=5).json()["busy_ns"] / 1e9


def run_batch(hosts: list[str], ws_root: Path, items: list[BatchItem], jobs: int, retrieval: SharedRetrieval) -> tuple[float, dict[str, float], int, float, float]:
    """Wall time, model time per host, items done, and the median prompt-eval and decode tokens/s
    of the final calls (if these fall with two hosts, the cores, not the scheduling, are shared)."""
    out = Path(tempfile.mkdtemp(prefix="batch-out-"))
    with RunLog(ws_root / ".scribe" / "runs.sqlite") as runlog:
        run = BatchRun(get_template("critique", ws_root), HostPool(hosts), runlog, out, retrieve_with=retrieval.using, jobs=jobs, force=True)
        before = {host: busy_s(host) for host in hosts}
        started = time.perf_counter()
        outcomes = run.run(items)
        wall = time.perf_counter() - started
        model_time = {host: busy_s(host) - before[host] for host in hosts}
    shutil.rmtree(out)
    metrics = [o.result["metrics"] for o in outcomes if o.status == "done"]
    prompt_tps = statistics.median(m["prompt_tps"] or 0.0 for m in metrics) if metrics else 0.0
    eval_tps = statistics.median(m["eval_tps"] or 0.0 for m in metrics) if metrics else 0.0
    return wall, model_time, len(metrics), prompt_tps, eval_tps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drafts", type=Path, default=REPO / "notes" / "drafts")
    parser.add_argument("--configs", type=int, default=2, help="model configurations (temperatures) per draft")
    parser.add_argument("--num-predict", type=int, default=192)
    args = parser.parse_args()

    load_before = f"{os.getloadavg()[0]:.2f}"
    tmp = Path(tempfile.mkdtemp(prefix="batch-bench-"))
    ws_root = tmp / "ws"
    shutil.copytree(REPO / "notes", ws_root / "notes")
    engines = [start_engine(tmp, "--threads", "1") for _ in range(2)]
    urls = [url for _, url in engines]
    try:
        (ws_root / "scribe.toml").write_text(f'engine = "ollama"\nollama_host = "{urls[0]}"\n')
        ws = open_workspace(ws_root, env={})
        index = open_index(ws)
        client = ModelClient(urls[0])
        sync_notes(index, [ws_root / "notes"], root=ws_root, client=client, options=SyncOptions(embed_model="gemma3:270m"))
        retrieval = SharedRetrieval(index)
        drafts = [load_draft(p, ws_root) for p in sorted((ws_root / "notes" / "drafts").glob("*.md"))]
        specs = [parse_model_spec(f"gemma3:270m@temperature={0.2 + 0.3 * i},num_predict={args.num_predict}") for i in range(args.configs)]
        items = [BatchItem(d, s) for d in drafts for s in specs]
        for url in urls:  # load the chat and embedding contexts once so neither run pays the load
            ModelClient(url).stream_chat("gemma3:270m", [{"role": "user", "content": "hi"}], options={"num_predict": 1})
            ModelClient(url).embed("gemma3:270m", ["warm up"])
        one_wall, one_model, one_done, one_ptps, one_etps = run_batch(urls[:1], ws_root, items, 1, retrieval)
        two_wall, two_model, two_done, two_ptps, two_etps = run_batch(urls, ws_root, items, 2, retrieval)
    finally:
        for proc, _ in engines:
            stop_engine(proc)
        shutil.rmtree(tmp, ignore_errors=True)

    rows = []
    for label, wall, model, done, ptps, etps in (("1 host", one_wall, one_model, one_done, one_ptps, one_etps),
                                                 ("2 hosts", two_wall, two_model, two_done, two_ptps, two_etps)):
        busiest = max(model.values()) if model else 0.0
        per_host = " / ".join(f"{t:.1f}" for t in model.values())
        rows.append((label, done, wall, done / wall * 60, busiest, (wall - busiest) / wall, per_host, ptps, etps))
    print(f"\nmachine: {machine()}; load average before/after: {load_before} / {os.getloadavg()[0]:.2f}")
    print(f"batch: {len(items)} items (critique), {len(drafts)} drafts x {len(specs)} configs, num_predict {args.num_predict}, 1 llama.cpp thread per host\n")
    print("| hosts | items done | wall s | items/min | busiest host model s | overhead | model s per host | prompt tok/s (median) | decode tok/s (median) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, done, wall, rate, busiest, over, per_host, ptps, etps in rows:
        print(f"| {label} | {done} | {wall:.1f} | {rate:.2f} | {busiest:.1f} | {over * 100:.1f}% | {per_host} | {ptps:.0f} | {etps:.1f} |")
    speedup = rows[1][3] / rows[0][3]
    print(f"\nthroughput 2 hosts / 1 host: {speedup:.2f}x (target >= 1.7x) -> {'PASS' if speedup >= 1.7 else 'MISS'}")
    worst = max(rows[0][5], rows[1][5])
    print(f"scheduling overhead (worst of the two runs): {worst * 100:.1f}% (target < 3%) -> {'PASS' if worst < 0.03 else 'MISS'}")


if __name__ == "__main__":
    main()
