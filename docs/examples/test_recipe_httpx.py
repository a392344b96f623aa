"""httpx against the live server: a sync client and an async one, real sockets."""

from __future__ import annotations

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock

BODY = {"video_url": "https://example.com/a.mp4"}


def test_sync_httpx(lipsync_live: LipSyncMock, lipsync_url: str) -> None:
    with httpx.Client(base_url=lipsync_url, headers=lipsync_live.auth_headers, timeout=5) as http:
        task = http.post("/api/v1/vidu/lip-sync/async", json=BODY).json()["data"]
        lipsync_live.run_until_terminal()
        data = http.get(task["get_result"]["url"]).json()["data"]
        video = http.get(data["result"]["resources"][0]["url"], headers={"Range": "bytes=0-99"})
        assert video.status_code == 206
        assert len(video.content) == 100


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_async_httpx(lipsync_live: LipSyncMock, lipsync_url: str) -> None:
    headers = lipsync_live.auth_headers
    async with httpx.AsyncClient(base_url=lipsync_url, headers=headers, timeout=5) as http:
        task = (await http.post("/api/v1/vidu/lip-sync", json=BODY)).json()["data"]
        lipsync_live.run_until_terminal()
        data = (await http.get(task["get_result"]["url"])).json()["data"]
        assert data["status"] == "success"
