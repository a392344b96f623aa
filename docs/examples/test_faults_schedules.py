"""When a rule fires: schedules, and which requests it matches."""

from __future__ import annotations

import httpx

from vidu_lipsync_mock import LipSyncMock

SUBMIT = "/api/v1/vidu/lip-sync/async"


def codes(client: httpx.Client, n: int) -> list[int]:
    return [client.get("/api/v1/tasks/task-x").status_code for _ in range(n)]


def test_schedules(lipsync_mock: LipSyncMock, lipsync_client: httpx.Client) -> None:
    def only(**schedule: object) -> list[int]:
        lipsync_mock.clear_faults()
        lipsync_mock.add_fault("error", status=500, route="poll", **schedule)
        return codes(lipsync_client, 6)

    assert only() == [500] * 6  # always (the default)
    assert only(once=True) == [500, 404, 404, 404, 404, 404]
    assert only(times=2) == [500, 500, 404, 404, 404, 404]
    assert only(after=4) == [404, 404, 404, 404, 500, 500]
    assert only(every=3) == [404, 404, 500, 404, 404, 500]


def test_probability_is_seeded(lipsync_mock: LipSyncMock, lipsync_client: httpx.Client) -> None:
    lipsync_mock.use_profile("flaky-network", seed=0)  # any profile: to reseed the draws
    lipsync_mock.clear_faults()
    lipsync_mock.add_fault("error", status=500, route="poll", probability=0.5)
    first = codes(lipsync_client, 20)

    lipsync_mock.use_profile("flaky-network", seed=0)
    lipsync_mock.clear_faults()
    lipsync_mock.add_fault("error", status=500, route="poll", probability=0.5)
    assert codes(lipsync_client, 20) == first  # same seed, same requests: same faults
    assert set(first) == {404, 500}


def test_match_on_body_key_and_method(
    lipsync_mock: LipSyncMock, lipsync_client: httpx.Client
) -> None:
    lipsync_mock.add_fault(
        "error", status=400, route="submit", body={"video_url": "https://example.com/bad.mp4"}
    )
    good = lipsync_client.post(SUBMIT, json={"video_url": "https://example.com/ok.mp4"})
    bad = lipsync_client.post(SUBMIT, json={"video_url": "https://example.com/bad.mp4"})
    assert (good.status_code, bad.status_code) == (200, 400)

    other_key = "mdlx-" + "z9" * 24
    lipsync_mock.add_fault("error", status=401, api_key=other_key)
    refused = lipsync_client.get(
        "/api/v1/tasks/task-x", headers={"Authorization": f"Bearer {other_key}"}
    )
    assert refused.status_code == 401


def test_rules_as_data(lipsync_mock: LipSyncMock) -> None:
    rule = lipsync_mock.add_fault(
        {
            "fault": {"kind": "error", "status": 503},
            "match": {"route": "poll", "method": "GET"},
            "schedule": {"kind": "times", "n": 3},
            "phase": "before",
        }
    )
    assert lipsync_mock.fault_rules() == [rule.describe()]
    assert rule.describe()["schedule"] == {"kind": "times", "n": 3}
    assert lipsync_mock.remove_fault(rule.id)
