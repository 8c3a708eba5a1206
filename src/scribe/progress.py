"""How far `scribe index` (or the app's re-index) is, and how long it has left. Pure: times are passed in.

Embedding dominates indexing, so work is counted in chunks embedded. How many chunks a run will embed
is known only once every changed file is chunked, which happens as the run goes; until then the total
is estimated from the bytes still to read, and before any chunk is known the files are counted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

# Throughput this long ago counts half as much as now: long enough to smooth batch-to-batch jitter,
# short enough to follow a machine that slows down (thermal throttling, a model swapped out).
HALF_LIFE_S = 15.0
# A rate measured over less time than this is noise, so no estimate is shown before it.
MIN_SPAN_S = 2.0


class SyncCounts(Protocol):
    """What a sync reports (``scribe.sync.SyncProgress``, the app's ``IndexProgress``)."""

    @property
    def files_total(self) -> int: ...
    @property
    def files_done(self) -> int: ...
    @property
    def chunks_embedded(self) -> int: ...
    @property
    def chunks_found(self) -> int: ...  # new chunks in the files read so far (and any to re-embed)
    @property
    def bytes_read(self) -> int: ...  # of the files that may have changed
    @property
    def bytes_total(self) -> int: ...


def expected_chunks(counts: SyncCounts) -> int | None:
    """Chunks the run will embed: exact once every file is read; before, the chunks found so far
    scaled up by the bytes still to read; None while no chunk has been found."""
    if counts.bytes_read >= counts.bytes_total:
        return counts.chunks_found
    if counts.chunks_found == 0 or counts.bytes_read == 0:
        return None
    unread = counts.bytes_total - counts.bytes_read
    return counts.chunks_found + round(unread * counts.chunks_found / counts.bytes_read)


class Throughput:
    """Units per second over recent work (exponentially weighted by age), and the time left at that rate.

    The clock starts at the first unit done: the wait before it is start-up (connecting, loading the
    embedding model), which would make every early estimate far too long.
    """

    def __init__(self, *, half_life_s: float = HALF_LIFE_S, min_span_s: float = MIN_SPAN_S) -> None:
        self.half_life_s = half_life_s
        self.min_span_s = min_span_s
        self._first: int | None = None
        self._last: tuple[float, int] | None = None
        self._units = 0.0  # decayed sums: rate = units / seconds
        self._seconds = 0.0
        self._span = 0.0  # seconds measured, not decayed

    def update(self, done: int, now: float) -> None:
        if self._first is None:
            self._first = done
        if done <= self._first:
            return
        if self._last is None:
            self._last = (now, done)
            return
        last_at, last_done = self._last
        elapsed = max(now - last_at, 0.0)
        decay = 0.5 ** (elapsed / self.half_life_s)
        self._units = self._units * decay + (done - last_done)
        self._seconds = self._seconds * decay + elapsed
        self._span += elapsed
        self._last = (now, done)

    def rate(self) -> float | None:
        """Units per second, or None until enough time has been measured."""
        if self._span < self.min_span_s or self._units <= 0:
            return None
        return self._units / self._seconds

    def remaining_s(self, done: int, total: int) -> float | None:
        rate = self.rate()
        return None if rate is None else max(total - done, 0) / rate


def format_remaining(seconds: float) -> str:
    """'45s left', '2m 10s left', '1h 5m left': coarser as it grows, since the estimate is no finer."""
    if seconds < 60:
        return f"{max(1, math.ceil(seconds))}s left"
    tens = round(seconds / 10) * 10
    if tens < 3600:
        minutes, rest = divmod(tens, 60)
        return f"{minutes}m {rest}s left" if rest else f"{minutes}m left"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours}h {minutes}m left" if minutes else f"{hours}h left"


@dataclass(frozen=True)
class Reading:
    """One look at a run: ``done`` of ``total`` ``unit`` ("chunks" or "files"); ``estimated``: the
    total is scaled from the bytes read so far."""

    done: int
    total: int
    unit: str
    estimated: bool
    remaining_s: float | None

    @property
    def count(self) -> str:
        return f"{self.done}/{'~' if self.estimated else ''}{self.total} {self.unit}"

    @property
    def left(self) -> str:
        return "" if self.remaining_s is None else format_remaining(self.remaining_s)


class IndexMeter:
    """Follows one sync's counts and reads them in one unit, with the time left; the CLI's bar and the
    app's status line both draw from it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._unit = ""
        self._throughput = Throughput()

    def read(self, counts: SyncCounts) -> Reading:
        chunks = expected_chunks(counts)
        if chunks is None:
            unit, done, total = "files", counts.files_done, counts.files_total
        else:
            unit, done, total = "chunks", counts.chunks_embedded, chunks
        if unit != self._unit:  # a rate in files says nothing about chunks
            self._unit, self._throughput = unit, Throughput()
        self._throughput.update(done, self._clock())
        estimated = unit == "chunks" and counts.bytes_read < counts.bytes_total
        return Reading(done, total, unit, estimated, self._throughput.remaining_s(done, total))
