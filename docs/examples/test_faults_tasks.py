"""Task and result faults: the HTTP exchange is fine, the task itself goes wrong.

They act on the task a submit creates, so their rules match the `submit` route (or
`any`); every submit they fire on gets a task that fails, sticks, runs slow, hides from
its first polls, expires early, or hands out a broken result file.
"""

from __future__ import annotations

import httpx

from vidu_lipsync_mock import LipSyncMock

SUBMIT = "/api/v1/vidu/lip-sync/async"
BODY = {"video_url": "https://example.com/a.mp4"}


def submit(client: httpx.Client) -> str:
    task_id: str = client.post(SUBMIT, json=BODY).json()["data"]["task_id"]
    return task_id


def poll(client: httpx.Client, task_id: str) -> httpx.Response:
    return client.get(f"/api/v1/tasks/{task_id}")


def test_task_fail(lipsync_mock: LipSyncMock, lipsync_client: httpx.Client) -> None:
    lipsync_mock.add_fault("task_fail", route="submit", message="Task failed: audio too short")
    task_id = submit(lipsync_client)
    lipsync_mock.run_until_terminal()
    data = poll(lipsync_client, task_id).json()["data"]
    assert (data["status"], data["error_message"]) == ("failed", "Task failed: audio too short")


def test_task_stuck(lipsync_mock: LipSyncMock, lipsync_client: httpx.Client) -> None:
    lipsync_mock.add_fault("task_stuck", route="submit", status="processing")
    task_id = submit(lipsync_client)
    lipsync_mock.advance(23 * 3600)
    assert poll(lipsync_client, task_id).json()["data"]["status"] == "processing"


def test_task_slow(lipsync_mock: LipSyncMock, lipsync_client: httpx.Client) -> None:
    lipsync_mock.add_fault("task_slow", route="submit", factor=10)
    task_id = submit(lipsync_client)
    lipsync_mock.advance(29)
    assert poll(lipsync_client, task_id).json()["data"]["status"] == "processing"
    lipsync_mock.advance(1)  # 10 x (1 s + 2 s)
    assert poll(lipsync_client, task_id).json()["data"]["status"] == "success"


def test_expire_early(lipsync_mock: LipSyncMock, lipsync_client: httpx.Client) -> None:
    lipsync_mock.add_fault("expire_early", route="submit", seconds=60)
    task_id = submit(lipsync_client)
    lipsync_mock.run_until_terminal()
    lipsync_mock.advance(60)
    assert poll(lipsync_client, task_id).status_code == 404


def test_task_not_found_for_the_first_polls(
    lipsync_mock: LipSyncMock, lipsync_client: httpx.Client
) -> None:
    lipsync_mock.add_fault("task_not_found", route="submit", polls=2)
    task_id = submit(lipsync_client)
    codes = [poll(lipsync_client, task_id).status_code for _ in range(3)]
    assert codes == [404, 404, 200]  # eventual consistency: retry a 404 on a fresh id


def test_result_faults(lipsync_mock: LipSyncMock, lipsync_client: httpx.Client) -> None:
    expired_link = {"video_url": "https://example.com/expired.mp4"}
    cut_file = {"video_url": "https://example.com/cut.mp4"}
    lipsync_mock.add_fault("result_error", route="submit", body=expired_link, status=403)
    lipsync_mock.add_fault("result_truncated", route="submit", body=cut_file)
    expired = lipsync_client.post(SUBMIT, json=expired_link).json()["data"]["task_id"]
    truncated = lipsync_client.post(SUBMIT, json=cut_file).json()["data"]["task_id"]
    lipsync_mock.run_until_terminal()

    def download(task_id: str) -> httpx.Response:
        url = poll(lipsync_client, task_id).json()["data"]["result"]["resources"][0]["url"]
        return lipsync_client.get(url)

    assert download(expired).json() == {"code": 403, "message": "Forbidden: the link has expired"}
    whole = lipsync_mock.result_media("vidu/lip-sync").file.size
    assert len(download(truncated).content) == whole // 2
