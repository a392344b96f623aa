"""The in-process fixtures: `lipsync_mock` and the `lipsync_client` wired to it."""

from __future__ import annotations

import httpx

from vidu_lipsync_mock import LipSyncMock

SUBMIT = "/api/v1/vidu/lip-sync/async"


def test_every_test_gets_a_fresh_mock(
    lipsync_mock: LipSyncMock, lipsync_client: httpx.Client
) -> None:
    assert lipsync_mock.tasks() == []  # nothing left over from other tests
    assert lipsync_client.base_url == "http://lipsync.test"
    assert lipsync_client.headers["Authorization"] == f"Bearer {lipsync_mock.api_key}"

    response = lipsync_client.post(SUBMIT, json={"video_url": "https://example.com/a.mp4"})

    (task,) = lipsync_mock.tasks()
    assert task.task_id == response.json()["data"]["task_id"]
    assert task.params == {"video_url": "https://example.com/a.mp4"}
    assert lipsync_mock.journal.last is not None
    assert lipsync_mock.journal.last.route == "submit"


def test_the_python_api_needs_no_http_at_all(lipsync_mock: LipSyncMock) -> None:
    task = lipsync_mock.submit(
        "vidu/lip-sync", {"video_url": "https://example.com/a.mp4"}, lipsync_mock.api_key
    )
    lipsync_mock.run_until_terminal()
    assert lipsync_mock.poll(task.task_id).status == "success"  # poll() counts as a poll
    assert lipsync_mock.task(task.task_id).polls == 1  # task() does not
