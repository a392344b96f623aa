"""The buggy client's tests. They are expected to FAIL: the auditor reports a double
submit and retries that ignored Retry-After. CI runs them and checks that they do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from buggy_client import BuggyLipSyncClient

VIDEO = "https://cdn.example.com/presenter.mp4"

pytestmark = pytest.mark.lipsync(fast_forward=True, audit=True, preset="realistic")


@pytest.fixture
def buggy(lipsync_env: dict[str, str]) -> Iterator[BuggyLipSyncClient]:
    client = BuggyLipSyncClient()
    yield client
    client.close()


@pytest.mark.lipsync(
    faults=[{"fault": "error", "status": 500, "route": "submit", "phase": "after", "once": True}]
)
def test_buggy_client_pays_twice(buggy: BuggyLipSyncClient) -> None:
    buggy.lip_sync(VIDEO)


@pytest.mark.lipsync(
    faults=[{"fault": "error", "status": 429, "route": "poll", "retry_after": 30, "times": 2}]
)
def test_buggy_client_ignores_retry_after(buggy: BuggyLipSyncClient) -> None:
    buggy.lip_sync(VIDEO)
