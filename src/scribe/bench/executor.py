"""One executor for batch critique and bench: work items over a pool of model hosts.

The scheduling is kept apart from what an item does. A caller hands in jobs (an item, the draft it
works on, the key the run log knows it by) and a work function that runs one item on one host;
the executor decides which host runs what, and when:

- Resume: a job whose key is already finished is skipped (unless forced), so a rerun goes on where
  the last one stopped. The caller says what is finished (from its run log): no I/O happens here.
- Draft affinity: the items of one draft render the same prompt up to the model's options, and a
  server keeps the last prompt it evaluated, so a host takes the items of a draft it started before
  a draft another host started (`DraftQueue`).
- Failover: a work function that raises `HostUnreachable` or `StreamBroken` blames the host; that
  host is taken out and the item is tried on another one. Any other `ScribeError` is the item's own
  failure (the model or the request): another host would fail it too, so it is not retried.
- Ctrl-C: the main thread only waits, so it is the one that sees KeyboardInterrupt; it sets the
  cancel event the work functions pass to their calls, waits for them to stop, and returns what
  finished with `interrupted` set. Finished work is already in the run log (and its files).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, Literal, TypeVar

from scribe.errors import HostUnreachable, ScribeError, StreamBroken

if TYPE_CHECKING:
    from scribe.models import CallResult

T = TypeVar("T")
R = TypeVar("R")

Status = Literal["done", "skipped", "failed", "cancelled"]
NO_HOST_LEFT = "no healthy host left"


class Cancelled(Exception):
    """Raised by a work function whose call stopped because the run was cancelled (Ctrl-C)."""


@dataclass(frozen=True)
class Job(Generic[T]):
    """One item as the executor sees it: what to run, which draft it shares a prompt with, and
    the key that says whether the run log already holds its result."""

    item: T
    draft: str
    key: Hashable


@dataclass
class Outcome(Generic[T, R]):
    """How one item ended: the host that ran it last, how many hosts were tried, and its result
    (the work function's return value; for a skipped item, the one the caller had on record)."""

    item: T
    status: Status
    host: str | None = None
    attempts: int = 0
    error: str | None = None
    result: R | None = None


@dataclass
class Execution(Generic[T, R]):
    """Every outcome, in the order the items ended, and whether Ctrl-C cut the run short."""

    outcomes: list[Outcome[T, R]] = field(default_factory=list)
    interrupted: bool = False

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


# Runs one item on one host; the event is set on Ctrl-C, for the work to pass on to its model call.
Work = Callable[[T, str, threading.Event], R]


def split_finished(jobs: Sequence[Job[T]], finished: Mapping[Hashable, object], *, force: bool) -> tuple[list[Job[T]], list[Job[T]]]:
    """(to run, already finished): a job whose key is finished is skipped, unless `force`."""
    if force:
        return list(jobs), []
    return [j for j in jobs if j.key not in finished], [j for j in jobs if j.key in finished]


def raise_if_unfinished(call: CallResult) -> None:
    """A call that came back without finishing, in the executor's terms: a broken stream is the
    host's failure (it is taken out and the item goes elsewhere), a cut one is Ctrl-C."""
    if call.status == "cancelled":
        raise Cancelled(call.error or "cancelled")
    if call.status == "failed":
        raise StreamBroken(call.error or f"the stream from {call.host} broke", call.text)


class HostPool:
    """Least-busy choice among healthy hosts; a host that fails is taken out of rotation."""

    def __init__(self, hosts: Sequence[str]) -> None:
        self.busy = dict.fromkeys(hosts, 0)
        self.down: set[str] = set()
        self._lock = threading.Lock()

    @property
    def hosts(self) -> list[str]:
        return list(self.busy)

    def acquire(self, tried: frozenset[str] | set[str] = frozenset()) -> str | None:
        """The least busy healthy host not in `tried` (counted busy until released), or None."""
        with self._lock:
            candidates = [h for h in self.busy if h not in self.down and h not in tried]
            if not candidates:
                return None
            host = min(candidates, key=lambda h: self.busy[h])
            self.busy[host] += 1
            return host

    def release(self, host: str, *, failed: bool) -> None:
        with self._lock:
            self.busy[host] -= 1
            if failed:
                self.down.add(host)


class DraftQueue(Generic[T]):
    """Jobs waiting for a host, handed out in order but draft by draft.

    A host takes the first job whose draft is its own or not started by any host, so one host
    keeps the given order (a bench's interleaving survives) and several hosts each keep to their
    drafts. Only when nothing of the kind is left does a host help with another host's draft, so
    no host idles at the end.
    """

    def __init__(self, jobs: Sequence[Job[T]]) -> None:
        self._jobs = list(jobs)
        self._owner: dict[str, str] = {}
        self._lock = threading.Lock()

    def take(self, host: str) -> Job[T] | None:
        with self._lock:
            if not self._jobs:
                return None
            pick = next((j for j in self._jobs if self._owner.get(j.draft, host) == host), self._jobs[0])
            self._jobs.remove(pick)
            self._owner.setdefault(pick.draft, host)
            return pick

    def move(self, draft: str, host: str) -> None:
        """`draft` now runs on `host` (its first host failed), so its prompt is cached there."""
        with self._lock:
            self._owner[draft] = host

    def drain(self) -> list[Job[T]]:
        with self._lock:
            left, self._jobs = self._jobs, []
            return left


class Executor(Generic[T, R]):
    """Runs jobs with `work` on the hosts of `pool`, `jobs` at a time.

    `on_outcome` is called in the caller's thread, once per item as it ends (skipped ones first);
    after Ctrl-C the items that were cut are returned but not announced.
    """

    def __init__(
        self,
        work: Work[T, R],
        pool: HostPool,
        *,
        jobs: int = 1,
        on_outcome: Callable[[Outcome[T, R]], None] = lambda _: None,
    ) -> None:
        self.work, self.pool, self.jobs, self.on_outcome = work, pool, max(1, jobs), on_outcome

    def run(self, jobs: Sequence[Job[T]], *, finished: Mapping[Hashable, R | None], force: bool = False) -> Execution[T, R]:
        """Run every job not already `finished` (by key; its value is the skipped outcome's result)."""
        todo, done = split_finished(jobs, finished, force=force)
        execution: Execution[T, R] = Execution()
        for job in done:
            self._announce(execution, Outcome(job.item, "skipped", result=finished[job.key]))
        waiting = DraftQueue(todo)
        ended: queue.Queue[Outcome[T, R]] = queue.Queue()
        cancel = threading.Event()
        workers: list[Future[None]] = []
        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="scribe-executor") as threads:
            try:
                workers += [threads.submit(self._serve, waiting, ended, cancel) for _ in range(min(self.jobs, len(todo)))]
                self._collect(workers, ended, execution)
            except KeyboardInterrupt:
                execution.interrupted = True
            finally:
                cancel.set()  # after Ctrl-C or a failing callback, stops the calls in flight; else a no-op
        while not ended.empty():
            execution.outcomes.append(ended.get_nowait())
        for worker in workers:
            worker.result()  # a bug in a worker surfaces here instead of vanishing with its thread
        if not execution.interrupted:
            for job in waiting.drain():  # every host went down before these started
                self._announce(execution, Outcome(job.item, "failed", error=NO_HOST_LEFT))
        return execution

    def _announce(self, execution: Execution[T, R], outcome: Outcome[T, R]) -> None:
        execution.outcomes.append(outcome)
        self.on_outcome(outcome)

    def _collect(self, workers: list[Future[None]], ended: queue.Queue[Outcome[T, R]], execution: Execution[T, R]) -> None:
        """Wait in the caller's thread (where Ctrl-C lands) and announce outcomes as they come."""
        while not all(w.done() for w in workers) or not ended.empty():
            try:
                outcome = ended.get(timeout=0.2)
            except queue.Empty:
                continue
            self._announce(execution, outcome)

    def _serve(self, waiting: DraftQueue[T], ended: queue.Queue[Outcome[T, R]], cancel: threading.Event) -> None:
        """One slot of concurrency: take the least-busy host, then the job that suits it best."""
        while not cancel.is_set():
            host = self.pool.acquire()
            if host is None:
                return
            job = waiting.take(host)
            if job is None:
                self.pool.release(host, failed=False)
                return
            ended.put(self._run(job, host, waiting, cancel))

    def _run(self, job: Job[T], host: str, waiting: DraftQueue[T], cancel: threading.Event) -> Outcome[T, R]:
        """Run `job` on `host` (already acquired); if the host fails, on another healthy one."""
        outcome: Outcome[T, R] = Outcome(job.item, "failed")
        tried: set[str] = set()
        current: str | None = host
        while current is not None:
            tried.add(current)
            outcome.host, outcome.attempts = current, outcome.attempts + 1
            try:
                outcome.result = self.work(job.item, current, cancel)
            except (HostUnreachable, StreamBroken) as exc:
                self.pool.release(current, failed=True)
                outcome.error = str(exc)
                if cancel.is_set():
                    outcome.status = "cancelled"
                    return outcome
                current = self.pool.acquire(tried)
                if current is not None:
                    waiting.move(job.draft, current)
                continue
            except (Cancelled, ScribeError) as exc:
                self.pool.release(current, failed=False)
                outcome.status, outcome.error = ("cancelled" if isinstance(exc, Cancelled) else "failed"), str(exc)
                return outcome
            except BaseException:
                self.pool.release(current, failed=False)
                raise
            self.pool.release(current, failed=False)
            outcome.status = "done"
            return outcome
        outcome.error = outcome.error or NO_HOST_LEFT
        return outcome
