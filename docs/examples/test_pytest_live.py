"""A real server for code that opens its own connections: `lipsync_live`, `lipsync_url`,
`lipsync_env` and `lipsync_media`."""

from __future__ import annotations

import os

import requests

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.pytest_plugin.fixtures import SampleMedia


def lip_sync(video_url: str, audio_url: str) -> str:
    """The code under test: configured from the environment like the official CLI."""
    base = os.environ["MODELLIX_BASE_URL"]
    headers = {"Authorization": f"Bearer {os.environ['MODELLIX_API_KEY']}"}
    response = requests.post(
        f"{base}/api/v1/vidu/lip-sync/async",
        json={"video_url": video_url, "audio_url": audio_url},
        headers=headers,
        timeout=5,
    )
    response.raise_for_status()
    task_id: str = response.json()["data"]["task_id"]
    return task_id


def test_code_that_reads_the_environment(
    lipsync_env: dict[str, str], lipsync_live: LipSyncMock, lipsync_media: SampleMedia
) -> None:
    base = lipsync_env["MODELLIX_BASE_URL"]
    assert base.startswith("http://127.0.0.1:")
    body = lipsync_media.submit_body(base)  # inputs the mock itself serves

    task_id = lip_sync(body["video_url"], body["audio_url"])

    assert lipsync_live.task(task_id).status == "pending"
    lipsync_live.run_until_terminal()
    assert lipsync_live.task(task_id).status == "success"
    sample = requests.get(body["video_url"], timeout=5)
    assert sample.content == lipsync_media.video.read_bytes()


def test_the_live_server_is_reset_for_every_test(
    lipsync_live: LipSyncMock, lipsync_url: str
) -> None:
    assert lipsync_live.tasks() == []
    assert lipsync_url == lipsync_live.url
    health = requests.get(f"{lipsync_url}/_mock/health", timeout=5).json()
    assert (health["data"]["status"], health["data"]["tasks"]) == ("ok", 0)
    assert health["data"]["uploads"]["files"] == 0  # uploads and accounts are counted too
