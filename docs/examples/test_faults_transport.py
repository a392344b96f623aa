"""Transport faults: the connection breaks or the bytes are wrong.

In-process, the plugin's httpx transports raise what httpx raises for the same failure on a
real socket; against a live server the socket really is reset or closed.
"""

from __future__ import annotations

import json

import httpx
import pytest
import requests

from vidu_lipsync_mock import LipSyncMock

SUBMIT = "/api/v1/vidu/lip-sync/async"
BODY = {"video_url": "https://example.com/a.mp4"}


def test_reset_in_process(lipsync_mock: LipSyncMock, lipsync_client: httpx.Client) -> None:
    lipsync_mock.add_fault("reset", route="poll")
    with pytest.raises(httpx.ReadError):
        lipsync_client.get("/api/v1/tasks/task-x")
    assert lipsync_mock.journal.last is not None
    assert lipsync_mock.journal.last.outcome == "reset"


def test_reset_on_a_real_socket(lipsync_live: LipSyncMock) -> None:
    lipsync_live.add_fault("reset", route="poll")
    with pytest.raises(requests.ConnectionError):
        requests.get(
            f"{lipsync_live.url}/api/v1/tasks/task-x", headers=lipsync_live.auth_headers, timeout=5
        )


@pytest.mark.parametrize("fault", ["truncated_json", "malformed_json", "empty_body"])
def test_bodies_that_do_not_parse(
    lipsync_mock: LipSyncMock, lipsync_client: httpx.Client, fault: str
) -> None:
    lipsync_mock.add_fault(fault, route="submit")
    response = lipsync_client.post(SUBMIT, json=BODY)
    assert response.status_code == 200  # the status line looks fine...
    with pytest.raises(json.JSONDecodeError):
        response.json()  # ...the body does not
    assert len(lipsync_mock.tasks()) == 1  # and the task was created: a paid submit


def test_a_download_cut_in_the_middle(
    lipsync_mock: LipSyncMock, lipsync_client: httpx.Client
) -> None:
    lipsync_mock.add_fault("close_mid_body", route="download")
    task_id = lipsync_client.post(SUBMIT, json=BODY).json()["data"]["task_id"]
    lipsync_mock.run_until_terminal()
    with pytest.raises(httpx.RemoteProtocolError):
        lipsync_client.get(f"/files/{task_id}/result.mp4")


def test_hang_is_a_timeout_in_process(
    lipsync_mock: LipSyncMock, lipsync_client: httpx.Client
) -> None:
    lipsync_mock.add_fault("hang", route="poll")
    with pytest.raises(httpx.ReadTimeout):
        lipsync_client.get("/api/v1/tasks/task-x")
