"""Run with `pytest -n 2`: every xdist worker has its own in-process mocks and its own live
server on its own free port, so tests in parallel never see each other's tasks."""

from __future__ import annotations

import pytest
import requests

from vidu_lipsync_mock import LipSyncMock

BODY = {"video_url": "https://example.com/a.mp4"}


@pytest.mark.parametrize("n", range(6))
def test_each_test_sees_only_its_own_tasks(lipsync_live: LipSyncMock, n: int) -> None:
    headers = lipsync_live.auth_headers
    for _ in range(n):
        requests.post(
            f"{lipsync_live.url}/api/v1/vidu/lip-sync", json=BODY, headers=headers, timeout=5
        )
    assert len(lipsync_live.tasks()) == n
