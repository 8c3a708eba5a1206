"""Engine memory when requests ask for different num_ctx, as scribe's per-call sizing does.

scribe sizes num_ctx to each call (powers of two from 2,048 up to `max_num_ctx`), so one model
sees requests of several sizes. The engine keeps one chat context per model and lets a smaller ask
share a larger one, so memory should follow the largest size asked, not the number of requests.
This script starts its own `scribe serve` (2 threads), sends short chats whose num_ctx alternates
(the sequence below, `--cycles` times), and after each records the engine's RSS, the context it
holds (`/api/ps`) and its load count (`/scribe/stats`). The second cycle should load nothing and
leave RSS where the first left it.

    .venv/bin/python benchmarks/num_ctx_memory.py [--model qwen2.5-coder:0.5b] [--cycles 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import httpx
import ollama

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import start_engine, stop_engine  # noqa: E402
from machine import machine  # noqa: E402

SEQUENCE = (2048, 8192, 4096, 8192, 16384, 4096, 2048)


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def held_context(url: str, model: str) -> int | None:
    for m in httpx.get(f"{url}/api/ps", timeout=10).json()["models"]:
        if m["name"] == model:
            return m.get("context_length")
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder:0.5b")
    parser.add_argument("--cycles", type=int, default=2)
    args = parser.parse_args()
    rows: list[tuple[str, str, str, int, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_engine(Path(tmp), "--threads", "2")
        try:
            client = ollama.Client(host=url)
            rows.append(("-", "started", "-", 0, rss_mb(proc.pid)))
            for cycle in range(1, args.cycles + 1):
                for num_ctx in SEQUENCE:
                    client.chat(model=args.model, messages=[{"role": "user", "content": "Say OK."}],
                                options={"num_predict": 4, "temperature": 0, "num_ctx": num_ctx})
                    loads = httpx.get(f"{url}/scribe/stats", timeout=10).json()["loads"]
                    rows.append((str(cycle), f"{num_ctx:,}", f"{held_context(url, args.model):,}", loads, rss_mb(proc.pid)))
            peak = rss_mb(proc.pid, "VmHWM")
        finally:
            stop_engine(proc)
    print(f"\nmachine: {machine()}; nproc {os.cpu_count()}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (at the end)")
    print(f"model: {args.model}, engine --threads 2, chats of 4 tokens at num_ctx {', '.join(map(str, SEQUENCE))}, {args.cycles} cycles\n")
    print("| cycle | num_ctx asked | context held | loads so far | engine RSS MB |")
    print("|---:|---:|---:|---:|---:|")
    for cycle, asked, held, loads, rss in rows:
        print(f"| {cycle} | {asked} | {held} | {loads} | {rss:.0f} |")
    per_cycle = len(SEQUENCE)
    first, last = rows[per_cycle][4], rows[-1][4]
    print(f"\npeak RSS (VmHWM) {peak:.0f} MB; RSS after cycle 1 {first:.0f} MB, after cycle {args.cycles} {last:.0f} MB "
          f"({last - first:+.0f} MB); loads in cycle 1: {rows[per_cycle][3]}, after: {rows[-1][3] - rows[per_cycle][3]}")


if __name__ == "__main__":
    main()
