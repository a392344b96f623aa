"""The same for requests: sessions, streaming downloads, byte ranges, faults, refusals."""

from __future__ import annotations

import pytest
import requests

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.pytest_plugin.intercept import RefusedRequest

API = "https://api.modellix.ai/api/v1"


def test_submit_poll_and_stream_with_requests(lipsync_intercept: LipSyncMock) -> None:
    mock = lipsync_intercept
    with requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {mock.api_key}"
        body = {"video_url": "https://cdn.example/in.mp4"}
        task = http.post(f"{API}/vidu/lip-sync/async", json=body, timeout=30).json()["data"]
        mock.run_until_terminal()  # or fast_forward() around code that sleeps
        data = http.get(task["get_result"]["url"], timeout=30).json()["data"]
        url = data["result"]["resources"][0]["url"]  # on api.modellix.ai: also the mock's
        with http.get(url, stream=True, timeout=30) as video:
            first_chunk = next(video.iter_content(chunk_size=1024))
        resumed = http.get(url, headers={"Range": "bytes=0-1023"}, timeout=30)
    assert resumed.status_code == 206
    assert resumed.content == first_chunk


def test_a_timeout_is_requests_own_error(lipsync_intercept: LipSyncMock) -> None:
    lipsync_intercept.add_fault("hang", route="poll")
    with pytest.raises(requests.ReadTimeout):
        requests.get(f"{API}/tasks/task-1", timeout=5)


def test_other_hosts_are_refused(lipsync_intercept: LipSyncMock) -> None:
    with pytest.raises(RefusedRequest, match=r"https://example\.com/"):
        requests.get("https://example.com/", timeout=5)


@pytest.mark.lipsync(intercept_origins=["https://uploads.example.com"])
def test_more_origins(lipsync_intercept: LipSyncMock) -> None:
    assert requests.get("https://uploads.example.com/media/face.jpg", timeout=5).ok
