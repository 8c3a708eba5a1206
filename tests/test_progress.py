"""The progress estimate (scribe.progress): pure, so times are given, never waited for."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from scribe.progress import IndexMeter, Throughput, expected_chunks, format_remaining


@dataclass(frozen=True)
class Counts:
    files_total: int = 10
    files_done: int = 0
    chunks_embedded: int = 0
    chunks_found: int = 0
    bytes_read: int = 0
    bytes_total: int = 1000


def test_no_estimate_until_enough_time_is_measured() -> None:
    rate = Throughput(min_span_s=2.0)
    rate.update(0, now=0.0)
    assert rate.remaining_s(0, 100) is None
    rate.update(10, now=30.0)  # the first unit starts the clock: 30 s of start-up are not throughput
    rate.update(20, now=31.0)
    assert rate.remaining_s(20, 100) is None  # 1 s measured is noise
    rate.update(30, now=32.0)
    assert rate.remaining_s(30, 100) == pytest.approx(7.0)  # 10 a second, 70 to go


def test_the_rate_follows_recent_throughput() -> None:
    rate = Throughput(half_life_s=5.0, min_span_s=1.0)
    done = 0
    for second in range(60):  # a minute at 10 a second
        rate.update(done, now=float(second))
        done += 10
    for second in range(60, 100):  # then the machine slows to 2 a second
        rate.update(done, now=float(second))
        done += 2
    assert rate.rate() == pytest.approx(2.0, rel=0.1)


def test_uneven_batches_average_by_time() -> None:
    rate = Throughput(min_span_s=1.0)
    now, done = 0.0, 0
    rate.update(done, now)
    for _ in range(20):  # 16 chunks in 1 s, then 4 chunks in 1 s: 10 a second overall
        now, done = now + 1.0, done + 16
        rate.update(done, now)
        now, done = now + 1.0, done + 4
        rate.update(done, now)
    assert rate.rate() == pytest.approx(10.0, rel=0.15)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.2, "1s left"), (44.1, "45s left"), (130, "2m 10s left"), (122, "2m left"), (3 * 3600 + 310, "3h 5m left"), (7190, "2h left")],
)
def test_format_remaining(seconds: float, text: str) -> None:
    assert format_remaining(seconds) == text


def test_expected_chunks_scales_by_bytes_until_every_file_is_read() -> None:
    assert expected_chunks(Counts(chunks_found=0, bytes_read=200)) is None
    assert expected_chunks(Counts(chunks_found=30, bytes_read=250)) == 120
    assert expected_chunks(Counts(chunks_found=97, bytes_read=1000)) == 97
    assert expected_chunks(Counts(chunks_found=0, bytes_read=0, bytes_total=0)) == 0  # nothing changed


def test_the_meter_counts_files_until_chunks_are_known_then_chunks() -> None:
    clock = iter(float(t) for t in range(100))
    meter = IndexMeter(clock=lambda: next(clock))
    first = meter.read(Counts(files_done=2))
    assert (first.count, first.left) == ("2/10 files", "")
    reading = meter.read(Counts(files_done=2, chunks_embedded=16, chunks_found=30, bytes_read=250))
    assert (reading.unit, reading.count) == ("chunks", "16/~120 chunks")
    for n in range(2, 5):  # a second per 16 chunks; the last file is read at n=4
        reading = meter.read(Counts(files_done=n, chunks_embedded=16 * n, chunks_found=30 * n, bytes_read=250 * n))
    assert reading.count == "64/120 chunks" and not reading.estimated
    assert reading.remaining_s == pytest.approx(3.5)  # 16 a second, 56 to go
    assert reading.left == "4s left"
