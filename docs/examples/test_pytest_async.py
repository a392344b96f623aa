"""The async client. The plugin needs no async runner of its own; this example uses
AnyIO's pytest plugin, which is installed with httpx (`@pytest.mark.anyio`)."""

from __future__ import annotations

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock

SUBMIT = "/api/v1/vidu/lip-sync/async"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_an_async_client_follows_the_lifecycle(
    lipsync_mock: LipSyncMock, lipsync_async_client: httpx.AsyncClient
) -> None:
    async with lipsync_async_client as client:
        submitted = await client.post(SUBMIT, json={"video_url": "https://example.com/a.mp4"})
        poll_url = submitted.json()["data"]["get_result"]["url"]

        lipsync_mock.run_until_terminal()

        data = (await client.get(poll_url)).json()["data"]
        assert data["status"] == "success"
        video = await client.get(data["result"]["resources"][0]["url"])
        assert video.status_code == 200
