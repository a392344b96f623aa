"""The journal as HAR 1.2 and the mock's Prometheus metrics, read from a test."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from vidu_lipsync_mock import LipSyncMock

SUBMIT = "/api/v1/vidu/lip-sync/async"


def test_har_and_metrics(lipsync_mock: LipSyncMock, lipsync_client: httpx.Client) -> None:
    lipsync_mock.add_fault("error", status=503, route="submit", once=True)
    body = {"video_url": "https://example.com/a.mp4"}
    failed = lipsync_client.post(SUBMIT, json=body, headers={"X-Request-Id": "order-7"})
    retried = lipsync_client.post(SUBMIT, json=body)
    assert (failed.status_code, retried.status_code) == (503, 200)
    assert failed.headers["X-Request-Id"] == "order-7"  # the client's own id, echoed
    assert retried.headers["X-Request-Id"].startswith("req-")  # or a new one

    har = lipsync_client.get("/_mock/journal.har", params={"route": "submit"}).json()
    first, second = har["log"]["entries"]
    assert (first["response"]["status"], first["_fault"]) == (503, "error:503")
    assert second["_attempt"] == {"first": 1, "number": 2, "of": 2, "retry": True}
    assert lipsync_mock.api_key not in str(har)  # keys are redacted

    text = lipsync_client.get("/_mock/metrics").text
    samples = {
        (s.name, s.labels.get("status"), s.labels.get("fault")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("vidu_lipsync_mock_requests_total", "503", "error:503")] == 1
    assert samples[("vidu_lipsync_mock_requests_total", "200", "")] == 1
    assert samples[("vidu_lipsync_mock_tasks", "pending", None)] == 1
