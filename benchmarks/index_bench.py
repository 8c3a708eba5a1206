"""The notes index at scale: indexing, re-indexing and query latency on synthetic corpora, recall on notes/.

Synthetic corpora of 1,000 and 10,000 notes (plus 2,000, whose ~10k chunks give the query-latency
point at 10k chunks) are generated into a temp dir: markdown with YAML frontmatter, 3 to 7 sections
of about 60-90 tokens, so about 5 chunks a note. Each corpus is measured in its own child process
(so its peak RSS is its own) through the same `sync_notes` and `retrieve` the CLI uses, against a
real `scribe serve` engine (started here unless --host is given) and Chroma on disk.

What each number measures:
- embed throughput: the real engine embedding a sample of real chunks of the corpus (--sample,
  batch --batch-size), seconds per chunk.
- parse+chunk / store: measured in the full index run. parse+chunk = discovery, stat, read, hash,
  frontmatter, chunking; store = Chroma upserts + FTS5 writes + manifest saves.
- embed: in --quick mode (the default) an ESTIMATE, chunks x measured seconds per chunk, because the
  270M engine on 2 cores needs hours for 50k chunks. The index is then filled with real engine
  vectors reused: each chunk gets one of the sample's vectors (chosen by its hash) plus small noise
  (seeded by its hash), renormalised. With --full every chunk is embedded by the engine for real.
- full index = parse+chunk + embed + store (+ a little bookkeeping) for the whole corpus.
- no-change re-index: `sync_notes` again with nothing changed (in process), and the `scribe index`
  command as a fresh process (Python start-up and imports included).
- one-file change: one section of one note edited, then `sync_notes` in process with the real engine
  (its embed time shown apart), each time with a freshly opened Chroma client. The first change
  after the full index also pays for Chroma writing out the HNSW index of the bulk load (its first
  write after a bulk load does that); the next change is the steady state the target is checked on.
  Then the same as the `scribe index` command in a fresh process (Python start-up and imports included).
- query p50/p95: `retrieve(k=5)` per mode over 50 queries, query vectors precomputed (embedding
  excluded), after a warm-up; the Chroma client is opened fresh for the corpus.
- recall@5: notes/ indexed with real engine embeddings, benchmarks/queries.json (46 queries, each
  naming the note that answers it): the share whose note is among the top 5 results. Then
  benchmarks/link_queries.json: a paragraph being written, with [[links]] in it or a `draft` (the
  note being written: its links and backlinks count, its own chunks are left out, as the tasks
  leave them out), whose answer is a note linked with it; hybrid with and without the link signal.
- peak RSS: the child process's maximum resident set (everything it did for that corpus).

Targets (issue 3): no-change re-index of 10,000 notes under 1.5 s; one changed file under 1 s plus its
embedding time; query p50 under 15 ms at 50k chunks; peak memory under 1 GB for 10,000 notes.

    .venv/bin/python benchmarks/index_bench.py [--quick | --full] [--host URL] [--sizes 1000,2000,10000]
    .venv/bin/python benchmarks/index_bench.py --recall-only [--notes DIR]   # recall@5 on notes/ alone
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from conftest import start_engine, stop_engine  # noqa: E402
from machine import machine  # noqa: E402

from scribe.config import open_workspace  # noqa: E402
from scribe.index import open_index  # noqa: E402
from scribe.models import ModelClient  # noqa: E402
from scribe.retrieval import MODES, retrieve  # noqa: E402
from scribe.sync import SyncOptions, sync_notes  # noqa: E402

MODEL = "all-minilm"  # --embed-model changes it
QUERY_COUNT = 50
# The author's topic words, mixed into a larger made-up vocabulary; words are drawn with Zipf's law
# (rank r weighted 1/r^1.07) like real prose, so posting lists have realistic lengths.
TOPIC_WORDS = """
idempotency retry payment ledger charge refund webhook provider timeout duplicate key request fingerprint
kafka consumer partition offset lag poison message dead letter queue replay backoff jitter schedule lease
worker heartbeat postgres index vacuum plan nested loop hash join sequential scan buffer cache latency
tracing span log correlation deploy rollback incident postmortem alert pager owner runbook tenant schema
isolation row level security role permission audit approval quota migration column constraint transaction
serializable snapshot deadlock lock contention throughput batch embedding vector chunk retrieval ranking
keyword model quantization context prompt template memory thread cpu disk network
""".split()
FUNCTION_WORDS = "the a of to and in is for that with on as it be by this are or from at an was we not can".split()
SYLLABLES = "ka lo mi ne ra su ti vo ze an el or ux pre con ist ing er ment ly da fo gu".split()
VOCABULARY_SIZE = 20_000
TAGS = ["payments", "kafka", "postgres", "scheduler", "observability", "security", "ai", "reliability", "sql", "essay"]


def vocabulary() -> tuple[list[str], list[float]]:
    """Content words in Zipf rank order, with cumulative weights for ``random.choices``."""
    rng = random.Random(1)
    made_up: set[str] = set()
    while len(made_up) < VOCABULARY_SIZE - len(TOPIC_WORDS):
        made_up.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    words = sorted(made_up)
    rng.shuffle(words)
    for i, word in enumerate(TOPIC_WORDS):  # topic words among the common-ish ranks
        words.insert(5 + i * 7, word)
    cumulative, total = [], 0.0
    for rank in range(1, len(words) + 1):
        total += 1 / rank**1.07
        cumulative.append(total)
    return words, cumulative


WORDS, CUMULATIVE = vocabulary()


# --- corpora -------------------------------------------------------------------------------------


def sentence(rng: random.Random) -> str:
    n = rng.randint(8, 16)
    content = iter(rng.choices(WORDS, cum_weights=CUMULATIVE, k=n))
    words = [rng.choice(FUNCTION_WORDS) if rng.random() < 0.4 else next(content) for _ in range(n)]
    return " ".join(words).capitalize() + "."


def topic_words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(TOPIC_WORDS) for _ in range(n))


def note_text(i: int) -> str:
    rng = random.Random(i)
    tags = rng.sample(TAGS, rng.randint(1, 3))
    sections = []
    for s in range(rng.randint(3, 7)):
        heading = topic_words(rng, 3).capitalize()
        sections.append(f"## {heading} {s}\n\n" + " ".join(sentence(rng) for _ in range(rng.randint(4, 6))))
    return (
        f"---\ntitle: Note {i} on {topic_words(rng, 1)} and {topic_words(rng, 1)}\ntags: [{', '.join(tags)}]\n"
        f"date: 2025-{1 + i % 12:02d}-{1 + i % 28:02d}\nstatus: {rng.choice(['draft', 'published'])}\n---\n\n"
        + "\n\n".join(sections) + "\n"
    )


def generate_corpus(root: Path, notes: int) -> None:
    """Notes 0..notes-1 in folders of 1,000 (the same note i in every corpus)."""
    for i in range(notes):
        path = root / "notes" / f"part-{i // 1000:02d}" / f"note-{i:05d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(note_text(i), encoding="utf-8")


def synthetic_queries() -> list[str]:
    """Two to six words as a user would type them: content words (Zipf-drawn, the 30 most common left out)."""
    rng = random.Random(7)
    queries = []
    for _ in range(QUERY_COUNT):
        words = [w for w in rng.choices(WORDS, cum_weights=CUMULATIVE, k=12) if WORDS.index(w) >= 30]
        queries.append(" ".join(words[: rng.randint(2, 6)]) or rng.choice(TOPIC_WORDS))
    return queries


def make_workspace(root: Path, host: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "scribe.toml").write_text(f'engine = "ollama"\nollama_host = "{host}"\nembed_model = "{MODEL}"\n')


# --- vectors -------------------------------------------------------------------------------------


class ReplayClient:
    """Real engine vectors reused: a pool vector chosen by the text's hash, plus hash-seeded noise."""

    def __init__(self, pool: Sequence[Sequence[float]], noise: float = 0.35) -> None:
        self.pool = np.asarray(pool, dtype=np.float32)
        self.noise = noise

    def embed(self, model: str, texts: Sequence[str], *, batch_size: int = 64) -> list[list[float]]:
        vectors = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha1(text.encode()).digest()[:8], "little")
            rng = np.random.default_rng(seed)
            base = self.pool[seed % len(self.pool)]
            jitter = rng.standard_normal(base.shape[0]).astype(np.float32)
            vector = base / np.linalg.norm(base) + self.noise * jitter / np.linalg.norm(jitter)
            vectors.append((vector / np.linalg.norm(vector)).tolist())
        return vectors


def sample_chunk_texts(root: Path, count: int) -> list[str]:
    """Real chunks of the corpus, spread over its notes, to embed for throughput and the vector pool."""
    from scribe.chunking import chunk_markdown
    from scribe.notes import parse_note

    paths = sorted((root / "notes").rglob("*.md"))
    texts: list[str] = []
    for path in paths[:: max(1, len(paths) // count)]:
        note = parse_note(path, root=root)
        assert note is not None
        texts.extend(c.text for c in chunk_markdown(note.body, path=note.rel_path, title=note.title)[:1])
        if len(texts) >= count:
            break
    return texts


# --- one corpus, in a child process -------------------------------------------------------------


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def scribe_command(root: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCRIBE_", "OLLAMA_"))}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "scribe", "index"], cwd=root, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"scribe index failed in {root}: {result.stderr}")
    return elapsed


def edit_one_note(root: Path, i: int, stamp: str) -> None:
    path = root / "notes" / f"part-{i // 1000:02d}" / f"note-{i:05d}.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("## ", f"## Edited {stamp} ", 1), encoding="utf-8")


def bench_corpus(root: str, host: str, pool: list[list[float]], seconds_per_chunk: float,
                 query_vectors: dict[str, list[float]], full: bool, batch_size: int) -> dict[str, Any]:
    """Index one corpus from scratch, re-index it, edit one note, then time queries."""
    from chromadb.api.shared_system_client import SharedSystemClient

    ws_root = Path(root)
    workspace = open_workspace(ws_root, env={})
    real = ModelClient(host)
    client = real if full else ReplayClient(pool)
    options = SyncOptions(embed_model=MODEL, batch_size=batch_size)
    out: dict[str, Any] = {}
    with open_index(workspace) as index:
        report = sync_notes(index, [ws_root / "notes"], root=ws_root, client=client, options=options)
    out["notes"], out["chunks"] = report.files_new, report.chunks_total
    out["parse_s"], out["store_s"] = report.parse_s, report.store_s
    out["embed_s"] = report.embed_s if full else report.chunks_embedded * seconds_per_chunk
    out["embed_estimated"] = not full
    out["full_s"] = report.total_s - (0 if full else report.embed_s) + (0 if full else out["embed_s"])

    SharedSystemClient.clear_system_cache()
    with open_index(workspace) as index:
        again = sync_notes(index, [ws_root / "notes"], root=ws_root, client=real, options=options)
    assert again.chunks_embedded == 0 and again.files_unchanged == out["notes"]
    out["nochange_s"] = again.total_s
    out["nochange_cli_s"] = scribe_command(ws_root)

    for note, key in ((3, "onechange_first"), (4, "onechange")):  # the first pays Chroma's deferred flush
        edit_one_note(ws_root, note, "a")
        SharedSystemClient.clear_system_cache()
        with open_index(workspace) as index:
            changed = sync_notes(index, [ws_root / "notes"], root=ws_root, client=real, options=options)
        assert changed.files_changed == 1 and changed.chunks_embedded >= 1
        out[f"{key}_s"], out[f"{key}_embed_s"] = changed.total_s, changed.embed_s
    edit_one_note(ws_root, 5, "b")
    out["onechange_cli_s"] = scribe_command(ws_root)

    SharedSystemClient.clear_system_cache()
    with open_index(workspace) as index:
        for query, vector in list(query_vectors.items())[:3]:  # warm-up: open stores, load the HNSW index
            retrieve(index, None, query, mode="hybrid", query_vector=vector)
        for mode in MODES:
            samples = []
            for query, vector in query_vectors.items():
                started = time.perf_counter()
                retrieve(index, None, query, k=5, mode=mode, query_vector=None if mode == "keyword" else vector)
                samples.append((time.perf_counter() - started) * 1000)
            out[f"query_{mode}_ms"] = percentiles(samples)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def in_child(*args: Any) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(bench_corpus, *args).result()


# --- recall on notes/ ----------------------------------------------------------------------------


def recall_at_5(index: Any, items: list[dict[str, str]], vectors: list[list[float]], mode: str, links: bool = True) -> float:
    """The share of ``items`` whose expected note is in the top 5, the item's draft left out."""
    hits = 0
    for item, vector in zip(items, vectors):
        draft = item.get("draft")
        sources = retrieve(index, None, item["query"], k=10, mode=mode, query_vector=vector, draft=draft, links=links)  # type: ignore[arg-type]
        hits += item["expected"] in [s.path for s in sources if s.path != draft][:5]
    return hits / len(items)


def recall_on_notes(tmp: Path, host: str, batch_size: int, notes: Path = REPO / "notes") -> dict[str, Any]:
    root = tmp / "notes-ws"
    make_workspace(root, host)
    shutil.copytree(notes, root / "notes")
    client = ModelClient(host)
    queries = json.loads((REPO / "benchmarks" / "queries.json").read_text())
    linked = json.loads((REPO / "benchmarks" / "link_queries.json").read_text())
    with open_index(open_workspace(root, env={})) as index:
        report = sync_notes(index, [root / "notes"], root=root, client=client,
                            options=SyncOptions(embed_model=MODEL, batch_size=batch_size))
        vectors = client.embed(MODEL, [q["query"] for q in queries], batch_size=batch_size)
        link_vectors = client.embed(MODEL, [q["query"] for q in linked], batch_size=batch_size)
        recall = {mode: recall_at_5(index, queries, vectors, mode) for mode in MODES}
        recall["hybrid_without_links"] = recall_at_5(index, queries, vectors, "hybrid", links=False)
        links = {"without": recall_at_5(index, linked, link_vectors, "hybrid", links=False),
                 "with": recall_at_5(index, linked, link_vectors, "hybrid")}
    return {"recall": recall, "queries": len(queries), "links": links, "link_queries": len(linked), "chunks": report.chunks_total,
            "embed_s": report.embed_s, "index_s": report.total_s}


def recall_lines(recall: dict[str, Any]) -> list[str]:
    r, links = recall["recall"], recall["links"]
    return [
        f"recall@5 on notes/ ({recall['queries']} labelled queries, {recall['chunks']} chunks, real embeddings, "
        f"indexed in {recall['index_s']:.0f} s): " + ", ".join(f"{m} {r[m]:.2f}" for m in MODES)
        + f" (hybrid without the link signal {r['hybrid_without_links']:.2f})",
        f"recall@5 on link-dependent queries ({recall['link_queries']}, benchmarks/link_queries.json), hybrid: "
        f"{links['without']:.2f} without the link signal, {links['with']:.2f} with it",
    ]


# --- report --------------------------------------------------------------------------------------


def table(results: dict[int, dict[str, Any]], sample: dict[str, float], recall: dict[str, Any], total_s: float) -> str:
    sizes = sorted(results)
    header = ["metric"] + [f"{n:,} notes" for n in sizes]
    rows: list[list[str]] = [["chunks"] + [f"{results[n]['chunks']:,}" for n in sizes]]

    def row(label: str, key: str, fmt: str = "{:.2f} s") -> None:
        rows.append([label] + [fmt.format(results[n][key]) for n in sizes])

    est = " (est.)" if any(r["embed_estimated"] for r in results.values()) else ""
    row("full index: parse+chunk", "parse_s")
    row(f"full index: embed{est}", "embed_s", "{:,.0f} s")
    row("full index: store (Chroma+FTS5+manifest)", "store_s")
    row(f"full index: total{est}", "full_s", "{:,.0f} s")
    row("no-change re-index (in process)", "nochange_s")
    row("no-change `scribe index` (fresh process)", "nochange_cli_s")
    row("first one-file change after the full index", "onechange_first_s")
    row("  of which embedding (real engine)", "onechange_first_embed_s")
    row("next one-file change (in process, total)", "onechange_s")
    row("  of which embedding (real engine)", "onechange_embed_s")
    row("one-file change `scribe index` (fresh process)", "onechange_cli_s")
    for mode in MODES:
        rows.append([f"query p50 / p95, {mode}"] + [
            "{:.1f} / {:.1f} ms".format(*results[n][f"query_{mode}_ms"]) for n in sizes])
    row("peak RSS", "peak_rss_mb", "{:,.0f} MB")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(f"embed throughput (real engine, {sample['chunks']} sample chunks, batch {sample['batch']}): "
                 f"{sample['seconds_per_chunk'] * 1000:.0f} ms/chunk, {1 / sample['seconds_per_chunk']:.2f} chunks/s")
    lines += recall_lines(recall)
    lines.append(f"machine: {machine()}; bench wall time {total_s / 60:.1f} min")
    return "\n".join(lines)


def targets(results: dict[int, dict[str, Any]]) -> list[str]:
    big = results[max(results)]
    checks = [
        (f"no-change re-index of {max(results):,} notes < 1.5 s", big["nochange_s"] < 1.5,
         f"{big['nochange_s']:.2f} s in process, {big['nochange_cli_s']:.2f} s as a fresh `scribe index`"),
        ("one changed file < 1 s + its embedding", big["onechange_s"] - big["onechange_embed_s"] < 1.0,
         f"{big['onechange_s'] - big['onechange_embed_s']:.2f} s + {big['onechange_embed_s']:.2f} s embedding"),
        (f"query p50 < 15 ms at {big['chunks']:,} chunks (hybrid)", big["query_hybrid_ms"][0] < 15,
         f"{big['query_hybrid_ms'][0]:.1f} ms"),
        (f"peak memory < 1 GB for {max(results):,} notes", big["peak_rss_mb"] < 1024, f"{big['peak_rss_mb']:.0f} MB"),
    ]
    return [f"{'PASS' if ok else 'MISS'}  {name}: {detail}" for name, ok, detail in checks]


def set_model(name: str) -> None:
    global MODEL
    MODEL = name


def compare_embedders(batch_size: int) -> None:
    """Issue 12's targets: the real embedder against the Gemma one, on notes/, in one run."""
    rows = {}
    with tempfile.TemporaryDirectory(prefix="embedders-") as tmp:
        engine, host = start_engine(Path(tmp))
        try:
            for name in ("gemma3:270m", "all-minilm"):
                set_model(name)
                ModelClient(host).embed(name, ["warm-up"])  # load time apart from the index
                rows[name] = recall_on_notes(Path(tmp) / name.replace(":", "-"), host, batch_size)
                print(f"{name}: {json.dumps(rows[name])}", file=sys.stderr)
        finally:
            stop_engine(engine)
    print(f"machine: {machine()}\nnotes/: {rows['all-minilm']['chunks']} chunks, {rows['all-minilm']['queries']} queries, "
          f"batch {batch_size}, fresh index each\n")
    print("| embed model | full index of notes/ s | embed s | chunks/s | recall@5 keyword | vector | hybrid |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in rows.items():
        rate = r["chunks"] / r["embed_s"]
        rec = r["recall"]
        print(f"| {name} | {r['index_s']:.1f} | {r['embed_s']:.1f} | {rate:.1f} | {rec['keyword']:.2f} | {rec['vector']:.2f} | {rec['hybrid']:.2f} |")
    g, m = rows["gemma3:270m"], rows["all-minilm"]
    speedup = (m["chunks"] / m["embed_s"]) / (g["chunks"] / g["embed_s"])
    print(f"\nembedding throughput all-minilm / gemma3:270m: {speedup:.1f}x (target >= 15x: {'PASS' if speedup >= 15 else 'MISS'})")
    print(f"full index of notes/: {m['index_s']:.1f} s (target < 8 s: {'PASS' if m['index_s'] < 8 else 'MISS'})")
    print(f"vector recall@5 {m['recall']['vector']:.2f} (target >= 0.95: {'PASS' if m['recall']['vector'] >= 0.95 else 'MISS'}); "
          f"hybrid {m['recall']['hybrid']:.2f} >= keyword {m['recall']['keyword']:.2f}: "
          f"{'PASS' if m['recall']['hybrid'] >= m['recall']['keyword'] else 'MISS'}")


def recall_only(host: str | None, batch_size: int, notes: Path) -> None:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="recall-") as tmp:
        engine = None
        try:
            if host is None:
                engine, host = start_engine(Path(tmp))
            ModelClient(host).embed(MODEL, ["warm-up"])
            recall = recall_on_notes(Path(tmp), host, batch_size, notes)
        finally:
            if engine is not None:
                stop_engine(engine)
    print("\n".join([f"notes: {notes}", *recall_lines(recall)]))
    print(f"machine: {machine()}; bench wall time {(time.perf_counter() - started) / 60:.1f} min")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="estimate embed time from a sample; reuse real vectors (default)")
    mode.add_argument("--full", action="store_true", help="embed every synthetic chunk with the engine (hours on 2 cores)")
    parser.add_argument("--host", help="a running Ollama-compatible server (default: start `scribe serve`)")
    parser.add_argument("--sizes", default="1000,2000,10000", help="corpus sizes in notes")
    parser.add_argument("--sample", type=int, default=32, help="chunks embedded for real to measure throughput")
    parser.add_argument("--batch-size", type=int, default=64, help="chunks per embedding request")
    parser.add_argument("--embed-model", default=MODEL, help="embedding model for every measurement")
    parser.add_argument("--compare-embedders", action="store_true",
                        help="only notes/: full index time, embedding throughput and recall@5 per mode, gemma3:270m beside all-minilm")
    parser.add_argument("--recall-only", action="store_true", help="only recall@5 on the notes (labelled and link-dependent queries)")
    parser.add_argument("--notes", type=Path, default=REPO / "notes", help="the notes folder recall is measured on (e.g. an older checkout's)")
    args = parser.parse_args()
    if args.compare_embedders:
        compare_embedders(args.batch_size)
        return
    if args.recall_only:
        recall_only(args.host, args.batch_size, args.notes)
        return
    set_model(args.embed_model)
    started = time.perf_counter()
    engine = None
    tmp = Path(tempfile.mkdtemp(prefix="index-bench-"))
    try:
        host = args.host
        if host is None:
            engine, host = start_engine(tmp)
        sizes = [int(s) for s in args.sizes.split(",")]
        results: dict[int, dict[str, Any]] = {}
        client = ModelClient(host)
        client.embed(MODEL, ["warm-up"])  # load the model before timing anything
        queries = synthetic_queries()
        query_vectors = dict(zip(queries, client.embed(MODEL, queries, batch_size=args.batch_size)))
        sample: dict[str, float] = {}
        for n in sizes:
            root = tmp / f"corpus-{n}"
            make_workspace(root, host)
            t = time.perf_counter()
            generate_corpus(root, n)
            print(f"[{n:,} notes] generated in {time.perf_counter() - t:.1f} s", file=sys.stderr)
            if not sample:
                texts = sample_chunk_texts(root, args.sample)
                t = time.perf_counter()
                pool = client.embed(MODEL, texts, batch_size=args.batch_size)
                sample = {"chunks": len(texts), "batch": args.batch_size,
                          "seconds_per_chunk": (time.perf_counter() - t) / len(texts)}
                print(f"embedded {len(texts)} sample chunks: {sample['seconds_per_chunk'] * 1000:.0f} ms/chunk", file=sys.stderr)
            results[n] = in_child(str(root), host, pool, sample["seconds_per_chunk"], query_vectors, args.full, args.batch_size)
            print(f"[{n:,} notes] {json.dumps(results[n])}", file=sys.stderr)
            shutil.rmtree(root, ignore_errors=True)
        print("indexing notes/ with real embeddings for recall@5 ...", file=sys.stderr)
        recall = recall_on_notes(tmp, host, args.batch_size, args.notes)
        print(table(results, sample, recall, time.perf_counter() - started))
        print()
        print("\n".join(targets(results)))
    finally:
        if engine is not None:
            stop_engine(engine)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
