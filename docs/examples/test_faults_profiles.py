"""Chaos profiles: named bundles of rules, and seeds that make a chaotic run replayable."""

from __future__ import annotations

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.faults.profiles import PROFILES

SUBMIT = "/api/v1/vidu/lip-sync/async"
BODY = {"video_url": "https://example.com/a.mp4"}


def chaos_run(mock: LipSyncMock, client: httpx.Client, seed: int) -> list[dict[str, object]]:
    mock.reset()
    mock.use_profile("chaos", seed=seed)
    for _ in range(30):
        try:
            client.post(SUBMIT, json=BODY)
            client.get("/api/v1/tasks/task-x")
        except httpx.TransportError:
            pass  # resets and cut connections are part of chaos
    return mock.fault_trace()


def test_the_same_seed_replays_the_same_faults(
    lipsync_mock: LipSyncMock, lipsync_client: httpx.Client
) -> None:
    first = chaos_run(lipsync_mock, lipsync_client, seed=7)
    again = chaos_run(lipsync_mock, lipsync_client, seed=7)
    other = chaos_run(lipsync_mock, lipsync_client, seed=8)
    assert first
    assert [(f["rule"], f["kind"]) for f in first] == [(f["rule"], f["kind"]) for f in again]
    assert [f["rule"] for f in first] != [f["rule"] for f in other]


def test_a_profile_is_plain_rule_data(lipsync_mock: LipSyncMock) -> None:
    rules = lipsync_mock.use_profile("provider-outage")
    assert [r.describe()["fault"] for r in rules] == [
        {"kind": "error", "status": 503},
        {"kind": "error", "status": 500},
    ]
    assert PROFILES["provider-outage"][0] == {"fault": "error", "status": 503, "times": 8}


@pytest.mark.lipsync(profile="eventual-consistency")
def test_a_profile_from_the_marker(lipsync_mock: LipSyncMock) -> None:
    (rule,) = lipsync_mock.fault_rules()
    assert rule["fault"] == {"kind": "task_not_found", "polls": 2}
