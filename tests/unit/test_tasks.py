"""Task lifecycle, progression policies and the thread-safe, bounded task store."""

from __future__ import annotations

import gc
import itertools
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidu_lipsync_mock.config import MockConfig
from vidu_lipsync_mock.service.clock import ManualClock
from vidu_lipsync_mock.service.errors import ApiError
from vidu_lipsync_mock.service.store import TaskStore
from vidu_lipsync_mock.service.tasks import (
    ByClock,
    ByPolls,
    Manual,
    Outcome,
    Progression,
    TaskSnapshot,
    TaskStatus,
    TransitionError,
    progression_from_name,
)
from vidu_lipsync_mock.state import MockState

T0 = 1_700_000_000.0
PENDING, PROCESSING, SUCCESS, FAILED = (
    TaskStatus.PENDING,
    TaskStatus.PROCESSING,
    TaskStatus.SUCCESS,
    TaskStatus.FAILED,
)


def add(
    store: TaskStore,
    task_id: str = "task-1",
    *,
    at: float = T0,
    progression: Progression | None = None,
    retention: float = 86_400.0,
    outcome: Outcome | None = None,
    result_fault: object = None,
) -> TaskSnapshot:
    """Submit a task to the store at `at`, as `MockState.submit` does."""
    return store.create(
        task_id,
        "vidu/lip-sync",
        "mdlx-key",
        {"video_url": "https://example.com/v.mp4"},
        at,
        progression or ByClock(1.0, 2.0),
        retention,
        outcome=outcome or Outcome(),
        result_fault=result_fault,
    )


def stored(task_id: str = "task-1", **task_options) -> TaskStore:
    store = TaskStore()
    add(store, task_id, **task_options)
    return store


def look(store: TaskStore, task_id: str, now: float):
    snapshot = store.observe(task_id, now, poll=False)
    assert snapshot is not None
    return snapshot


def kept(store: TaskStore, *candidates: str) -> list[str]:
    """Which of these ids the store still holds (membership only: no refresh, no sweep)."""
    return sorted(task_id for task_id in candidates if task_id in store)


def poll(store: TaskStore, task_id: str, now: float):
    snapshot = store.observe(task_id, now, poll=True)
    assert snapshot is not None
    return snapshot


# --- ByClock -----------------------------------------------------------------------------


def test_by_clock_moves_at_exactly_the_configured_times() -> None:
    store = stored(progression=ByClock(1.0, 2.0))
    assert look(store, "task-1", T0).status is PENDING
    assert look(store, "task-1", T0 + 0.999).status is PENDING
    at_start = look(store, "task-1", T0 + 1.0)  # the boundary belongs to the next status
    assert at_start.status is PROCESSING
    assert at_start.started_at == T0 + 1.0
    assert at_start.finished_at is None
    assert look(store, "task-1", T0 + 2.999).status is PROCESSING
    done = look(store, "task-1", T0 + 3.0)
    assert done.status is SUCCESS
    assert (done.started_at, done.finished_at) == (T0 + 1.0, T0 + 3.0)
    assert done.duration_ms == 3_000
    assert done.error_message is None


def test_by_clock_end_time_is_the_scheduled_time_even_when_first_seen_much_later() -> None:
    store = stored(progression=ByClock(1.0, 2.0))
    first = look(store, "task-1", T0 + 5_000)
    later = look(store, "task-1", T0 + 9_000)
    for snapshot in (first, later):
        assert snapshot.status is SUCCESS
        assert snapshot.started_at == T0 + 1.0
        assert snapshot.finished_at == T0 + 3.0
        assert snapshot.duration_ms == 3_000


def test_zero_timings_finish_on_the_first_look() -> None:
    store = stored(progression=ByClock(0.0, 0.0))
    snapshot = look(store, "task-1", T0)
    assert snapshot.status is SUCCESS
    assert snapshot.finished_at == T0


def test_scheduled_end_is_announced_while_unfinished_only() -> None:
    store = stored(progression=ByClock(1.0, 2.0))
    assert look(store, "task-1", T0).scheduled_end == T0 + 3.0
    assert look(store, "task-1", T0 + 3.0).scheduled_end is None
    manual = stored(progression=Manual())
    assert look(manual, "task-1", T0).scheduled_end is None


def test_an_infinite_processing_time_never_ends() -> None:
    store = stored(progression=ByClock(0.0, float("inf")), retention=1e12)
    snapshot = look(store, "task-1", T0 + 1e9)
    assert snapshot.status is PROCESSING
    assert snapshot.scheduled_end is None


@pytest.mark.parametrize(("pending", "processing"), [(-1.0, 1.0), (1.0, -0.5)])
def test_by_clock_rejects_negative_timings(pending: float, processing: float) -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        ByClock(pending, processing)


# --- ByPolls -------------------------------------------------------------------------------


def test_by_polls_processing_on_the_second_poll_success_on_the_fourth() -> None:
    store = stored(progression=ByPolls(2, 4))
    seen = [poll(store, "task-1", T0).status for _ in range(5)]
    assert seen == [PENDING, PROCESSING, PROCESSING, SUCCESS, SUCCESS]
    assert look(store, "task-1", T0).polls == 5


def test_by_polls_ignores_time_and_looks_that_are_not_polls() -> None:
    store = stored(progression=ByPolls(2, 4))
    for _ in range(10):
        assert look(store, "task-1", T0 + 80_000).status is PENDING
    assert poll(store, "task-1", T0 + 80_000).status is PENDING
    second = poll(store, "task-1", T0 + 80_001)
    assert second.status is PROCESSING
    assert second.started_at == T0 + 80_001
    poll(store, "task-1", T0 + 80_002)
    fourth = poll(store, "task-1", T0 + 80_003)
    assert fourth.status is SUCCESS
    assert fourth.finished_at == T0 + 80_003


def test_by_polls_can_finish_on_the_first_poll() -> None:
    store = stored(progression=ByPolls(1, 1))
    snapshot = poll(store, "task-1", T0)
    assert snapshot.status is SUCCESS
    assert snapshot.started_at == snapshot.finished_at == T0


@pytest.mark.parametrize(("processing_on", "terminal_on"), [(0, 4), (3, 2)])
def test_by_polls_rejects_impossible_counts(processing_on: int, terminal_on: int) -> None:
    with pytest.raises(ValueError, match="processing_on"):
        ByPolls(processing_on, terminal_on)


# --- Manual and forcing --------------------------------------------------------------------


def test_manual_stays_pending_until_forced() -> None:
    store = stored(progression=Manual())
    for i in range(6):
        assert poll(store, "task-1", T0 + i * 10_000).status is PENDING
    forced = store.force("task-1", PROCESSING, T0 + 60_001)
    assert forced is not None
    assert forced.status is PROCESSING
    assert forced.started_at == T0 + 60_001
    assert look(store, "task-1", T0 + 70_000).status is PROCESSING
    done = store.force("task-1", SUCCESS, T0 + 70_001)
    assert done is not None
    assert (done.status, done.finished_at) == (SUCCESS, T0 + 70_001)


def test_force_straight_to_success_sets_start_and_end_to_now() -> None:
    store = stored(progression=Manual())
    snapshot = store.force("task-1", SUCCESS, T0 + 7)
    assert snapshot is not None
    assert snapshot.status is SUCCESS
    assert snapshot.started_at == snapshot.finished_at == T0 + 7
    assert snapshot.error_message is None


def test_forced_failure_carries_the_given_message() -> None:
    store = stored(progression=Manual())
    snapshot = store.force("task-1", FAILED, T0 + 1, "Task failed: no face found")
    assert snapshot is not None
    assert snapshot.status is FAILED
    assert snapshot.error_message == "Task failed: no face found"
    assert snapshot.result_expires_at is None


def test_forced_failure_without_a_message_gets_a_default_one() -> None:
    store = stored(progression=Manual())
    snapshot = store.force("task-1", FAILED, T0 + 1)
    assert snapshot is not None
    assert snapshot.error_message == "Task failed: the model could not process the input"


def test_forcing_processing_keeps_the_clock_schedule_for_the_end() -> None:
    store = stored(progression=ByClock(10.0, 5.0))
    store.force("task-1", PROCESSING, T0 + 2)
    assert look(store, "task-1", T0 + 14.9).status is PROCESSING
    done = look(store, "task-1", T0 + 15)
    assert (done.status, done.started_at, done.finished_at) == (SUCCESS, T0 + 2, T0 + 15)


@pytest.mark.parametrize(
    ("reach", "target"),
    [
        (PENDING, PENDING),
        (PROCESSING, PENDING),
        (PROCESSING, PROCESSING),
        (SUCCESS, PENDING),
        (SUCCESS, PROCESSING),
        (SUCCESS, SUCCESS),
        (SUCCESS, FAILED),
        (FAILED, SUCCESS),
        (FAILED, FAILED),
    ],
)
def test_forcing_backwards_sideways_or_after_the_end_is_refused(
    reach: TaskStatus, target: TaskStatus
) -> None:
    store = stored(progression=Manual())
    if reach is not PENDING:
        store.force("task-1", reach, T0 + 1)
    before = look(store, "task-1", T0 + 2)
    with pytest.raises(TransitionError):
        store.force("task-1", target, T0 + 2)
    after = look(store, "task-1", T0 + 2)
    assert (after.status, after.finished_at) == (before.status, before.finished_at)


def test_forcing_an_unknown_task_answers_none() -> None:
    store = TaskStore()
    assert store.force("task-nope", SUCCESS, T0) is None


# --- outcomes ------------------------------------------------------------------------------


def test_a_failed_outcome_ends_failed_with_its_message() -> None:
    outcome = Outcome(FAILED, "Task failed: audio is silent")
    store = stored(progression=ByClock(1.0, 2.0), outcome=outcome)
    running = look(store, "task-1", T0 + 1)
    assert running.status is PROCESSING
    assert running.error_message is None  # not revealed before the task ends
    ended = look(store, "task-1", T0 + 3)
    assert ended.status is FAILED
    assert ended.error_message == "Task failed: audio is silent"
    assert ended.finished_at == T0 + 3


@pytest.mark.parametrize("status", [PENDING, PROCESSING])
def test_an_outcome_must_be_terminal(status: TaskStatus) -> None:
    with pytest.raises(ValueError, match="must be terminal"):
        Outcome(status)


def test_status_rank_orders_the_lifecycle() -> None:
    assert [s.rank for s in (PENDING, PROCESSING, SUCCESS, FAILED)] == [0, 1, 2, 2]
    assert [s.terminal for s in (PENDING, PROCESSING, SUCCESS, FAILED)] == [
        False,
        False,
        True,
        True,
    ]


# --- status never moves backwards ----------------------------------------------------------

progressions = st.one_of(
    st.builds(ByClock, st.floats(0, 50), st.floats(0, 50)),
    st.integers(1, 5).flatmap(lambda p: st.builds(ByPolls, st.just(p), st.integers(p, 8))),
    st.just(Manual()),
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.floats(0, 30)),
        st.tuples(st.just("poll"), st.none()),
        st.tuples(st.just("look"), st.none()),
        st.tuples(st.just("force"), st.sampled_from([PENDING, PROCESSING, SUCCESS, FAILED])),
        st.tuples(st.just("progression"), progressions),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(initial=progressions, ops=operations)
def test_status_never_moves_backwards(initial: Progression, ops: list) -> None:
    now = T0
    store = stored(progression=initial, retention=1e9)
    seen = [look(store, "task-1", now)]
    for kind, argument in ops:
        if kind == "advance":
            now += argument
            continue
        try:
            if kind == "poll":
                snapshot = poll(store, "task-1", now)
            elif kind == "look":
                snapshot = look(store, "task-1", now)
            elif kind == "force":
                snapshot = store.force("task-1", argument, now)
            else:
                snapshot = store.set_progression("task-1", argument, now)
        except TransitionError:
            snapshot = look(store, "task-1", now)
        assert snapshot is not None
        seen.append(snapshot)
    for before, after in itertools.pairwise(seen):
        assert after.status.rank >= before.status.rank
        if before.status.terminal:
            assert after.status is before.status
            assert after.finished_at == before.finished_at
        if before.started_at is not None:
            assert after.started_at == before.started_at
    for snapshot in seen:
        if snapshot.finished_at is not None:
            assert snapshot.started_at is not None
            assert snapshot.submitted_at <= snapshot.started_at <= snapshot.finished_at


# --- set_progression ---------------------------------------------------------------------------


def test_set_progression_counts_the_new_timings_from_now() -> None:
    store = stored(progression=ByClock(100.0, 100.0))
    snapshot = store.set_progression("task-1", ByClock(1.0, 2.0), T0 + 50)
    assert snapshot is not None
    assert snapshot.status is PENDING
    assert snapshot.scheduled_end == T0 + 53
    assert look(store, "task-1", T0 + 50.5).status is PENDING
    assert look(store, "task-1", T0 + 51).status is PROCESSING
    done = look(store, "task-1", T0 + 53)
    assert (done.status, done.started_at, done.finished_at) == (SUCCESS, T0 + 51, T0 + 53)


def test_set_progression_counts_polls_from_now() -> None:
    store = stored(progression=Manual())
    for _ in range(5):
        poll(store, "task-1", T0)
    store.set_progression("task-1", ByPolls(2, 3), T0)
    assert poll(store, "task-1", T0).status is PENDING
    assert poll(store, "task-1", T0).status is PROCESSING
    third = poll(store, "task-1", T0)
    assert third.status is SUCCESS
    assert third.polls == 8  # the total is still every poll the client made


def test_set_progression_that_is_already_due_applies_at_once() -> None:
    store = stored(progression=Manual())
    snapshot = store.set_progression("task-1", ByClock(0.0, 0.0), T0 + 9)
    assert snapshot is not None
    assert (snapshot.status, snapshot.finished_at) == (SUCCESS, T0 + 9)


def test_set_progression_on_a_finished_task_is_refused() -> None:
    store = stored(progression=ByClock(0.0, 0.0))
    with pytest.raises(TransitionError, match="already ended"):
        store.set_progression("task-1", ByClock(5.0, 5.0), T0 + 1)


def test_progression_from_name() -> None:
    assert progression_from_name("clock", pending_seconds=3, processing_seconds=4) == ByClock(3, 4)
    assert progression_from_name("polls", processing_on=1, terminal_on=2) == ByPolls(1, 2)
    assert progression_from_name("manual") == Manual()
    assert progression_from_name("clock").describe() == {
        "kind": "clock",
        "pending_seconds": 1.0,
        "processing_seconds": 2.0,
    }
    with pytest.raises(ValueError, match="takes no options"):
        progression_from_name("manual", after=3)
    with pytest.raises(ValueError, match="unknown progression 'instant'"):
        progression_from_name("instant")


# --- retention ---------------------------------------------------------------------------------


def manual_state(**settings) -> tuple[MockState, ManualClock]:
    clock = ManualClock(T0)
    config = MockConfig.build({"clock": "manual", **settings})
    return MockState(config, clock=clock), clock


def test_a_finished_task_disappears_exactly_retention_after_it_ended() -> None:
    state, clock = manual_state(pending_seconds=1.0, processing_seconds=2.0, retention_seconds=100)
    task_id = state.submit("vidu/lip-sync", {"video_url": "https://x/v.mp4"}, "k").task_id
    clock.advance(3)
    snapshot = state.poll(task_id)
    assert snapshot.status is SUCCESS
    assert snapshot.expires_at == T0 + 103
    assert snapshot.result_expires_at == T0 + 103
    clock.advance(99.5)
    assert state.poll(task_id).status is SUCCESS
    clock.advance(0.5)
    with pytest.raises(ApiError) as caught:
        state.poll(task_id)
    assert caught.value.status == 404
    assert caught.value.message == (
        f"Resource not found: task '{task_id}' does not exist or has expired"
    )
    assert task_id not in state.store


def test_expiry_counts_from_the_scheduled_end_not_from_the_first_look() -> None:
    state, clock = manual_state(pending_seconds=1.0, processing_seconds=2.0, retention_seconds=100)
    task_id = state.submit("vidu/lip-sync", {"video_url": "https://x/v.mp4"}, "k").task_id
    clock.advance(103)  # nobody looked while it ran; it ended at T0 + 3
    with pytest.raises(ApiError) as caught:
        state.poll(task_id)
    assert caught.value.status == 404


def test_a_task_that_never_finishes_disappears_retention_after_submit() -> None:
    state, clock = manual_state(progression="manual", retention_seconds=100)
    task_id = state.submit("vidu/lip-sync", {"video_url": "https://x/v.mp4"}, "k").task_id
    clock.advance(99)
    assert state.poll(task_id).status is PENDING
    clock.advance(1)
    with pytest.raises(ApiError) as caught:
        state.task(task_id)
    assert caught.value.status == 404


def test_a_forced_end_restarts_the_retention_period() -> None:
    state, clock = manual_state(progression="manual", retention_seconds=100)
    task_id = state.submit("vidu/lip-sync", {"video_url": "https://x/v.mp4"}, "k").task_id
    clock.advance(90)
    state.force(task_id, "success")
    clock.advance(99)
    assert state.poll(task_id).status is SUCCESS
    clock.advance(1)
    with pytest.raises(ApiError):
        state.poll(task_id)


# --- the store's bound and sweeps ---------------------------------------------------------------


def test_a_full_store_evicts_the_oldest_finished_task_first() -> None:
    store = TaskStore(max_tasks=3)
    add(store, "a", progression=Manual())
    add(store, "b", at=T0 + 1, progression=ByClock(0.0, 0.0))  # finished
    add(store, "c", at=T0 + 2, progression=ByClock(0.0, 0.0))  # finished
    add(store, "d", at=T0 + 3, progression=Manual())
    assert kept(store, *"abcd") == ["a", "c", "d"]
    add(store, "e", at=T0 + 4, progression=Manual())
    assert kept(store, *"abcde") == ["a", "d", "e"]
    # no finished task left: the oldest unfinished one makes room
    add(store, "f", at=T0 + 5, progression=Manual())
    assert kept(store, *"abcdef") == ["d", "e", "f"]
    assert store.evicted_for_space == 3
    assert store.evicted_expired == 0


def test_a_full_store_drops_expired_records_before_evicting_live_ones() -> None:
    store = TaskStore(max_tasks=2)
    add(store, "old", at=T0, progression=Manual(), retention=10)
    add(store, "live", at=T0, progression=ByClock(0.0, 0.0))
    add(store, "new", at=T0 + 20, progression=Manual())
    assert kept(store, "old", "live", "new") == ["live", "new"]
    assert (store.evicted_expired, store.evicted_for_space) == (1, 0)


@settings(max_examples=50, deadline=None)
@given(
    max_tasks=st.integers(1, 6),
    finishes=st.lists(st.booleans(), min_size=1, max_size=30),
)
def test_the_store_never_holds_more_than_max_tasks(max_tasks: int, finishes: list[bool]) -> None:
    store = TaskStore(max_tasks=max_tasks)
    for i, finished in enumerate(finishes):
        progression = ByClock(0.0, 0.0) if finished else Manual()
        snapshot = add(store, f"t{i}", at=T0 + i, progression=progression)
        assert snapshot.task_id == f"t{i}"
        assert f"t{i}" in store  # the newest task is always kept
        assert len(store) <= max_tasks
    assert len(store) == min(max_tasks, len(finishes))
    assert store.evicted_for_space == len(finishes) - len(store)


def test_sweep_drops_expired_records_and_counts_them() -> None:
    store = TaskStore()
    add(store, "a", progression=ByClock(0.0, 0.0), retention=10)
    add(store, "b", progression=Manual(), retention=10)
    add(store, "c", progression=Manual(), retention=50)
    assert store.sweep(T0 + 9.9) == 0
    assert store.sweep(T0 + 10) == 2
    assert kept(store, *"abc") == ["c"]
    assert store.sweep(T0 + 10) == 0
    assert store.sweep(T0 + 50) == 1
    assert len(store) == 0
    assert store.evicted_expired == 3


def test_adding_drops_what_has_expired_by_then() -> None:
    store = TaskStore()
    add(store, "a", progression=Manual(), retention=10)
    add(store, "done", progression=ByClock(0.0, 5.0), retention=10)
    add(store, "b", at=T0 + 9, progression=Manual())
    assert kept(store, "a", "done", "b") == ["a", "b", "done"]
    add(store, "c", at=T0 + 10, progression=Manual())
    # "a" never finished: kept 10 s from its submit. "done" finished at +5: kept until +15.
    assert kept(store, "a", "done", "b", "c") == ["b", "c", "done"]
    add(store, "d", at=T0 + 15, progression=Manual())
    assert kept(store, "done", "b", "c", "d") == ["b", "c", "d"]
    assert store.evicted_expired == 2


def test_snapshots_leave_out_expired_tasks() -> None:
    store = TaskStore()
    add(store, "a", progression=Manual(), retention=10)
    add(store, "b", progression=Manual(), retention=100)
    assert [s.task_id for s in store.snapshots(T0 + 10)] == ["b"]


def test_stored_tasks_are_out_of_the_garbage_collectors_way() -> None:
    """A store of 200,000 tasks must not turn every full collection into a long pause:
    after two collections, no task record (finished, unfinished, polled, forced, faulted or
    with a policy of the user's) is tracked by the collector any more."""

    class OwnPolicy(Manual):
        __hash__ = None  # type: ignore[assignment]  # unhashable: kept beside the record

    store = TaskStore()
    policies = [ByClock(0.0, 0.0), ByClock(5.0, 5.0), ByPolls(1, 2), Manual(), OwnPolicy()]
    for i in range(50):
        fault = object() if i % 7 == 0 else None
        add(store, f"t{i}", progression=policies[i % len(policies)], result_fault=fault)
    for i in range(5):  # as a submit writes them
        store.create(
            f"c{i}", "vidu/lip-sync", "mdlx-key", {"video_url": "x"}, T0, policies[i], 99.0
        )
    for i in range(0, 50, 3):
        store.observe(f"t{i}", T0 + 20, poll=True)
    store.force("t3", FAILED, T0 + 21, "Task failed: no face found")
    # A record holds its parameters inline, no tuple of its own: the first collection
    # that sees it lets go of it (a record holding a tuple was often seen before its
    # tuple, stayed tracked, and one in ten reached the old generation that way).
    gc.collect()
    records = list(store._records.values())
    assert len(records) == 55
    assert not [r[0] for r in records if gc.is_tracked(r)]
    assert not [p for p in store._params.values() if gc.is_tracked(p)]


def test_policies_past_the_interning_limit_are_kept_per_task() -> None:
    """Past `POLICY_LIMIT` distinct policies, and for a policy that cannot be hashed, each
    task keeps its own: every task still follows and reports its policy, and a task moved
    to an interned policy lets go of its own."""

    class OwnPolicy(Manual):
        __hash__ = None  # type: ignore[assignment]

    store = TaskStore()
    store.POLICY_LIMIT = 2
    timings = [ByClock(float(i), 1.0) for i in range(4)]
    for i, progression in enumerate([*timings, OwnPolicy()]):
        add(store, f"t{i}", progression=progression)
    assert len(store._policies) == 2
    assert set(store._own_policies) == {"t2", "t3", "t4"}
    for i, progression in enumerate(timings):
        snapshot = look(store, f"t{i}", T0 + i + 0.5)
        assert snapshot.progression == progression.describe()
        assert snapshot.status is PROCESSING
        assert snapshot.scheduled_end == T0 + i + 1.0
    assert look(store, "t4", T0 + 99).status is PENDING
    store.set_progression("t3", timings[0], T0 + 3.5)
    assert set(store._own_policies) == {"t2", "t4"}
    assert look(store, "t3", T0 + 3.5).progression == timings[0].describe()


def test_a_store_that_never_fills_keeps_its_bookkeeping_bounded() -> None:
    store = TaskStore(max_tasks=1_000_000)
    for i in range(6_000):
        add(store, f"t{i}", at=T0 + i, progression=ByClock(0.0, 0.0), retention=10)
    assert len(store) <= 11
    assert len(store._order) <= 2 * len(store) + 1024
    assert len(store._ended) <= 2 * len(store) + 1024
    assert len(store._expiry) <= 2 * len(store) + 2
    assert len(store._endings) <= 2 * len(store) + 1024


def test_a_duplicate_task_id_is_refused() -> None:
    store = TaskStore()
    add(store, "a")
    with pytest.raises(ValueError, match="duplicate task id a"):
        add(store, "a")


def test_max_tasks_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_tasks"):
        TaskStore(max_tasks=0)


def test_clear_forgets_every_task() -> None:
    store = stored("a")
    store.clear()
    assert len(store) == 0
    assert store.observe("a", T0, poll=True) is None


def test_every_operation_hands_out_the_same_snapshot_of_a_task() -> None:
    """Snapshots are made in one place, from the record: submitting, looking, forcing and
    listing cannot disagree about a task."""
    store = TaskStore()
    created = add(store, "a", progression=ByClock(10.0, 10.0), result_fault="broken")
    assert created.scheduled_end == T0 + 20
    assert look(store, "a", T0) == created
    started = look(store, "a", T0 + 10)
    assert started == created._replace(status=PROCESSING, started_at=T0 + 10)
    forced = store.force("a", FAILED, T0 + 15, "Task failed: x")
    assert forced == started._replace(
        status=FAILED,
        finished_at=T0 + 15,
        expires_at=T0 + 15 + 86_400,
        error_message="Task failed: x",
        scheduled_end=None,
    )
    assert look(store, "a", T0 + 16) == forced
    assert store.snapshots(T0 + 16) == [forced]


def test_snapshots_are_immutable() -> None:
    snapshot = look(stored(), "task-1", T0)
    with pytest.raises(AttributeError):
        snapshot.status = SUCCESS  # type: ignore[misc]


# --- threads ----------------------------------------------------------------------------------


def test_concurrent_submits_and_polls_lose_no_task_and_duplicate_no_id() -> None:
    state, clock = manual_state(pending_seconds=1.0, processing_seconds=2.0)
    workers, per_worker = 8, 150
    barrier = threading.Barrier(workers + 1)
    ids: list[list[str]] = [[] for _ in range(workers)]
    polls_made = [0] * workers
    errors: list[BaseException] = []

    def submitter(slot: int) -> None:
        try:
            barrier.wait()
            for _ in range(per_worker):
                snapshot = state.submit("vidu/lip-sync", {"video_url": "https://x/v.mp4"}, "k")
                ids[slot].append(snapshot.task_id)
                assert state.poll(snapshot.task_id).task_id == snapshot.task_id
                polls_made[slot] += 1
                other = ids[(slot + 1) % workers]
                if other:
                    last = other[-1]  # read once: the other thread keeps appending
                    assert state.poll(last).task_id == last
                    polls_made[slot] += 1
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    def ticker() -> None:
        barrier.wait()
        for _ in range(200):
            clock.advance(0.01)

    threads = [threading.Thread(target=submitter, args=(i,)) for i in range(workers)]
    threads.append(threading.Thread(target=ticker))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    every_id = [task_id for chunk in ids for task_id in chunk]
    assert len(every_id) == workers * per_worker
    assert len(set(every_id)) == len(every_id)
    assert sorted(s.task_id for s in state.tasks()) == sorted(every_id)
    assert sum(s.polls for s in state.tasks()) == sum(polls_made)


def test_the_record_table_is_tracked_before_the_server_freezes_it() -> None:
    """The server freezes what exists at start (`gc.freeze()`); an empty dict is not
    tracked, so without `track_tables` the record table would escape the freeze and every
    full collection would walk its 200,000 records (11 ms)."""
    store = TaskStore()
    assert not gc.is_tracked(store._records)
    store.track_tables()
    assert gc.is_tracked(store._records)
    assert len(store._records) == 0
