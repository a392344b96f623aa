"""MockState: the one object a test, the server and the admin API share."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from vidu_lipsync_mock.config import MockConfig
from vidu_lipsync_mock.service.clock import ManualClock
from vidu_lipsync_mock.service.errors import ApiError
from vidu_lipsync_mock.service.tasks import ByClock, ByPolls, Manual, TaskStatus, TransitionError
from vidu_lipsync_mock.state import Crash, MockState

T0 = 1_700_000_000.0
MODEL = "vidu/lip-sync"
BODY = {"video_url": "https://example.com/talking-head.mp4"}
KEY = "mdlx-" + "k" * 48
TASK_ID = re.compile(r"task-[a-z0-9]{24}")


def make_state(start: float = T0, **settings) -> tuple[MockState, ManualClock]:
    clock = ManualClock(start)
    return MockState(MockConfig.build({"clock": "manual", **settings}), clock=clock), clock


# --- submit ------------------------------------------------------------------------------


def test_submit_returns_a_pending_snapshot() -> None:
    state, _ = make_state()
    snapshot = state.submit(MODEL, BODY, KEY)
    assert TASK_ID.fullmatch(snapshot.task_id)
    assert snapshot.status is TaskStatus.PENDING
    assert snapshot.model_id == MODEL
    assert snapshot.api_key == KEY
    assert snapshot.submitted_at == T0
    assert snapshot.started_at is None
    assert snapshot.finished_at is None
    assert snapshot.polls == 0
    assert dict(snapshot.params) == BODY
    assert snapshot.scheduled_end == T0 + 3.0
    assert [s.task_id for s in state.tasks()] == [snapshot.task_id]


def test_submit_keeps_its_own_copy_of_the_params() -> None:
    state, _ = make_state()
    body = dict(BODY)
    task_id = state.submit(MODEL, body, KEY).task_id
    body["video_url"] = "https://example.com/changed.mp4"
    assert state.task(task_id).params["video_url"] == BODY["video_url"]


def test_every_submit_gets_a_new_id() -> None:
    state, _ = make_state()
    ids = [state.submit(MODEL, BODY, KEY).task_id for _ in range(200)]
    assert len(set(ids)) == 200
    assert all(TASK_ID.fullmatch(task_id) for task_id in ids)


def test_a_seed_replays_the_same_ids() -> None:
    first, _ = make_state(seed=1234)
    second, _ = make_state(seed=1234)
    other, _ = make_state(seed=4321)
    ids = [first.submit(MODEL, BODY, KEY).task_id for _ in range(5)]
    assert [second.submit(MODEL, BODY, KEY).task_id for _ in range(5)] == ids
    assert [other.submit(MODEL, BODY, KEY).task_id for _ in range(5)] != ids
    first.reset()
    assert [first.submit(MODEL, BODY, KEY).task_id for _ in range(5)] == ids


def test_without_a_seed_two_mocks_hand_out_different_ids() -> None:
    first, _ = make_state()
    second, _ = make_state()
    assert first.submit(MODEL, BODY, KEY).task_id != second.submit(MODEL, BODY, KEY).task_id


def test_an_unknown_model_is_a_404() -> None:
    state, _ = make_state()
    with pytest.raises(ApiError) as caught:
        state.submit("vidu/lip-sink", BODY, KEY)
    assert caught.value.status == 404
    assert caught.value.message == "Resource not found: model 'vidu/lip-sink' is not available"
    assert state.tasks() == []


def test_an_invalid_body_is_a_400_and_creates_no_task() -> None:
    state, _ = make_state()
    with pytest.raises(ApiError) as caught:
        state.submit(MODEL, {}, KEY)
    assert caught.value.status == 400
    assert caught.value.message == "Invalid parameters: parameter 'video_url' is required"
    assert state.tasks() == []


def test_a_progression_given_to_submit_overrides_the_configured_one() -> None:
    state, clock = make_state()
    task_id = state.submit(MODEL, BODY, KEY, progression=Manual()).task_id
    clock.advance(1_000)
    assert state.task(task_id).status is TaskStatus.PENDING


# --- polling and looking -------------------------------------------------------------------


def test_poll_counts_and_task_only_looks() -> None:
    state, _ = make_state()
    task_id = state.submit(MODEL, BODY, KEY).task_id
    state.poll(task_id)
    state.poll(task_id)
    state.task(task_id)
    assert state.task(task_id).polls == 2


@pytest.mark.parametrize("look", ["poll", "task", "result_task"])
def test_an_unknown_task_is_a_404(look: str) -> None:
    state, _ = make_state()
    with pytest.raises(ApiError) as caught:
        getattr(state, look)("task-" + "0" * 24)
    assert caught.value.status == 404
    assert caught.value.message.startswith("Resource not found: ")


def test_the_configured_poll_progression_applies_to_submits() -> None:
    state, _ = make_state(progression="polls")
    task_id = state.submit(MODEL, BODY, KEY).task_id
    seen = [state.poll(task_id).status for _ in range(4)]
    assert seen == [
        TaskStatus.PENDING,
        TaskStatus.PROCESSING,
        TaskStatus.PROCESSING,
        TaskStatus.SUCCESS,
    ]


def test_the_result_is_only_there_once_the_task_succeeded() -> None:
    state, clock = make_state()
    task_id = state.submit(MODEL, BODY, KEY).task_id
    with pytest.raises(ApiError) as caught:
        state.result_task(task_id)
    assert caught.value.status == 404
    clock.advance(3)
    assert state.result_task(task_id).status is TaskStatus.SUCCESS
    failed = state.submit(MODEL, BODY, KEY).task_id
    state.force(failed, "failed", "Task failed: no face")
    with pytest.raises(ApiError):
        state.result_task(failed)


def test_force_takes_status_words() -> None:
    state, _ = make_state(progression="manual")
    task_id = state.submit(MODEL, BODY, KEY).task_id
    assert state.force(task_id, "processing").status is TaskStatus.PROCESSING
    failed = state.force(task_id, "failed", "Task failed: silent audio")
    assert (failed.status, failed.error_message) == (TaskStatus.FAILED, "Task failed: silent audio")
    with pytest.raises(TransitionError):
        state.force(task_id, "success")
    with pytest.raises(ValueError, match="'done' is not a valid TaskStatus"):
        state.force(task_id, "done")


def test_set_progression_through_the_state() -> None:
    state, clock = make_state(progression="manual")
    task_id = state.submit(MODEL, BODY, KEY).task_id
    clock.advance(10)
    state.set_progression(task_id, ByClock(0.0, 5.0))
    clock.advance(5)
    assert state.task(task_id).status is TaskStatus.SUCCESS
    with pytest.raises(ApiError):
        state.set_progression("task-missing", ByPolls())


# --- run_until_terminal --------------------------------------------------------------------


def test_run_until_terminal_advances_exactly_to_the_end() -> None:
    state, clock = make_state(pending_seconds=8, processing_seconds=112)
    task_id = state.submit(MODEL, BODY, KEY).task_id
    clock.advance(5)
    assert state.run_until_terminal(task_id) == T0 + 120
    assert clock.now() == T0 + 120
    snapshot = state.task(task_id)
    assert snapshot.status is TaskStatus.SUCCESS
    assert snapshot.finished_at == T0 + 120


def test_run_until_terminal_waits_for_the_last_of_all_tasks() -> None:
    state, clock = make_state(pending_seconds=1, processing_seconds=2)
    first = state.submit(MODEL, BODY, KEY).task_id
    clock.advance(10)
    second = state.submit(MODEL, BODY, KEY, progression=ByClock(5, 5)).task_id
    assert state.run_until_terminal() == T0 + 20
    assert {state.task(t).status for t in (first, second)} == {TaskStatus.SUCCESS}


def test_run_until_terminal_leaves_time_alone_when_nothing_is_running() -> None:
    state, clock = make_state()
    assert state.run_until_terminal() == T0
    task_id = state.submit(MODEL, BODY, KEY).task_id
    clock.advance(50)
    assert state.run_until_terminal(task_id) == T0 + 50


@pytest.mark.parametrize("progression", ["polls", "manual"])
def test_run_until_terminal_refuses_tasks_time_cannot_finish(progression: str) -> None:
    state, clock = make_state(progression=progression)
    task_id = state.submit(MODEL, BODY, KEY).task_id
    with pytest.raises(TransitionError, match=f"progresses by {progression}"):
        state.run_until_terminal(task_id)
    assert clock.now() == T0


def test_run_until_terminal_refuses_to_jump_past_the_limit() -> None:
    state, clock = make_state(pending_seconds=10, processing_seconds=100)
    state.submit(MODEL, BODY, KEY)
    with pytest.raises(TransitionError, match="over the 60 s limit"):
        state.run_until_terminal(limit=60)
    assert clock.now() == T0


@settings(max_examples=150, deadline=None)
@example(before=1.192092896e-07, pending=0.0, processing=1.0)  # lands one ulp short
@given(
    before=st.floats(0, 1_000),
    pending=st.floats(0, 1_000),
    processing=st.floats(0, 1_000),
)
def test_run_until_terminal_always_finishes_the_task(
    before: float, pending: float, processing: float
) -> None:
    state, clock = make_state(pending_seconds=pending, processing_seconds=processing)
    clock.advance(before)
    task_id = state.submit(MODEL, BODY, KEY).task_id
    state.run_until_terminal(task_id)
    assert state.task(task_id).status is TaskStatus.SUCCESS


# --- reset, crashes, construction ------------------------------------------------------------


def test_reset_forgets_tasks_but_keeps_the_config_and_the_injected_clock() -> None:
    state, clock = make_state(seed=9, pending_seconds=4)
    task_id = state.submit(MODEL, BODY, KEY).task_id
    clock.advance(100)
    state.record_crash("GET", "/api/v1/tasks/x", "Traceback ...")
    state.reset()
    assert state.tasks() == []
    assert state.crashes == []
    with pytest.raises(ApiError):
        state.task(task_id)
    assert state.clock is clock
    assert clock.now() == T0 + 100
    assert state.config.pending_seconds == 4
    assert state.submit(MODEL, BODY, KEY).scheduled_end == T0 + 100 + 4 + 2


def test_crashes_are_recorded_in_order() -> None:
    state, _ = make_state()
    state.record_crash("POST", "/api/v1/vidu/lip-sync", "Traceback: one")
    state.record_crash("GET", "/api/v1/tasks/t", "Traceback: two")
    assert state.crashes == [
        Crash("POST", "/api/v1/vidu/lip-sync", "Traceback: one"),
        Crash("GET", "/api/v1/tasks/t", "Traceback: two"),
    ]


def test_the_clock_comes_from_the_config_unless_injected() -> None:
    state = MockState(MockConfig(clock="manual"))
    assert state.clock.kind == "manual"
    before = state.clock.now()
    assert state.clock.now() == before
    assert MockState().clock.kind == "system"


def test_two_states_never_share_tasks() -> None:
    first, _ = make_state()
    second, _ = make_state()
    task_id = first.submit(MODEL, BODY, KEY).task_id
    with pytest.raises(ApiError):
        second.task(task_id)


def test_admission_follows_the_allow_list() -> None:
    state, _ = make_state(api_keys=[KEY])
    api_key, _ = state.admission.admit(f"Bearer {KEY}")
    assert api_key == KEY
    with pytest.raises(ApiError) as caught:
        state.admission.admit("Bearer mdlx-" + "z" * 48)
    assert caught.value.status == 401
