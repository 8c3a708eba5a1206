"""Hostile content: a 50 MB note and a folder of 20,000 tiny notes are indexed with bounded memory.

Two more hostile inputs are proven elsewhere: a YAML alias bomb in frontmatter is refused fast
(tests/test_notes.py::test_yaml_alias_bomb_is_refused_fast), and a note aimed at the model stays fenced
as data in every task's prompt (tests/test_offline.py::test_a_note_aimed_at_the_model_stays_fenced_in_every_prompt).

Peak memory is the indexing process's own high-water mark (``ru_maxrss`` from ``os.wait4`` on that
one child), printed for the record and checked against a generous bound: this is a guard against
reading everything at once, not a benchmark.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import MODEL
from index_support import index_state, write_note
from processes import child_env

RSS_BOUND_MB = 1500


def run_measured(args: list[str], cwd: Path, out: Path) -> tuple[int, float]:
    """Run a child to completion; its exit code and peak RSS in MB (Linux reports ru_maxrss in KiB)."""
    env = child_env()
    with out.open("w") as stdout, (out.with_suffix(".err")).open("w") as stderr:
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024


@pytest.mark.slow
def test_a_50_megabyte_note_is_skipped_without_being_read(workspace: Path, tmp_path: Path) -> None:
    big = workspace / "notes" / "dump.md"
    big.parent.mkdir(parents=True)
    line = "A log line that goes on and on, as dumps do, with nothing of note in it at all.\n"
    with big.open("w") as handle:
        for _ in range(50 * 1024 * 1024 // len(line) + 1):
            handle.write(line)
    write_note(workspace, "notes/small.md", "# Small\n\nA real note.\n")
    before = big.stat()

    code, peak_mb = run_measured([sys.executable, "-m", "scribe", "index", "--json"], workspace, tmp_path / "index.out")
    print(f"\npeak RSS of `scribe index` with a {before.st_size / 1e6:.0f} MB note: {peak_mb:.0f} MB")
    assert code == 0, (tmp_path / "index.err").read_text()
    report = json.loads((tmp_path / "index.out").read_text())
    assert report["files_skipped"] == 1 and report["chunks_total"] == 1
    assert any("dump.md" in w and "MB" in w for w in report["warnings"])
    assert peak_mb < RSS_BOUND_MB
    assert big.stat().st_mtime_ns == before.st_mtime_ns and big.stat().st_size == before.st_size


# A stand-in for the model server, and only for it: embedding 20,000 chunks through the engine on
# 2 cores takes the better part of an hour, and what is measured here is everything else (walking,
# parsing, chunking, the manifest, FTS5 and Chroma writes). Named as the fake it is.
FAKE_EMBEDDER_RUN = textwrap.dedent("""
    import sys
    from pathlib import Path
    from scribe.config import open_workspace
    from scribe.index import open_index
    from scribe.sync import SyncOptions, sync_notes

    class FakeEmbedder:
        def embed(self, model, texts, *, batch_size=64):
            return [[float(len(t) % 7), 1.0, 0.5, 0.25] for t in texts]

    root = Path(sys.argv[1])
    with open_index(open_workspace(root, env={})) as index:
        report = sync_notes(index, [root / "notes"], root=root, client=FakeEmbedder(), options=SyncOptions(embed_model=sys.argv[2]))
    print(report.files_new, report.chunks_total)
""")


@pytest.mark.slow
def test_twenty_thousand_tiny_notes_index_with_bounded_memory(workspace: Path, tmp_path: Path) -> None:
    notes = workspace / "notes"
    for i in range(20_000):
        folder = notes / f"f{i // 1000:02}"
        if i % 1000 == 0:
            folder.mkdir(parents=True)
        (folder / f"n{i:05}.md").write_text(f"# Note {i}\n\nTiny note {i} about item{i}.\n", encoding="utf-8")

    code, peak_mb = run_measured([sys.executable, "-c", FAKE_EMBEDDER_RUN, str(workspace), MODEL], workspace, tmp_path / "sync.out")
    print(f"\npeak RSS indexing 20,000 notes (embeddings faked): {peak_mb:.0f} MB")
    assert code == 0, (tmp_path / "sync.err").read_text()
    assert (tmp_path / "sync.out").read_text().split() == ["20000", "20000"]
    assert peak_mb < RSS_BOUND_MB
    state = index_state(workspace)
    assert state.consistent() and len(state.manifest_files) == 20_000
