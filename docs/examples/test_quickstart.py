"""Your first test: submit a lip-sync task and follow it to its result, all in-process.

The `lipsync_client` fixture is an httpx client wired to a fresh mock (no socket, no
thread); `lipsync_mock` is that mock, whose clock stands still until the test moves it.
"""

from __future__ import annotations

import httpx

from vidu_lipsync_mock import LipSyncMock

SUBMIT = "/api/v1/vidu/lip-sync/async"


def test_a_task_runs_to_success(lipsync_client: httpx.Client, lipsync_mock: LipSyncMock) -> None:
    submitted = lipsync_client.post(
        SUBMIT,
        json={
            "video_url": "https://example.com/presenter.mp4",
            "audio_url": "https://example.com/voice-over.mp3",
        },
    )
    assert submitted.status_code == 200
    task = submitted.json()["data"]
    assert task["status"] == "pending"

    lipsync_mock.advance(3)  # default timings: 1 s pending, then 2 s processing

    polled = lipsync_client.get(task["get_result"]["url"]).json()["data"]
    assert polled["status"] == "success"
    video = polled["result"]["resources"][0]
    assert (video["type"], video["format"], video["width"], video["height"]) == (
        "video",
        "mp4",
        1280,
        720,
    )

    download = lipsync_client.get(video["url"])
    assert download.headers["content-type"] == "video/mp4"
    assert download.content[4:8] == b"ftyp"  # a real, playable MP4
