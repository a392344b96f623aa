"""Virtual time: the clock is the only source of time, and a test can move it."""

from __future__ import annotations

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock, ManualClock

SUBMIT = "/api/v1/vidu/lip-sync/async"
BODY = {"video_url": "https://example.com/presenter.mp4"}


def test_the_plugin_mock_runs_on_a_manual_clock(lipsync_mock: LipSyncMock) -> None:
    assert lipsync_mock.clock.describe()["kind"] == "manual"
    start = lipsync_mock.now()
    assert lipsync_mock.now() == start  # stands still...
    assert lipsync_mock.advance(90) == start + 90  # ...until moved
    assert lipsync_mock.set_time(start + 3600) == start + 3600
    with pytest.raises(ValueError, match="only moves forward"):
        lipsync_mock.set_time(start)


def test_a_mock_of_your_own_with_a_clock_you_chose() -> None:
    clock = ManualClock(start=1_700_000_000)
    mock = LipSyncMock(clock=clock)
    assert mock.now() == 1_700_000_000
    scaled = LipSyncMock(clock="system", speed=60)  # a minute per wall-clock second
    assert scaled.clock.describe()["kind"] == "scaled"
    assert scaled.clock.describe()["speed"] == 60


def test_results_expire_after_7_days(
    lipsync_client: httpx.Client, lipsync_mock: LipSyncMock
) -> None:
    task_id = lipsync_client.post(SUBMIT, json=BODY).json()["data"]["task_id"]
    lipsync_mock.run_until_terminal(task_id)
    data = lipsync_client.get(f"/api/v1/tasks/{task_id}").json()["data"]
    assert data["result_expires_at"] == data["end_time"] + 7 * 24 * 3600 * 1000
    video_url = data["result"]["resources"][0]["url"]

    lipsync_mock.advance(7 * 24 * 3600)
    gone = lipsync_client.get(f"/api/v1/tasks/{task_id}")
    assert gone.status_code == 404
    assert gone.json()["message"] == (
        f"Resource not found: task '{task_id}' does not exist or has expired"
    )
    assert lipsync_client.get(video_url).status_code == 404
