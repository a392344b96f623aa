"""The per-key rate limiter and the concurrency limit, both on the mock's clock."""

from __future__ import annotations

import math

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock

SUBMIT = "/api/v1/vidu/lip-sync/async"
BODY = {"video_url": "https://example.com/a.mp4"}


@pytest.mark.lipsync(rate_limit=3)
def test_requests_per_minute(lipsync_mock: LipSyncMock, lipsync_client: httpx.Client) -> None:
    answers = [lipsync_client.get("/api/v1/tasks/task-x") for _ in range(4)]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    refused = answers[-1]
    assert refused.status_code == 429
    reset_at = int(refused.headers["X-RateLimit-Reset"])  # Unix seconds: the window's end
    wait = math.ceil(reset_at - lipsync_mock.now())
    assert refused.json()["message"].endswith(f"retry after {wait} seconds")
    assert "Retry-After" not in refused.headers  # the provider documents only the reset

    lipsync_mock.set_time(reset_at)  # the next window
    assert lipsync_client.get("/api/v1/tasks/task-x").status_code == 404


@pytest.mark.lipsync(max_concurrent_tasks=2)
def test_unfinished_tasks_per_key(lipsync_mock: LipSyncMock, lipsync_client: httpx.Client) -> None:
    assert [lipsync_client.post(SUBMIT, json=BODY).status_code for _ in range(3)] == [200, 200, 429]
    refused = lipsync_client.post(SUBMIT, json=BODY)
    assert refused.json()["message"] == (
        "Rate limit exceeded: concurrent limit exceeded, at most 2 tasks in progress"
    )
    lipsync_mock.run_until_terminal()  # both finish: room again
    assert lipsync_client.post(SUBMIT, json=BODY).status_code == 200
