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
import operator
from collections import Counter
from collections.abc import Sequence
from typing import Any

__all__ = ["LATENCY_BUCKETS", "RequestKey", "Tally"]

#: Upper bounds, in seconds, of the latency histogram's buckets (the last is +Inf).
LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

#: Route, status (`0`: no status line) and fault label (None: none).
RequestKey = tuple[str, int, str | None]

#: What a stored journal row holds that is counted (see `journal.Journal.record`).
_KEY = operator.itemgetter(3, 4, 9)
_DURATION_MS = operator.itemgetter(7)
_BOUNDS_MS = tuple(bound * 1000 for bound in LATENCY_BUCKETS)


class Tally:
    """Requests counted by `RequestKey`, and their durations as a histogram.

    Folding runs where the journal trims, once per row it pushes out, so it is written to
    stay in C: the keys counted by `Counter.update`, the durations sorted once and cut at
    the buckets' bounds."""

    __slots__ = ("buckets", "count", "requests", "seconds")

    def __init__(self) -> None:
        self.requests: Counter[RequestKey] = Counter()
        #: Per bucket of `LATENCY_BUCKETS` and one more for +Inf: not cumulative.
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.count = 0
        self.seconds = 0.0

    def fold(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Count these stored journal rows."""
        if not rows:
            return
        self.requests.update(map(_KEY, rows))
        durations = sorted(map(_DURATION_MS, rows))
        below = 0
        buckets = self.buckets
        for index, bound in enumerate(_BOUNDS_MS):
            upto = bisect.bisect_right(durations, bound)  # at or under the bound
            buckets[index] += upto - below
            below = upto
        buckets[-1] += len(durations) - below
        self.count += len(durations)
        self.seconds += sum(durations) / 1000

    def copy(self) -> Tally:
        copied = Tally()
        copied.requests = Counter(self.requests)
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
