"""Strict mode: a request the mock does not serve fails the test, even if the client
swallowed the 404 or 405 it got."""

from __future__ import annotations

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock

pytestmark = pytest.mark.lipsync(strict_requests=True)


def best_effort_cleanup(http: httpx.Client, task_id: str) -> None:
    """Client code that ignores the answer: without strict mode its bug never shows."""
    http.delete(f"/api/v1/tasks/{task_id}")  # the provider has no such call: 405


def test_only_served_calls(lipsync_client: httpx.Client, lipsync_mock: LipSyncMock) -> None:
    task = lipsync_client.post("/api/v1/vidu/lip-sync", json={"video_url": "https://v"})
    lipsync_mock.run_until_terminal()
    assert lipsync_client.get(task.json()["data"]["get_result"]["url"]).status_code == 200
    # Calling best_effort_cleanup(lipsync_client, ...) here would fail this test at
    # teardown: "strict_requests: 1 request(s) the mock did not expect:
    #   DELETE //lipsync.test/api/v1/tasks/task-… -> 405 (method not served by route 'poll')"
