"""Serving overhead of `scribe serve`: the same generation, raw in llama.cpp and through the engine.

For each prompt the script generates the same number of tokens (greedy, fixed length) twice:
directly with llama-cpp-python in this process, and through `scribe serve` (a separate process,
same thread count) with the official `ollama` client. It reports time to first token and decode
tokens/s (client clock, first to last token) for both, and the overhead. Runs alternate raw and
served so machine drift hits both alike; each prompt starts differently so no prompt cache helps.

Targets (issue 2): serving costs under 5% of decode tokens/s and under 10 ms of TTFT (medians).

    .venv/bin/python benchmarks/engine_bench.py [overhead] [--repeats 5] [--tokens 128] [--threads 2]

Other scenarios (issue 13), one table each:

    engine_bench.py threads   decode and prompt tokens/s per thread setting, on a quiet machine, beside
                              one CPU-bound process, and at load ~4; the default against the best
    engine_bench.py cancel    a client that leaves during a 2,000-token prompt: how soon the engine is idle
    engine_bench.py memory    engine RSS serving the writer and the embedder against the model files' size
    engine_bench.py prefix    TTFT of a second task on the same draft, and of a task after a warmed pause
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ollama

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import start_engine, stop_engine  # noqa: E402
from machine import machine  # noqa: E402

from scribe.engine.catalog import Catalog  # noqa: E402
from scribe.engine.runtime import Runtime  # noqa: E402

MODEL = "gemma3:270m"
TOPICS = [
    "Idempotency keys in payment retries", "Kafka dead letter queues", "Tenant isolation with row-level security",
    "Reading a Postgres query plan", "Worker leases in a job scheduler", "Structured logs for latency debugging",
    "Local models for private writing", "Outbox tables and exactly-once myths", "N+1 queries in an ORM",
]


def prompt_for(i: int) -> list[dict[str, str]]:
    topic = TOPICS[i % len(TOPICS)]
    return [{"role": "user", "content": f"{topic}: write a paragraph for a backend engineer's notes (take {i})."}]


def raw_run(runtime: Runtime, messages: list[dict[str, str]], tokens: int) -> tuple[float, float, int]:
    """TTFT (s) and decode tok/s straight from llama.cpp, with the engine's own prompt format."""
    entry = runtime.entry(MODEL)
    llm = runtime._ensure_loaded(entry, 4096).llm
    prompt = runtime.chat_tokens(llm, entry, messages)
    llm.reset()
    started = time.perf_counter()
    stamps = []
    for token in llm.generate(prompt, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.1):
        stamps.append(time.perf_counter())
        llm.detokenize([token])
        if len(stamps) >= tokens:
            break
    return stamps[0] - started, (len(stamps) - 1) / (stamps[-1] - stamps[0]), len(stamps)


def served_run(client: ollama.Client, messages: list[dict[str, str]], tokens: int) -> tuple[float, float, int, float]:
    """TTFT (s) and decode tok/s on the client's clock, plus the engine's own eval tok/s."""
    started = time.perf_counter()
    stamps = []
    final = None
    options = {"temperature": 0, "top_k": 1, "num_predict": tokens, "repeat_penalty": 1.1}
    for chunk in client.chat(model=MODEL, messages=messages, options=options, stream=True, keep_alive=-1):
        if chunk.done:
            final = chunk
        else:
            stamps.append(time.perf_counter())
    assert final is not None
    engine_tps = final.eval_count / (final.eval_duration / 1e9)
    return stamps[0] - started, (len(stamps) - 1) / (stamps[-1] - stamps[0]), len(stamps), engine_tps


def overhead(args: argparse.Namespace) -> None:
    runtime = Runtime(Catalog.build([]), n_threads=args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_engine(Path(tmp), "--threads", str(args.threads))
        try:
            client = ollama.Client(host=url)
            client.chat(model=MODEL, messages=prompt_for(99), options={"num_predict": 4}, keep_alive=-1)  # warm up
            raw_run(runtime, prompt_for(98), 4)
            raw_ttft, raw_tps, srv_ttft, srv_tps, eng_tps = [], [], [], [], []
            for i in range(args.repeats):
                t, r, n_raw = raw_run(runtime, prompt_for(i), args.tokens)
                raw_ttft.append(t)
                raw_tps.append(r)
                t, r, n_srv, e = served_run(client, prompt_for(i), args.tokens)
                srv_ttft.append(t)
                srv_tps.append(r)
                eng_tps.append(e)
                print(f"  run {i + 1}: raw {n_raw} tok, TTFT {raw_ttft[-1] * 1000:.1f} ms, {raw_tps[-1]:.1f} tok/s | "
                      f"served {n_srv} tok, TTFT {srv_ttft[-1] * 1000:.1f} ms, {srv_tps[-1]:.1f} tok/s", file=sys.stderr)
        finally:
            stop_engine(proc)
    runtime.close()

    med = statistics.median
    ttft_over_ms = (med(srv_ttft) - med(raw_ttft)) * 1000
    tps_over = 1 - med(srv_tps) / med(raw_tps)
    print(f"\nmachine: {machine()}")
    print(f"model: {MODEL}, {args.tokens} tokens per run, greedy, {args.threads} threads, median of {args.repeats}\n")
    print("| path | TTFT ms (median) | decode tok/s (median) |")
    print("|---|---:|---:|")
    print(f"| llama.cpp direct | {med(raw_ttft) * 1000:.1f} | {med(raw_tps):.1f} |")
    print(f"| scribe serve + ollama client | {med(srv_ttft) * 1000:.1f} | {med(srv_tps):.1f} |")
    print(f"| engine-reported eval tok/s | | {med(eng_tps):.1f} |")
    print(f"\nTTFT overhead: {ttft_over_ms:+.1f} ms (target < 10 ms) -> {'PASS' if ttft_over_ms < 10 else 'MISS'}")
    print(f"tokens/s overhead: {tps_over * 100:+.1f}% (target < 5%) -> {'PASS' if tps_over < 0.05 else 'MISS'}")


BUSY = "while True: pass"
PARAGRAPH = ("A retry after a timeout reused the idempotency key, the ledger row was claimed first, and the "
             "provider returned the original charge instead of a second one. ")


class Load:
    """N CPU-bound processes beside the benchmark, as a test suite or a second engine would be."""

    def __init__(self, n: int) -> None:
        self.procs = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(n)]

    def __enter__(self) -> Load:
        time.sleep(0.5 if self.procs else 0)
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()


def threads(args: argparse.Namespace) -> None:
    """Decode and prompt speed per (decode threads, prompt threads), per background load."""
    from scribe.engine.runtime import Done, default_threads

    settings = [(1, 1), (2, 2), (1, 2)]
    loads = [0, 1, 3]
    catalog = Catalog.build([])
    prompt = [{"role": "user", "content": PARAGRAPH * args.prompt_repeats + "Summarise this in one line."}]
    rows: dict[tuple[int, tuple[int, int]], tuple[float, float]] = {}
    for load in loads:
        for setting in settings:
            runtime = Runtime(catalog, n_threads=setting[0], n_threads_batch=setting[1])
            list(runtime.generate(args.model, messages=[{"role": "user", "content": "hi"}], options={"num_predict": 2}))
            decode, prompt_tps = [], []
            with Load(load):
                for i in range(args.repeats):
                    options = {"num_predict": args.tokens, "temperature": 0, "seed": i, "num_ctx": 4096}
                    # A new first word each time, so no run finds its prompt in the cache.
                    asked = [{"role": "user", "content": f"Take {i}. " + prompt[0]["content"]}]
                    done = [e for e in runtime.generate(args.model, messages=asked, options=options) if isinstance(e, Done)][0]
                    decode.append(done.eval_count / (done.eval_duration / 1e9))
                    prompt_tps.append(done.prompt_eval_count / (done.prompt_eval_duration / 1e9))
            runtime.close()
            rows[(load, setting)] = (statistics.median(decode), statistics.median(prompt_tps))
            print(f"  load {load}, threads {setting}: decode {rows[(load, setting)][0]:.1f} tok/s, "
                  f"prompt {rows[(load, setting)][1]:.1f} tok/s", file=sys.stderr)
    chosen = default_threads()
    print(f"\nmachine: {machine()}")
    print(f"model: {args.model}, {args.tokens} decoded tokens, prompt ~{args.prompt_repeats * 40} tokens, median of {args.repeats}; "
          f"default threads here: {chosen}\n")
    print("| background load | threads (decode, prompt) | decode tok/s | prompt tok/s |")
    print("|---|---|---:|---:|")
    for (load, setting), (dec, pro) in rows.items():
        print(f"| {load} busy | {setting}{' (default)' if setting == chosen else ''} | {dec:.1f} | {pro:.1f} |")
    print()
    for load in loads:
        best = max(rows[(load, s)][0] for s in settings)
        default = rows.get((load, chosen), (float("nan"),))[0]
        verdict = "" if load != 1 else f" (target >= 0.8x: {'PASS' if default >= 0.8 * best else 'MISS'})"
        print(f"load {load}: default decode {default:.1f} tok/s = {default / best:.2f}x the best setting's {best:.1f}{verdict}")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cancel(args: argparse.Namespace) -> None:
    """A client leaves during prompt evaluation: engine CPU time in the windows after it closed."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_engine_cancel import LONG_PROMPT, send_and_leave

    words = LONG_PROMPT.split()
    prompt = " ".join(words[: int(len(words) * 2000 / 3000)])  # ~2,000 tokens
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_engine(Path(tmp))
        try:
            client = ollama.Client(host=url)
            client.chat(model=args.model, messages=[{"role": "user", "content": "hi"}], options={"num_predict": 1, "num_ctx": 4096})
            for i in range(args.repeats):
                body = {"model": args.model, "stream": True, "options": {"num_ctx": 4096, "num_predict": 64},
                        "messages": [{"role": "user", "content": f"take {i} " + prompt}]}
                send_and_leave(url, "/api/chat", body, wait_s=2.0)
                closed = time.perf_counter()
                cpu0 = _cpu_s(proc.pid)
                samples = []
                while time.perf_counter() - closed < 3.0:
                    time.sleep(0.1)
                    samples.append((time.perf_counter() - closed, _cpu_s(proc.pid) - cpu0))
                # idle from the first moment after which the engine used under 20 ms of CPU per 100 ms
                idle_at = next((t for j, (t, c) in enumerate(samples) if all(
                    samples[k][1] - samples[k - 1][1] < 0.02 for k in range(max(1, j), len(samples)))), float("nan"))
                after_half = samples[-1][1] - next(c for t, c in samples if t >= 0.5)
                rows.append((idle_at, after_half))
                print(f"  run {i + 1}: idle {idle_at:.2f} s after the close; CPU after 0.5 s: {after_half:.2f} s", file=sys.stderr)
                time.sleep(1.0)
        finally:
            stop_engine(proc)
    print(f"\nmachine: {machine()}")
    print(f"model: {args.model}, ~2,000-token prompt, client closes 2 s into prompt evaluation, {args.repeats} runs\n")
    print("| run | idle after close (s) | engine CPU s from 0.5 s to 3 s after close |")
    print("|---|---:|---:|")
    for i, (idle_at, cpu) in enumerate(rows, 1):
        print(f"| {i} | {idle_at:.2f} | {cpu:.2f} |")
    worst = max(r[0] for r in rows)
    print(f"\nmedian idle {statistics.median(r[0] for r in rows):.2f} s, worst {worst:.2f} s (target < 0.5 s: {'PASS' if worst < 0.5 else 'MISS'})")


def memory(args: argparse.Namespace) -> None:
    """Engine RSS after serving the writer (chat) and the embedder, against the two model files."""
    from scribe.engine.weights import BUNDLED, ensure_file

    files = {m.name: ensure_file(m).stat().st_size / 2**20 for m in BUNDLED}
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_engine(Path(tmp))
        try:
            client = ollama.Client(host=url)
            idle = _rss_mb(proc.pid)
            client.embed(model="all-minilm", input=[PARAGRAPH * 8] * 32)
            after_embed = _rss_mb(proc.pid)
            client.chat(model=args.model, messages=[{"role": "user", "content": PARAGRAPH * 40}], options={"num_predict": 32})
            after_chat = _rss_mb(proc.pid)
            for num_ctx in (2048, 8192, 16384, 4096):
                client.chat(model=args.model, messages=[{"role": "user", "content": "hi"}], options={"num_predict": 4, "num_ctx": num_ctx})
            after_sizes = _rss_mb(proc.pid)
            peak = _rss_mb(proc.pid, "VmHWM")
        finally:
            stop_engine(proc)
    budget = files[args.model] + files["all-minilm"] + 700
    print(f"\nmachine: {machine()}\n")
    print("| state | engine RSS MB |")
    print("|---|---:|")
    for label, value in (("started, nothing loaded", idle), ("after 32 embeddings (all-minilm)", after_embed),
                         (f"after a chat ({args.model}, 4,096 context)", after_chat),
                         ("after chats at num_ctx 2048, 8192, 16384, 4096", after_sizes), ("peak (VmHWM)", peak)):
        print(f"| {label} | {value:.0f} |")
    print(f"\nmodel files: {args.model} {files[args.model]:.0f} MB + all-minilm {files['all-minilm']:.0f} MB; "
          f"budget = files + 700 MB = {budget:.0f} MB; peak {peak:.0f} MB -> {'PASS' if peak <= budget else 'MISS'}")


def prefix(args: argparse.Namespace) -> None:
    """TTFT of outline then critique on the same draft (the second finds the shared prefix cached),
    and of each task after a warm-up: what the TUI sends when the author pauses (scribe.warmup)."""
    import json as jsonlib
    import shutil

    from scribe.config import open_workspace
    from scribe.models import ModelClient
    from scribe.tasks import load_draft
    from scribe.tui.services import Services

    repo = Path(__file__).resolve().parents[1]
    draft = "notes/drafts/idempotency-in-payment-flows.md"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_engine(Path(tmp))
        ws = Path(tmp) / "ws"
        shutil.copytree(repo / "notes", ws / "notes")
        (ws / "scribe.toml").write_text(f'engine = "ollama"\nollama_host = "{url}"\nmodel = "{args.model}"\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SCRIBE_", "OLLAMA_"))}
        client = ModelClient(url)
        services = Services(open_workspace(ws, env={}), host=url)  # what the TUI warms with

        def scribe(*argv: str) -> str:
            done = subprocess.run([sys.executable, "-m", "scribe", *argv], cwd=ws, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(done.stderr)
            return done.stdout

        def revise(i: int, what: str) -> None:
            """A new draft (so nothing of it is cached) and another prompt in the engine's cache."""
            (ws / draft).write_text((repo / draft).read_text() + f"\n\n({what} {i})\n")
            scribe("ask", f"Say {what} {i}.", "--model", args.model, "--num-predict", "1")

        def last_runs(n: int) -> list[dict]:
            return sorted(jsonlib.loads(scribe("log", "--json", "-n", str(n))), key=lambda r: r["id"])

        try:
            scribe("index")
            for i in range(args.repeats):
                revise(i, "revision")
                for task in ("outline", "critique"):
                    scribe(task, draft, "--model", f"{args.model}@num_predict=16")
                runs = last_runs(4)
                first = next(r for r in runs if r["task"] == "outline")
                second = next(r for r in runs if r["task"] == "critique" and r["id"] > first["id"])  # not its retry
                warmed: dict[str, float] = {}
                for task in ("outline", "critique"):  # the warm-up is the outline's prompt; the critique shares its start
                    revise(i, f"pause before {task}")
                    started = time.perf_counter()
                    request = services.warm_request(load_draft(ws / draft, ws), None)
                    assert request is not None
                    client.stream_chat(args.model, request.messages, options=request.options)
                    warm_s = time.perf_counter() - started
                    scribe(task, draft, "--model", f"{args.model}@num_predict=16")
                    warmed[task] = last_runs(1)[0]["ttft_ms"]
                rows.append((first["ttft_ms"], second["ttft_ms"], warmed["outline"], warmed["critique"], warm_s,
                             first["prompt_eval_count"], second["prompt_eval_count"]))
                print(f"  round {i + 1}: outline TTFT {rows[-1][0]:.0f} ms, critique {rows[-1][1]:.0f} ms, after a warm-up: "
                      f"outline {rows[-1][2]:.0f} ms, critique {rows[-1][3]:.0f} ms", file=sys.stderr)
        finally:
            services.close()
            stop_engine(proc)
    print(f"\nmachine: {machine()}")
    print(f"model: {args.model}; on {draft} (changed before each measured task), {args.repeats} rounds\n")
    print("| round | outline TTFT ms | critique TTFT ms | ratio | warm-up s | after a warm-up: outline / critique TTFT ms | prompt tokens (outline / critique) |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for i, (a, b, wo, wc, ws_, pa, pb) in enumerate(rows, 1):
        print(f"| {i} | {a:.0f} | {b:.0f} | {b / a:.2f} | {ws_:.1f} | {wo:.0f} / {wc:.0f} | {pa} / {pb} |")
    ratio = statistics.median(b / a for a, b, *_ in rows)
    warmed_ms = statistics.median(max(wo, wc) for _, _, wo, wc, *_ in rows)
    print(f"\nmedian ratio {ratio:.2f} (target <= 0.3: {'PASS' if ratio <= 0.3 else 'MISS'}); "
          f"median TTFT after a warm-up, the slower of the two tasks, {warmed_ms / 1000:.1f} s "
          f"(target < 3 s: {'PASS' if warmed_ms < 3000 else 'MISS'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", nargs="?", default="overhead", choices=["overhead", "threads", "cancel", "memory", "prefix"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--model", default="qwen2.5-coder:1.5b", help="model for the issue-13 scenarios")
    parser.add_argument("--prompt-repeats", type=int, default=12, help="threads: paragraphs in the prompt (~40 tokens each)")
    args = parser.parse_args()
    {"overhead": overhead, "threads": threads, "cancel": cancel, "memory": memory, "prefix": prefix}[args.scenario](args)


if __name__ == "__main__":
    main()
