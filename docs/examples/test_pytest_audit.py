"""The retry-policy auditor: judge the client from the journal of what it sent."""

from __future__ import annotations

import time

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.pytest_plugin.audit import AuditPolicy, assert_sound_retry_policy, audit

SUBMIT = "/api/v1/vidu/lip-sync/async"
BODY = {"video_url": "https://example.com/a.mp4"}


def careful_client(client: httpx.Client) -> str:
    """Submits once; polls every 5 s; retries a failed poll with growing waits."""
    task = client.post(SUBMIT, json=BODY).json()["data"]
    wait = 1.0
    while True:
        response = client.get(task["get_result"]["url"])
        if response.status_code in (429, 500, 502, 503, 504):
            time.sleep(float(response.headers.get("Retry-After", wait)))
            wait *= 2
            continue
        status: str = response.json()["data"]["status"]
        if status in ("success", "failed"):
            return status
        time.sleep(5)


def hasty_client(client: httpx.Client) -> None:
    """Resubmits a paid job after a 500, and polls as fast as it can."""
    for _ in range(2):
        response = client.post(SUBMIT, json=BODY)
        if response.status_code == 200:
            break
    task_id = response.json()["data"]["task_id"]
    for _ in range(3):
        client.get(f"/api/v1/tasks/{task_id}")


# audit=True: the fixture audits the journal at teardown and fails the test on any error.
@pytest.mark.lipsync(
    audit=True,
    fast_forward=True,
    faults=[{"fault": "error", "status": 503, "route": "poll", "times": 2}],
)
def test_a_careful_client_passes_the_audit(lipsync_client: httpx.Client) -> None:
    assert careful_client(lipsync_client) == "success"


def test_what_the_auditor_says_about_a_hasty_client(
    lipsync_mock: LipSyncMock, lipsync_client: httpx.Client
) -> None:
    lipsync_mock.add_fault("error", status=500, route="submit", phase="after", once=True)
    hasty_client(lipsync_client)

    findings = audit(lipsync_mock.journal.entries())

    assert {f.rule for f in findings} == {"double-submit", "poll-too-fast"}
    with pytest.raises(AssertionError, match="retry policy is unsound"):
        assert_sound_retry_policy(lipsync_mock)
    lenient = AuditPolicy(min_poll_interval=0, warnings=["double-submit"])
    assert [f.severity for f in assert_sound_retry_policy(lipsync_mock, lenient)] == ["warning"]
