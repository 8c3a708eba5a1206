"""How a batch hands items to hosts: draft by draft, and what happens when no host is left."""

from __future__ import annotations

import socket
from pathlib import Path

from scribe.batch import BatchItem, BatchRun, DraftQueue, HostPool
from scribe.modelspec import parse_model_spec
from scribe.prompts import get_template
from scribe.runlog import RunLog
from scribe.tasks import Draft

SPECS = [parse_model_spec(f"gemma3:270m@temperature={t}") for t in (0.2, 0.5, 0.8)]


def items_for(*names: str) -> list[BatchItem]:
    return [BatchItem(Draft(title=n, body=f"text of {n}", rel_path=f"drafts/{n}.md"), s) for n in names for s in SPECS]


def drafts(taken: list[BatchItem]) -> list[str]:
    return [i.draft.title for i in taken]


def take_all(queue: DraftQueue, hosts: list[str]) -> dict[str, list[BatchItem]]:
    """Hosts take turns, as equal workers would."""
    got: dict[str, list[BatchItem]] = {h: [] for h in hosts}
    while True:
        for host in hosts:
            item = queue.take(host)
            if item is None:
                return got
            got[host].append(item)


def test_one_host_takes_every_configuration_of_a_draft_in_a_row() -> None:
    got = take_all(DraftQueue(items_for("a", "b")), ["h1"])
    assert drafts(got["h1"]) == ["a", "a", "a", "b", "b", "b"]


def test_two_hosts_keep_to_their_own_drafts_while_fresh_drafts_remain() -> None:
    got = take_all(DraftQueue(items_for("a", "b", "c", "d")), ["h1", "h2"])
    assert drafts(got["h1"]) == ["a", "a", "a", "c", "c", "c"]
    assert drafts(got["h2"]) == ["b", "b", "b", "d", "d", "d"]


def test_a_host_with_nothing_of_its_own_left_helps_with_another_hosts_draft() -> None:
    queue = DraftQueue(items_for("a", "b"))
    assert drafts([queue.take("h1"), queue.take("h2"), queue.take("h2"), queue.take("h2")]) == ["a", "b", "b", "b"]
    stolen = queue.take("h2")  # nothing of b left and no fresh draft: h2 helps with h1's draft
    assert stolen is not None and stolen.draft.title == "a"
    last = queue.take("h1")
    assert last is not None and last.draft.title == "a"
    assert queue.take("h1") is None and queue.take("h2") is None


def test_drain_returns_what_no_host_took() -> None:
    queue = DraftQueue(items_for("a"))
    first = queue.take("h1")
    assert first is not None
    assert [i.spec.label for i in queue.drain()] == [s.label for s in SPECS[1:]]
    assert queue.take("h1") is None


def test_when_every_host_is_down_each_item_fails_with_a_reason(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on: connections are refused for real
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    seen: list[str] = []
    with RunLog(tmp_path / "runs.sqlite") as runlog:
        run = BatchRun(get_template("critique", tmp_path), HostPool([dead]), runlog, tmp_path / "out",
                       retrieve_with=None, jobs=2, on_item=lambda o: seen.append(o.status))
        outcomes = run.run(items_for("a", "b"))
    assert [o.status for o in outcomes] == ["failed"] * 6 and seen == ["failed"] * 6
    assert all(o.error for o in outcomes)
    assert not list((tmp_path / "out").glob("*.json"))
