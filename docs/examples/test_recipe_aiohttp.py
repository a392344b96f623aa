"""aiohttp against the live server."""

from __future__ import annotations

import pytest

from vidu_lipsync_mock import LipSyncMock

aiohttp = pytest.importorskip("aiohttp")

BODY = {"video_url": "https://example.com/a.mp4"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_aiohttp(lipsync_live: LipSyncMock, lipsync_url: str) -> None:
    async with aiohttp.ClientSession(headers=lipsync_live.auth_headers) as http:
        async with http.post(f"{lipsync_url}/api/v1/vidu/lip-sync/async", json=BODY) as response:
            task = (await response.json())["data"]
        lipsync_live.run_until_terminal()
        async with http.get(task["get_result"]["url"]) as response:
            data = (await response.json())["data"]
        async with http.get(data["result"]["resources"][0]["url"]) as response:
            video = await response.read()
        assert video[4:8] == b"ftyp"
