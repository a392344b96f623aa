"""HTTP faults: the service answers with an error envelope instead of doing the work."""

from __future__ import annotations

import math

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock

SUBMIT = "/api/v1/vidu/lip-sync/async"
BODY = {"video_url": "https://example.com/a.mp4"}


def test_an_error_on_the_first_two_polls(
    lipsync_mock: LipSyncMock, lipsync_client: httpx.Client
) -> None:
    lipsync_mock.add_fault("error", status=503, route="poll", times=2)
    task_id = lipsync_client.post(SUBMIT, json=BODY).json()["data"]["task_id"]

    codes = [lipsync_client.get(f"/api/v1/tasks/{task_id}").status_code for _ in range(3)]

    assert codes == [503, 503, 200]
    first = lipsync_mock.journal.entries(route="poll")[0]
    assert first.fault == "error:503"
    assert first.json() == {
        "code": 503,
        "message": "Service unavailable: circuit breaker open, try again later",
    }


def test_your_own_message_and_retry_after(
    lipsync_mock: LipSyncMock, lipsync_client: httpx.Client
) -> None:
    lipsync_mock.add_fault(
        "error", status=500, message="Internal server error", retry_after=2, route="submit"
    )
    response = lipsync_client.post(SUBMIT, json=BODY)
    assert response.status_code == 500
    assert response.headers["Retry-After"] == "2"
    assert lipsync_mock.tasks() == []  # phase "before": the service never saw the submit


def test_an_injected_429_carries_the_rate_limit_headers(
    lipsync_mock: LipSyncMock, lipsync_client: httpx.Client
) -> None:
    lipsync_mock.add_fault("error", status=429, retry_after=5, route="poll", once=True)
    response = lipsync_client.get("/api/v1/tasks/task-x")
    assert response.status_code == 429
    assert response.json()["message"] == (
        "Rate limit exceeded: 100 requests per minute, retry after 5 seconds"
    )
    assert response.headers["Retry-After"] == "5"  # only because the fault asks for it
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert int(response.headers["X-RateLimit-Reset"]) == math.ceil(lipsync_mock.now() + 5)


def test_one_request_asks_for_its_own_fault(lipsync_client: httpx.Client) -> None:
    response = lipsync_client.post(SUBMIT, json=BODY, headers={"X-Mock-Fault": "error; status=402"})
    assert response.json() == {
        "code": 402,
        "message": "Insufficient balance: account balance is insufficient or in arrears",
    }


def test_a_malformed_fault_header_is_a_400(lipsync_client: httpx.Client) -> None:
    response = lipsync_client.post(SUBMIT, json=BODY, headers={"X-Mock-Fault": "explode"})
    assert response.status_code == 400
    assert response.json()["message"].startswith("Invalid parameters: X-Mock-Fault: unknown fault")


@pytest.mark.lipsync(faults=[{"fault": "latency", "seconds": 0.05, "route": "poll"}])
def test_latency_delays_without_failing(
    lipsync_mock: LipSyncMock, lipsync_client: httpx.Client
) -> None:
    response = lipsync_client.get("/api/v1/tasks/task-x")
    assert response.status_code == 404  # latency adds to whatever else happens
    assert lipsync_mock.journal.entries()[0].duration_ms >= 50
