"""The executor's scheduling with plain work functions: affinity, failover, resume, Ctrl-C.

The work function is the executor's own input (what one item does on one host), so these tests
hand it small callables that record where each item ran, or fail the way a host or a model would.
"""

from __future__ import annotations

import _thread
import signal
import threading
from collections.abc import Callable, Iterator

import pytest

from scribe.bench.executor import (
    Cancelled,
    Executor,
    HostPool,
    Job,
    Outcome,
    raise_if_unfinished,
    split_finished,
)
from scribe.errors import HostUnreachable, ModelNotFound
from scribe.models import CallResult

Ran = list[tuple[str, str]]  # (item, host), in the order the work ran


def jobs_for(*names: str) -> list[Job[str]]:
    """Items named draft + number ("a1"), keyed by their name."""
    return [Job(name, name[0], name) for name in names]


def recorder(ran: Ran, fail: Callable[[str, str], None] = lambda _i, _h: None) -> Callable[[str, str, threading.Event], str]:
    """A work function that records each attempt, lets `fail` raise, and returns "item@host"."""
    lock = threading.Lock()

    def work(item: str, host: str, _cancel: threading.Event) -> str:
        with lock:
            ran.append((item, host))
        fail(item, host)
        return f"{item}@{host}"

    return work


def by_item(outcomes: list[Outcome[str, str]]) -> dict[str, Outcome[str, str]]:
    return {o.item: o for o in outcomes}


def test_one_host_runs_the_items_in_the_order_given() -> None:
    ran: Ran = []
    order = ["a1", "b1", "a2", "b2", "c1"]  # a bench's interleaving: drafts alternate
    execution = Executor(recorder(ran), HostPool(["h1"])).run(jobs_for(*order), finished={})
    assert [item for item, _ in ran] == order
    assert [(o.item, o.status, o.result) for o in execution.outcomes] == [(i, "done", f"{i}@h1") for i in order]
    assert not execution.interrupted


def test_each_draft_stays_on_the_host_that_started_it() -> None:
    ran: Ran = []
    step = threading.Barrier(2, timeout=10)  # both hosts always busy at once, so neither runs ahead

    def work(item: str, host: str, cancel: threading.Event) -> str:
        step.wait()
        return recorder(ran)(item, host, cancel)

    execution = Executor(work, HostPool(["h1", "h2"]), jobs=2).run(jobs_for("a1", "a2", "a3", "b1", "b2", "b3"), finished={})
    assert execution.count("done") == 6
    hosts_of = {draft: {host for item, host in ran if item[0] == draft} for draft in "ab"}
    assert len(hosts_of["a"]) == 1 and len(hosts_of["b"]) == 1 and hosts_of["a"] != hosts_of["b"]


def test_an_unreachable_host_is_taken_out_and_its_item_runs_on_another() -> None:
    ran: Ran = []

    def h1_is_gone(_item: str, host: str) -> None:
        if host == "h1":
            raise HostUnreachable("no model server answers at h1")

    pool = HostPool(["h1", "h2"])
    execution = Executor(recorder(ran, h1_is_gone), pool).run(jobs_for("a1", "a2", "b1"), finished={})
    assert ran == [("a1", "h1"), ("a1", "h2"), ("a2", "h2"), ("b1", "h2")]  # h1 tried once, then never again
    first = by_item(execution.outcomes)["a1"]
    assert (first.status, first.host, first.attempts) == ("done", "h2", 2)
    assert pool.down == {"h1"} and pool.busy == {"h1": 0, "h2": 0}


def test_a_broken_stream_counts_against_the_host() -> None:
    ran: Ran = []
    broken = CallResult(text="half an ans", model="m", host="h1", status="failed", error="stream from h1 broke after 3 chunks")

    def h1_breaks(_item: str, host: str) -> None:
        if host == "h1":
            raise_if_unfinished(broken)

    pool = HostPool(["h1", "h2"])
    execution = Executor(recorder(ran, h1_breaks), pool).run(jobs_for("a1"), finished={})
    assert ran == [("a1", "h1"), ("a1", "h2")] and pool.down == {"h1"}
    assert execution.outcomes[0].status == "done"


def test_with_every_host_down_each_item_fails_with_the_reason() -> None:
    ran: Ran = []
    seen: list[str] = []

    def all_gone(_item: str, host: str) -> None:
        raise HostUnreachable(f"no model server answers at {host}")

    executor = Executor(recorder(ran, all_gone), HostPool(["h1", "h2"]), on_outcome=lambda o: seen.append(o.item))
    execution = executor.run(jobs_for("a1", "a2", "b1"), finished={})
    assert ran == [("a1", "h1"), ("a1", "h2")]  # each dead host was tried once, no more
    assert seen == ["a1", "a2", "b1"] and execution.count("failed") == 3
    assert [o.error for o in execution.outcomes] == ["no model server answers at h2", "no healthy host left", "no healthy host left"]


def test_a_model_error_fails_the_item_only_and_the_host_stays() -> None:
    ran: Ran = []

    def no_such_model(item: str, _host: str) -> None:
        if item == "a1":
            raise ModelNotFound("model 'absent:1b' is not on h1")

    pool = HostPool(["h1", "h2"])
    execution = Executor(recorder(ran, no_such_model), pool).run(jobs_for("a1", "a2"), finished={})
    outcomes = by_item(execution.outcomes)
    assert (outcomes["a1"].status, outcomes["a1"].attempts, outcomes["a1"].error) == ("failed", 1, "model 'absent:1b' is not on h1")
    assert outcomes["a2"].status == "done" and ran == [("a1", "h1"), ("a2", "h1")] and not pool.down


def test_finished_items_are_skipped_with_their_result_unless_forced() -> None:
    jobs = jobs_for("a1", "a2", "b1")
    ran: Ran = []
    seen: list[tuple[str, str]] = []
    executor = Executor(recorder(ran), HostPool(["h1"]), on_outcome=lambda o: seen.append((o.item, o.status)))
    execution = executor.run(jobs, finished={"a2": "kept from last time"})
    assert ran == [("a1", "h1"), ("b1", "h1")]
    assert seen == [("a2", "skipped"), ("a1", "done"), ("b1", "done")]  # skipped ones are announced first
    assert by_item(execution.outcomes)["a2"].result == "kept from last time"
    ran.clear()
    forced = executor.run(jobs, finished={"a2": "kept from last time"}, force=True)
    assert [item for item, _ in ran] == ["a1", "a2", "b1"] and forced.count("skipped") == 0


def test_split_finished_keeps_the_order() -> None:
    jobs = jobs_for("a1", "b1", "a2")
    todo, done = split_finished(jobs, {"b1": None}, force=False)
    assert ([j.item for j in todo], [j.item for j in done]) == (["a1", "a2"], ["b1"])
    assert split_finished(jobs, {"b1": None}, force=True) == (jobs, [])


@pytest.fixture
def ctrl_c_raises() -> Iterator[None]:
    """Python's own SIGINT handler for the test: a suite started in the background of a script
    inherits SIGINT ignored, and `interrupt_main` then does nothing."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("ctrl_c_raises")
def test_ctrl_c_keeps_what_finished_and_cancels_the_call_in_flight() -> None:
    ran: Ran = []
    waiting = threading.Event()  # set once the caller's thread waits for outcomes, where Ctrl-C lands

    def work(item: str, host: str, cancel: threading.Event) -> str:
        ran.append((item, host))
        if item == "a2":
            assert waiting.wait(timeout=10)
            _thread.interrupt_main()  # Ctrl-C, while this call streams
            if not cancel.wait(timeout=10):
                raise AssertionError("the executor never cancelled the call in flight")
            raise_if_unfinished(CallResult(text="par", model="m", host=host, status="cancelled", error="cancelled by the user"))
        return f"{item}@{host}"

    pool = HostPool(["h1"])
    execution = Executor(work, pool, on_outcome=lambda _: waiting.set()).run(jobs_for("a1", "a2", "a3", "b1"), finished={})
    assert execution.interrupted
    assert [(o.item, o.status) for o in execution.outcomes] == [("a1", "done"), ("a2", "cancelled")]
    assert [item for item, _ in ran] == ["a1", "a2"]  # nothing new started after Ctrl-C
    assert pool.busy == {"h1": 0} and not pool.down  # a cancelled call is no fault of the host


def test_a_cancelled_call_is_reported_as_cancelled() -> None:
    def cut(_item: str, _host: str) -> None:
        raise Cancelled("cancelled by the user")

    execution = Executor(recorder([], cut), HostPool(["h1"])).run(jobs_for("a1"), finished={})
    assert (execution.outcomes[0].status, execution.outcomes[0].error) == ("cancelled", "cancelled by the user")


def test_a_bug_in_the_work_function_is_raised_not_swallowed() -> None:
    def bug(_item: str, _host: str) -> None:
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        Executor(recorder([], bug), HostPool(["h1"])).run(jobs_for("a1"), finished={})


def test_the_pool_hands_out_the_least_busy_healthy_host() -> None:
    pool = HostPool(["h1", "h2"])
    assert [pool.acquire(), pool.acquire(), pool.acquire()] == ["h1", "h2", "h1"]
    pool.release("h1", failed=True)
    assert pool.acquire() == "h2" and pool.acquire({"h2"}) is None
