"""The only source of time in the emulator.

Every status, timestamp, expiry and rate-limit window is derived from a `Clock`, never from
`time.time()` directly, so a test can hold time still, jump it forward by hours, or run a
five-minute task in five seconds without any background thread moving state behind its back.
"""

from __future__ import annotations

import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping

__all__ = ["MAX_TIMESTAMP", "Clock", "ManualClock", "ScaledClock", "SystemClock", "clock_from_name"]


#: 9999-12-31T23:59:59Z. Past it, timestamps stop fitting the provider's formats and float
#: seconds stop resolving milliseconds, so no clock may be moved beyond it.
MAX_TIMESTAMP = 253_402_300_799.0


def _check_reachable(target: float) -> None:
    if not target <= MAX_TIMESTAMP:  # infinity too
        raise ValueError(
            f"a clock cannot go past the year 9999 (Unix {MAX_TIMESTAMP:.0f}); asked for {target!r}"
        )


def _check_settable(timestamp: float, current: float) -> None:
    if not timestamp >= current:  # NaN too
        raise ValueError(
            f"a clock only moves forward; {timestamp!r} is before the current time {current!r}"
        )
    _check_reachable(timestamp)


class Clock(ABC):
    """Unix time in seconds, plus an offset that only ever grows.

    Every clock can be advanced (the admin API and tests need that even against a real-time
    server), but none can go backwards: a task's status is a function of time, and time
    running backwards would make statuses run backwards too.
    """

    kind: str = "abstract"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        #: Told after every move (a state file keeps the clock's position).
        self.on_change: Callable[[Clock], None] | None = None

    @abstractmethod
    def _base(self) -> float:
        """The clock's own reading before the accumulated offset."""

    def now(self) -> float:
        return self._base() + self._offset

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def advance(self, seconds: float) -> float:
        """Move time forward; returns the new reading."""
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"a clock only moves forward; cannot advance by {seconds!r} seconds")
        with self._lock:
            _check_reachable(self.now() + seconds)
            self._offset += seconds
        if self.on_change is not None:
            self.on_change(self)
        return self.now()

    def set(self, timestamp: float) -> float:
        """Jump to an absolute Unix time, which must not be in the clock's past."""
        current = self.now()
        _check_settable(timestamp, current)
        return self.advance(timestamp - current)

    def describe(self) -> dict[str, object]:
        return {"kind": self.kind, "now": self.now(), "offset": self._offset}

    def saved(self) -> dict[str, float]:
        """What a restart needs to read the same time again (a state file keeps it)."""
        return {"offset": self._offset}

    def restore(self, saved: Mapping[str, float]) -> None:
        """Take back a position `saved()` gave, never moving backwards."""
        with self._lock:
            self._offset = max(self._offset, float(saved["offset"]))


class SystemClock(Clock):
    """Wall time: what a standalone server uses by default."""

    kind = "system"

    def _base(self) -> float:
        return time.time()

    def now(self) -> float:  # one call, not two: every request reads the clock
        return time.time() + self._offset


class ScaledClock(Clock):
    """Wall time running `speed` times faster, anchored at construction.

    A black-box client (any language, no admin calls) sees a five-minute task finish in
    five seconds with `speed=60`, while timestamps stay close to the real date.
    """

    kind = "scaled"

    def __init__(self, speed: float) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed!r}")
        super().__init__()
        self.speed = speed
        self._anchor_wall = time.time()
        self._anchor_mono = time.monotonic()

    def _base(self) -> float:
        return self._anchor_wall + (time.monotonic() - self._anchor_mono) * self.speed

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "speed": self.speed}

    def saved(self) -> dict[str, float]:
        return {**super().saved(), "anchor": self._anchor_wall, "speed": self.speed}

    def restore(self, saved: Mapping[str, float]) -> None:
        """Run on from the saved anchor: the time the process was down passed at speed."""
        if saved.get("speed") == self.speed:
            self._anchor_wall = float(saved["anchor"])
            self._anchor_mono = time.monotonic() - (time.time() - self._anchor_wall)
        super().restore(saved)


class ManualClock(Clock):
    """Time that stands still until a test advances it.

    It starts at the current wall time (whole seconds) unless told otherwise, so that
    timestamps and expiry times a client sees look plausible next to its own clock.
    """

    kind = "manual"

    def __init__(self, start: float | None = None) -> None:
        super().__init__()
        self._start = float(int(time.time())) if start is None else float(start)

    def _base(self) -> float:
        return self._start

    def now(self) -> float:
        return self._start + self._offset

    def set(self, timestamp: float) -> float:
        """Exact, unlike base-plus-offset arithmetic: `set(t)` then `now() == t`."""
        with self._lock:
            _check_settable(timestamp, self._start + self._offset)
            self._start, self._offset = timestamp, 0.0
        if self.on_change is not None:
            self.on_change(self)
        return timestamp

    def saved(self) -> dict[str, float]:
        return {"start": self._start, "offset": self._offset}

    def restore(self, saved: Mapping[str, float]) -> None:
        """Stand where the saved clock stood (a new manual clock starts at wall time)."""
        with self._lock:
            self._start, self._offset = float(saved["start"]), float(saved["offset"])

    def sleep(self, seconds: float) -> None:
        """Stand-in for `time.sleep` when a test fast-forwards the code under test."""
        if seconds > 0:
            self.advance(seconds)


def clock_from_name(kind: str, *, speed: float = 1.0, start: float | None = None) -> Clock:
    """Build a clock from configuration words (`system`, `manual`, `scaled`)."""
    if kind == "manual":
        return ManualClock(start)
    if kind == "system":
        return ScaledClock(speed) if speed != 1.0 else SystemClock()
    if kind == "scaled":
        return ScaledClock(speed)
    raise ValueError(f"unknown clock kind {kind!r}: expected 'system', 'scaled' or 'manual'")
