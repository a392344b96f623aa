"""Magic inputs: force an outcome with nothing but the request itself, for clients that
cannot call the admin API (a browser app, a binary, another team's service)."""

from __future__ import annotations

import httpx

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.service.keys import make_api_key

SUBMIT = "/api/v1/vidu/lip-sync/async"


def test_a_scenario_in_the_video_url(
    lipsync_mock: LipSyncMock, lipsync_client: httpx.Client
) -> None:
    body = {"video_url": "https://example.com/talk.mp4?mock=fail"}
    task_id = lipsync_client.post(SUBMIT, json=body).json()["data"]["task_id"]
    lipsync_mock.run_until_terminal()
    data = lipsync_client.get(f"/api/v1/tasks/{task_id}").json()["data"]
    assert data["status"] == "failed"
    assert data["error_message"] == "Task failed: no face detected in the video"


def test_scenarios_combine_and_work_in_the_fragment_too(
    lipsync_mock: LipSyncMock, lipsync_client: httpx.Client
) -> None:
    body = {"video_url": "https://example.com/talk.mp4#mock=slow,fail"}
    task_id = lipsync_client.post(SUBMIT, json=body).json()["data"]["task_id"]
    lipsync_mock.advance(59)  # slow: 20 x the 3 s lifecycle
    assert lipsync_client.get(f"/api/v1/tasks/{task_id}").json()["data"]["status"] == "processing"
    lipsync_mock.advance(1)
    assert lipsync_client.get(f"/api/v1/tasks/{task_id}").json()["data"]["status"] == "failed"


def test_an_unknown_scenario_is_a_400(lipsync_client: httpx.Client) -> None:
    body = {"video_url": "https://example.com/talk.mp4?mock=explode"}
    response = lipsync_client.post(SUBMIT, json=body)
    assert response.status_code == 400
    assert response.json()["message"].startswith(
        "Invalid parameters: unknown mock scenario 'explode'"
    )


def test_magic_keys(lipsync_client: httpx.Client) -> None:
    def status_with(key: str) -> int:
        headers = {"Authorization": f"Bearer {key}"}
        return lipsync_client.get("/api/v1/tasks/task-x", headers=headers).status_code

    assert make_api_key("mock401") == "mdlx-mock401" + "0" * 41
    assert status_with(make_api_key("mock401")) == 401
    assert status_with(make_api_key("mock402")) == 402
    limited = make_api_key("mockratelimit")
    assert [status_with(limited) for _ in range(6)] == [404] * 5 + [429]
