"""The clock: the only source of time, and it only ever moves forward."""

from __future__ import annotations

import math
import sys
import threading
import time
from types import SimpleNamespace

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from vidu_lipsync_mock.service import clock as clock_module
from vidu_lipsync_mock.service.clock import (
    Clock,
    ManualClock,
    ScaledClock,
    SystemClock,
    clock_from_name,
)

START = 1_700_000_000.0


class FakeTime:
    """Stands in for the `time` module inside `vidu_lipsync_mock.service.clock`; moves only when told."""

    def __init__(self, wall: float = START, mono: float = 5_000.0) -> None:
        self.wall = wall
        self.mono = mono

    def pass_seconds(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds

    def namespace(self) -> SimpleNamespace:
        return SimpleNamespace(time=lambda: self.wall, monotonic=lambda: self.mono)


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(clock_module, "time", fake.namespace())
    return fake


KINDS = pytest.mark.parametrize(
    "make",
    [lambda: ManualClock(START), SystemClock, lambda: ScaledClock(1.0), lambda: ScaledClock(60.0)],
    ids=["manual", "system", "scaled-1", "scaled-60"],
)


# --- ManualClock -----------------------------------------------------------------------


def test_manual_clock_stands_still_until_advanced(fake_time: FakeTime) -> None:
    clock = ManualClock(START)
    fake_time.pass_seconds(3_600)
    assert clock.now() == START
    assert clock.now() == START


def test_manual_clock_starts_at_whole_wall_seconds_by_default(fake_time: FakeTime) -> None:
    fake_time.wall = START + 0.75
    assert ManualClock().now() == START


def test_manual_clock_advance_returns_and_keeps_the_new_time() -> None:
    clock = ManualClock(START)
    assert clock.advance(1.5) == START + 1.5
    assert clock.advance(0) == START + 1.5
    assert clock.now() == START + 1.5
    assert clock.now_ms() == int(START * 1000) + 1500


def test_manual_clock_set_jumps_to_an_absolute_time() -> None:
    clock = ManualClock(START)
    assert clock.set(START + 86_400) == START + 86_400
    assert clock.now() == START + 86_400
    assert clock.set(START + 86_400) == START + 86_400  # setting "now" is allowed


def test_sleep_advances_a_manual_clock_and_ignores_non_positive_values() -> None:
    clock = ManualClock(START)
    clock.sleep(2.5)
    clock.sleep(0)
    clock.sleep(-10)
    assert clock.now() == START + 2.5


def test_now_ms_is_milliseconds_truncated() -> None:
    clock = ManualClock(10.0)
    clock.advance(0.0019)
    assert clock.now_ms() == 10_001


# --- only forward ----------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [-1.0, -1e-9, math.nan, -math.inf])
@KINDS
def test_advance_refuses_to_go_backwards_or_by_nan(make, seconds: float) -> None:
    clock: Clock = make()
    before_offset = clock.describe()["offset"]
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(seconds)
    assert clock.describe()["offset"] == before_offset


def test_advance_refuses_infinity() -> None:
    # A clock at +inf cannot be read in milliseconds (int(inf) raises OverflowError) and
    # every task would expire at once: an infinite step is as invalid as a NaN one.
    clock = ManualClock(START)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(math.inf)
    assert clock.now_ms() == int(START) * 1000


def test_set_refuses_a_time_in_the_past() -> None:
    clock = ManualClock(START)
    clock.advance(10)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.set(START + 9.999)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.set(math.nan)
    assert clock.now() == START + 10


@settings(max_examples=300, deadline=None)
@example(start=START, before=1.192092896e-07, step=1.0)  # lands one ulp short
@given(
    start=st.floats(0, 2e9, allow_nan=False),
    before=st.floats(0, 1e5, allow_nan=False),
    step=st.floats(0, 1e5, allow_nan=False),
)
def test_set_reaches_the_requested_time(start: float, before: float, step: float) -> None:
    """After `set(t)` the clock reads at least `t`: anything scheduled at `t` has happened.

    (`run_until_terminal` and admin "advance to" rely on this; landing one float ulp short
    of `t` leaves a task one ulp short of finishing.)
    """
    clock = ManualClock(start)
    clock.advance(before)
    target = clock.now() + step
    clock.set(target)
    assert target <= clock.now() <= target + 1e-6


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(st.floats(0, 1e6, allow_nan=False), max_size=20))
def test_manual_time_is_monotonic_and_sums_the_steps(steps: list[float]) -> None:
    clock = ManualClock(0.0)
    previous = clock.now()
    for step in steps:
        now = clock.advance(step)
        assert now >= previous
        previous = now
    assert clock.now() == pytest.approx(math.fsum(steps), rel=1e-9, abs=1e-9)


# --- every kind can be advanced ----------------------------------------------------------


@KINDS
def test_advance_moves_every_kind_of_clock_by_exactly_the_step(fake_time: FakeTime, make) -> None:
    clock = make()
    before = clock.now()
    assert clock.advance(3_600) == before + 3_600
    assert clock.now() == before + 3_600
    assert clock.describe()["offset"] == 3_600
    assert clock.describe()["kind"] == clock.kind


# --- SystemClock and ScaledClock -------------------------------------------------------------


def test_system_clock_reads_wall_time(fake_time: FakeTime) -> None:
    clock = SystemClock()
    assert clock.now() == START
    fake_time.pass_seconds(2.5)
    assert clock.now() == START + 2.5


def test_system_clock_is_close_to_the_real_wall_time() -> None:
    before = time.time()
    reading = SystemClock().now()
    after = time.time()
    assert before <= reading <= after


def test_scaled_clock_runs_speed_times_faster_from_the_wall_time(fake_time: FakeTime) -> None:
    clock = ScaledClock(60.0)
    assert clock.now() == START
    fake_time.pass_seconds(5)
    assert clock.now() == START + 300
    clock.advance(10)
    fake_time.pass_seconds(1)
    assert clock.now() == START + 360 + 10
    assert clock.describe()["speed"] == 60.0


def test_scaled_clock_follows_monotonic_time_not_wall_jumps(fake_time: FakeTime) -> None:
    clock = ScaledClock(2.0)
    fake_time.wall -= 3_600  # the system clock is stepped back by NTP
    fake_time.mono += 1
    assert clock.now() == START + 2


@pytest.mark.parametrize("speed", [0.0, -1.0, math.nan])
def test_scaled_clock_needs_a_positive_speed(speed: float) -> None:
    with pytest.raises(ValueError, match="speed must be positive"):
        ScaledClock(speed)


# --- clock_from_name ----------------------------------------------------------------------


def test_clock_from_name_builds_each_kind() -> None:
    assert type(clock_from_name("manual", start=12.0)) is ManualClock
    assert clock_from_name("manual", start=12.0).now() == 12.0
    assert type(clock_from_name("system")) is SystemClock
    scaled = clock_from_name("system", speed=10.0)
    assert isinstance(scaled, ScaledClock)
    assert scaled.speed == 10.0
    assert isinstance(clock_from_name("scaled", speed=3.0), ScaledClock)


def test_clock_from_name_rejects_unknown_words() -> None:
    with pytest.raises(ValueError, match="unknown clock kind 'wall'"):
        clock_from_name("wall")


# --- threads ---------------------------------------------------------------------------------


@pytest.fixture
def eager_thread_switching():
    """Switch threads every microsecond so a read-modify-write race shows up reliably."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


@pytest.mark.usefixtures("eager_thread_switching")
def test_concurrent_advances_are_never_lost() -> None:
    threads_count, advances, step = 8, 10_000, 0.25
    clock = ManualClock(0.0)
    barrier = threading.Barrier(threads_count)

    def work() -> None:
        barrier.wait()
        for _ in range(advances):
            clock.advance(step)

    threads = [threading.Thread(target=work) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert clock.now() == threads_count * advances * step
