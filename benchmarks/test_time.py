"""How long the test suite takes: the no-engine lane (target: under 60 s on 2 cores) or the whole
suite as the README runs it (target: under 12 minutes), a few runs, with the machine's speed beside.

These machines are shared: the same commit's lane took 52 s and 66 s ten minutes apart, and its
CPU time went from 75 s to 100 s, while a fixed pure-Python loop slowed by 40% in between. So each
run is bracketed by that loop (the calibration, in ms: higher is a slower machine now), and the
CPU column (workers and subprocesses included) says what the code cost. Compare runs only at a
similar calibration.

    .venv/bin/python benchmarks/test_time.py [--lane fast|all] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from machine import machine

ROOT = Path(__file__).resolve().parents[1]
LANES = {
    "fast": ["-m", "not engine", "-n", "3"],  # three workers: the tests' waits would leave a core idle
    "all": ["-n", "2", "--dist", "worksteal"],  # make test
}


def calibrate() -> float:
    """Milliseconds for a fixed pure-Python loop (the best of three): the machine's speed now."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        sum(i * i for i in range(2_000_000))
        best = min(best, time.perf_counter() - start)
    return best * 1000


def run(lane: str) -> tuple[float, float, str]:
    """One pytest run of the lane: wall seconds, CPU seconds (user + system, workers included), summary."""
    before = os.times()
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *LANES[lane]],
                          cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr.strip()[-200:]
    if done.returncode != 0:
        sys.exit(f"the {lane} lane failed: {summary}")
    return wall, cpu, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lane", choices=sorted(LANES), default="fast")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    rows = []
    for number in range(1, args.runs + 1):
        calibration = calibrate()
        wall, cpu, summary = run(args.lane)
        calibration = (calibration + calibrate()) / 2
        rows.append((number, wall, cpu, calibration, summary))
        print(f"run {number}: {wall:.1f} s ({summary})", file=sys.stderr)

    print("| run | wall s | CPU s | calibration ms |")
    print("|---|---|---|---|")
    for number, wall, cpu, calibration, _ in rows:
        print(f"| {number} | {wall:.1f} | {cpu:.1f} | {calibration:.0f} |")
    print(f"| median | {statistics.median(row[1] for row in rows):.1f} | {statistics.median(row[2] for row in rows):.1f} | "
          f"{statistics.median(row[3] for row in rows):.0f} |")
    print(f"\n{args.lane} lane: {rows[-1][4]}. Machine: {machine()}")


if __name__ == "__main__":
    main()
