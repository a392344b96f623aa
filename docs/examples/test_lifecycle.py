"""The task lifecycle: pending -> processing -> success | failed, and the three ways a task
moves along it (by the clock, by the number of polls, or only when the test pushes it)."""

from __future__ import annotations

import httpx
import pytest

from vidu_lipsync_mock import ByPolls, LipSyncMock
from vidu_lipsync_mock.service.tasks import TransitionError

SUBMIT = "/api/v1/vidu/lip-sync/async"
BODY = {"video_url": "https://example.com/presenter.mp4"}


def submit(client: httpx.Client) -> str:
    task_id: str = client.post(SUBMIT, json=BODY).json()["data"]["task_id"]
    return task_id


def status(client: httpx.Client, task_id: str) -> str:
    value: str = client.get(f"/api/v1/tasks/{task_id}").json()["data"]["status"]
    return value


def test_by_clock_with_the_default_timings(
    lipsync_client: httpx.Client, lipsync_mock: LipSyncMock
) -> None:
    task_id = submit(lipsync_client)
    assert status(lipsync_client, task_id) == "pending"
    lipsync_mock.advance(1)  # pending_seconds
    assert status(lipsync_client, task_id) == "processing"
    lipsync_mock.advance(2)  # processing_seconds
    assert status(lipsync_client, task_id) == "success"


@pytest.mark.lipsync(preset="realistic")
def test_the_realistic_preset_takes_two_minutes(
    lipsync_client: httpx.Client, lipsync_mock: LipSyncMock
) -> None:
    task_id = submit(lipsync_client)
    lipsync_mock.advance(8)
    assert status(lipsync_client, task_id) == "processing"
    lipsync_mock.advance(111)
    assert status(lipsync_client, task_id) == "processing"
    lipsync_mock.advance(1)
    data = lipsync_client.get(f"/api/v1/tasks/{task_id}").json()["data"]
    assert data["status"] == "success"
    assert data["duration"] == 120_000  # ms, end_time - submit_time


@pytest.mark.lipsync(progression="polls")
def test_by_polls_the_second_poll_processes_and_the_fourth_ends(
    lipsync_client: httpx.Client,
) -> None:
    task_id = submit(lipsync_client)
    seen = [status(lipsync_client, task_id) for _ in range(4)]
    assert seen == ["pending", "processing", "processing", "success"]


@pytest.mark.lipsync(progression="manual")
def test_manual_tasks_wait_for_a_push(
    lipsync_client: httpx.Client, lipsync_mock: LipSyncMock
) -> None:
    task_id = submit(lipsync_client)
    lipsync_mock.advance(86_000)
    assert status(lipsync_client, task_id) == "pending"  # time alone does nothing

    lipsync_mock.force(task_id, "processing")
    assert status(lipsync_client, task_id) == "processing"
    lipsync_mock.force(task_id, "failed", "Task failed: no face detected in the video")

    data = lipsync_client.get(f"/api/v1/tasks/{task_id}").json()["data"]
    assert data["status"] == "failed"
    assert data["error_message"] == "Task failed: no face detected in the video"
    assert "result" not in data
    assert "billing" not in data


def test_a_finished_task_never_changes(
    lipsync_client: httpx.Client, lipsync_mock: LipSyncMock
) -> None:
    task_id = submit(lipsync_client)
    lipsync_mock.force(task_id, "success")
    with pytest.raises(TransitionError):
        lipsync_mock.force(task_id, "failed")


def test_one_task_can_get_its_own_progression(
    lipsync_client: httpx.Client, lipsync_mock: LipSyncMock
) -> None:
    slow, fast = submit(lipsync_client), submit(lipsync_client)
    lipsync_mock.set_progression(fast, ByPolls(processing_on=1, terminal_on=1))
    assert status(lipsync_client, fast) == "success"
    assert status(lipsync_client, slow) == "pending"


def test_run_until_terminal_moves_the_clock_just_far_enough(
    lipsync_client: httpx.Client, lipsync_mock: LipSyncMock
) -> None:
    task_id = submit(lipsync_client)
    before = lipsync_mock.now()
    after = lipsync_mock.run_until_terminal(task_id)
    assert after - before == 3.0
    assert lipsync_mock.task(task_id).status == "success"  # task(): look without polling
