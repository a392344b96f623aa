"""Code with the provider's origin built in, tested unchanged: httpx, sync and async."""

from __future__ import annotations

import asyncio
import time

import httpx

from vidu_lipsync_mock import LipSyncMock


# --- the code under test: production settings, nothing injectable -------------------
def lip_sync(api_key: str, video_url: str, audio_url: str) -> bytes:
    """Submit, poll every 5 s, download the result."""
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url="https://api.modellix.ai", headers=headers, timeout=30) as http:
        body = {"video_url": video_url, "audio_url": audio_url}
        task = http.post("/api/v1/vidu/lip-sync/async", json=body).json()["data"]
        while True:
            data = http.get(task["get_result"]["url"]).json()["data"]
            if data["status"] in ("success", "failed"):
                break
            time.sleep(5)
        if data["status"] == "failed":
            raise RuntimeError(data.get("error", "lip sync failed"))
        with http.stream("GET", data["result"]["resources"][0]["url"]) as video:
            return b"".join(video.iter_bytes())


async def balance(api_key: str) -> float:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {api_key}"}) as http:
        answer = await http.get("https://api.modellix.ai/api/v1/team/balance")
        answer.raise_for_status()
        return float(answer.json()["data"]["balance"])


# --- the tests ---------------------------------------------------------------------
def test_lip_sync_end_to_end(lipsync_intercept: LipSyncMock) -> None:
    mock = lipsync_intercept  # the same object as lipsync_mock: tasks, faults, clock
    with mock.fast_forward():  # the client's time.sleep(5) moves the mock's clock
        video = lip_sync(mock.api_key, "https://cdn.example/in.mp4", "https://cdn.example/in.mp3")
    assert video[4:8] == b"ftyp"  # a real MP4
    assert [e.route for e in mock.journal.entries()][:2] == ["submit", "poll"]
    assert mock.journal.last is not None
    assert mock.journal.last.route == "download"


def test_a_reset_is_httpx_s_own_error(lipsync_intercept: LipSyncMock) -> None:
    lipsync_intercept.add_fault("reset", route="balance", times=1)
    try:
        asyncio.run(balance(lipsync_intercept.api_key))
    except httpx.ReadError:
        pass  # what a real socket reset raises
    else:
        raise AssertionError("the reset fault did not fire")
    assert asyncio.run(balance(lipsync_intercept.api_key)) == 1_000_000.0
