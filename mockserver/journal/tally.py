"""Counts over journal rows: requests by route, status and fault, and a latency histogram.

The metrics endpoint reads these at scrape time instead of counting on every request:
the journal already holds each exchange, so the hot path pays nothing for metrics. The
journal is bounded, though, and a Prometheus counter must not shrink when old entries
go; so the journal folds what its bound pushes out into a `Tally` of its own
(`Journal.pushed_out`), in the batches it trims, and a scrape adds the rows it still holds.
Clearing the journal (or resetting the mock) starts the counts again, as a restarted
process would.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any

__all__ = ["LATENCY_BUCKETS", "RequestKey", "Tally"]

#: Upper bounds, in seconds, of the latency histogram's buckets (the last is +Inf).
LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

#: Route, status (`0`: no status line) and fault label (`""`: none).
RequestKey = tuple[str, int, str]

#: Where a stored journal row keeps what is counted (see `journal.Journal.record`).
_ROUTE, _STATUS, _DURATION_MS, _FAULT = 3, 4, 7, 9


class Tally:
    """Requests counted by `RequestKey`, and their durations as a histogram."""

    __slots__ = ("buckets", "count", "requests", "seconds")

    def __init__(self) -> None:
        self.requests: dict[RequestKey, int] = {}
        #: Per bucket of `LATENCY_BUCKETS` and one more for +Inf: not cumulative.
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.count = 0
        self.seconds = 0.0

    def fold(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Count these stored journal rows."""
        requests, buckets = self.requests, self.buckets
        where = bisect.bisect_left
        for row in rows:
            key = (row[_ROUTE], row[_STATUS], row[_FAULT] or "")
            requests[key] = requests.get(key, 0) + 1
            seconds = row[_DURATION_MS] / 1000
            buckets[where(LATENCY_BUCKETS, seconds)] += 1
            self.count += 1
            self.seconds += seconds

    def copy(self) -> Tally:
        copied = Tally()
        copied.requests = dict(self.requests)
        copied.buckets = list(self.buckets)
        copied.count, copied.seconds = self.count, self.seconds
        return copied

    def cumulative(self) -> list[tuple[float, int]]:
        """The histogram as Prometheus shows it: (upper bound, requests at or under it),
        the last bound `inf`."""
        shown: list[tuple[float, int]] = []
        running = 0
        for bound, n in zip((*LATENCY_BUCKETS, float("inf")), self.buckets, strict=True):
            running += n
            shown.append((bound, running))
        return shown
