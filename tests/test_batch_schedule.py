"""How a batch hands items to hosts (draft by draft), what happens when no host is left, and what\ncounts as already done."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from scribe.batch import BatchItem, BatchRun, HostPool, summary_row
from scribe.bench.executor import DraftQueue, Job
from scribe.modelspec import parse_model_spec
from scribe.prompts import get_template
from scribe.runlog import CallRequest, RunLog, RunOutcome
from scribe.runmeta import RunMeta
from scribe.tasks import Draft

SPECS = [parse_model_spec(f"gemma3:270m@temperature={t}") for t in (0.2, 0.5, 0.8)]


def items_for(*names: str) -> list[BatchItem]:
    return [BatchItem(Draft(title=n, body=f"text of {n}", rel_path=f"drafts/{n}.md"), s) for n in names for s in SPECS]


def queue_of(items: list[BatchItem]) -> DraftQueue[BatchItem]:
    """The queue as a batch fills it: each item under its draft (its resume key plays no part here)."""
    return DraftQueue([Job(i, i.draft_key, i.key("v1")) for i in items])


def drafts(taken: list[Job[BatchItem]]) -> list[str]:
    return [j.item.draft.title for j in taken]


def take_all(queue: DraftQueue[BatchItem], hosts: list[str]) -> dict[str, list[Job[BatchItem]]]:
    """Hosts take turns, as equal workers would."""
    got: dict[str, list[Job[BatchItem]]] = {h: [] for h in hosts}
    while True:
        for host in hosts:
            job = queue.take(host)
            if job is None:
                return got
            got[host].append(job)


def test_one_host_takes_every_configuration_of_a_draft_in_a_row() -> None:
    got = take_all(queue_of(items_for("a", "b")), ["h1"])
    assert drafts(got["h1"]) == ["a", "a", "a", "b", "b", "b"]


def test_two_hosts_keep_to_their_own_drafts_while_fresh_drafts_remain() -> None:
    got = take_all(queue_of(items_for("a", "b", "c", "d")), ["h1", "h2"])
    assert drafts(got["h1"]) == ["a", "a", "a", "c", "c", "c"]
    assert drafts(got["h2"]) == ["b", "b", "b", "d", "d", "d"]


def test_a_host_with_nothing_of_its_own_left_helps_with_another_hosts_draft() -> None:
    queue = queue_of(items_for("a", "b"))
    taken = [queue.take("h1"), queue.take("h2"), queue.take("h2"), queue.take("h2")]
    assert drafts([j for j in taken if j is not None]) == ["a", "b", "b", "b"]
    stolen = queue.take("h2")  # nothing of b left and no fresh draft: h2 helps with h1's draft
    assert stolen is not None and stolen.item.draft.title == "a"
    last = queue.take("h1")
    assert last is not None and last.item.draft.title == "a"
    assert queue.take("h1") is None and queue.take("h2") is None


def test_drain_returns_what_no_host_took() -> None:
    queue = queue_of(items_for("a"))
    first = queue.take("h1")
    assert first is not None
    assert [j.item.spec.label for j in queue.drain()] == [s.label for s in SPECS[1:]]
    assert queue.take("h1") is None


def test_when_every_host_is_down_each_item_fails_with_a_reason(tmp_path: Path) -> None:
    dead = dead_host()
    seen: list[str] = []
    with RunLog(tmp_path / "runs.sqlite") as runlog:
        run = BatchRun(get_template("critique", tmp_path), HostPool([dead]), runlog, tmp_path / "out",
                       retrieve_with=None, jobs=2, on_item=lambda o: seen.append(o.status))
        outcomes = run.run(items_for("a", "b"))
    assert [o.status for o in outcomes] == ["failed"] * 6 and seen == ["failed"] * 6
    assert all(o.error for o in outcomes)
    assert not list((tmp_path / "out").glob("*.json"))


def dead_host() -> str:
    """A loopback port nobody listens on: connections are refused for real."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def logged_run(runlog: RunLog, item: BatchItem, prompt_version: str, status: str = "ok") -> int:
    """A critique of `item` as a batch logs it, ended with `status`."""
    meta = RunMeta(via="batch", model_spec=item.spec.label, draft_hash=item.draft.hash)
    request = CallRequest(task="critique", model=item.spec.name, messages=[], prompt_name="critique",
                          prompt_version=prompt_version, meta=meta)
    run_id = runlog.start(request, host="http://127.0.0.1:1")
    runlog.finish(run_id, RunOutcome(status=status))
    return run_id


def test_an_item_is_done_only_when_its_file_names_an_ok_run_in_the_log(tmp_path: Path) -> None:
    template = get_template("critique", tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    a, deleted, failed, unlogged, stale = (items_for(n)[0] for n in ("a", "deleted", "failed", "unlogged", "stale"))
    edited = BatchItem(Draft(title="stale", body="the text before an edit", rel_path="drafts/stale.md"), stale.spec)

    def write_file(item: BatchItem, run_id: int) -> None:
        record = {"run_id": run_id, "draft": item.draft.rel_path, "status": "ok", "critique": {"issues": [{}, {}]}}
        item.out_path(out).write_text(json.dumps(record))

    with RunLog(tmp_path / "runs.sqlite") as runlog:
        write_file(a, logged_run(runlog, a, template.version))
        logged_run(runlog, deleted, template.version)  # its file is gone: the author reads files, so it is redone
        write_file(failed, logged_run(runlog, failed, template.version, status="failed"))
        write_file(unlogged, 999)  # a file the log does not vouch for (copied in, or the log moved aside)
        write_file(stale, logged_run(runlog, edited, template.version))  # a result for the draft's text before an edit
        items = [a, deleted, failed, unlogged, stale]
        outcomes = BatchRun(template, HostPool([dead_host()]), runlog, out, retrieve_with=None, jobs=1).run(items)
        forced = BatchRun(template, HostPool([dead_host()]), runlog, out, retrieve_with=None, jobs=1, force=True).run(items)
    status = {o.item.draft.title: o.status for o in outcomes}
    assert status == {"a": "skipped", "deleted": "failed", "failed": "failed", "unlogged": "failed", "stale": "failed"}
    (skipped,) = [o for o in outcomes if o.status == "skipped"]
    assert summary_row(skipped)["issues"] == 2  # the summary shows the kept result
    assert [o.status for o in forced] == ["failed"] * 5  # --force redoes even what is done
