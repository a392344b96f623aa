"""The exports beside the inspector: the journal as HAR 1.2 (validated against the spec's
structure, written down as a JSON schema beside this file), the metrics in Prometheus'
format (read back with prometheus-client's own parser), and `X-Request-Id`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from prometheus_client.parser import text_string_to_metric_families

from vidu_lipsync_mock.http.fault_actions import TransportFault
from vidu_lipsync_mock.journal.har import har_log

SCHEMA = json.loads((Path(__file__).parent / "har-1.2.schema.json").read_text())
HAR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
SUBMIT = "/api/v1/vidu/lip-sync/async"
BODY = {"video_url": "https://example.com/a.mp4", "audio_url": "https://example.com/a.mp3"}


def valid_har(document: Any) -> dict[str, Any]:
    errors = sorted(HAR.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    return document


def metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
def traffic(mock, client) -> dict[str, Any]:
    """A submit, a poll, a faulted poll, a retried one and a refusal without a key."""
    auth = mock.auth_headers
    task_id = client.post(SUBMIT, json=BODY, headers=auth).json()["data"]["task_id"]
    client.get(f"/api/v1/tasks/{task_id}", headers={**auth, "X-Request-Id": "client-42"})
    mock.add_fault("error", status=503, route="poll", times=1)
    client.get(f"/api/v1/tasks/{task_id}", headers=auth)
    client.get(f"/api/v1/tasks/{task_id}", headers=auth)
    client.get("/api/v1/tasks/task-unknown")
    return {"task_id": task_id, "key": mock.api_key}


def test_the_har_export_is_har_1_2_with_keys_redacted(mock, client, traffic) -> None:
    response = client.get("/_mock/journal.har")
    assert response.status_code == 200
    assert traffic["key"] not in response.text
    log = valid_har(response.json())["log"]
    entries = log["entries"]
    assert [e["_seq"] for e in entries] == [1, 2, 3, 4, 5]
    submit = entries[0]
    assert submit["request"]["url"] == "http://testserver" + SUBMIT
    assert json.loads(submit["request"]["postData"]["text"]) == BODY
    shown = {h["name"]: h["value"] for h in submit["request"]["headers"]}
    assert shown["authorization"] == "Bearer " + mock.journal.entries()[0].api_key
    assert "…" in shown["authorization"]
    assert submit["response"]["status"] == 200
    assert (
        json.loads(submit["response"]["content"]["text"])["data"]["task_id"] == (traffic["task_id"])
    )
    assert entries[2]["_fault"] == "error:503"
    assert entries[2]["response"]["status"] == 503
    # The grouping the auditor judges: three polls of one task by one key, the third
    # a retry of the failed second.
    assert [e.get("_attempt", {}).get("number") for e in entries[1:4]] == [1, 2, 3]
    assert entries[3]["_attempt"]["retry"] is True
    assert entries[1]["_requestId"] == "client-42"
    headers = {h["name"]: h["value"] for h in entries[1]["response"]["headers"]}
    assert headers["x-request-id"] == "client-42"


def test_the_har_export_takes_the_journals_filters(client, traffic) -> None:
    only = valid_har(client.get("/_mock/journal.har?route=poll&status=503").json())
    assert [e["_seq"] for e in only["log"]["entries"]] == [3]
    faulted = client.get("/_mock/journal.har?fault=error").json()["log"]["entries"]
    assert [e["_seq"] for e in faulted] == [3]
    refused = client.get("/_mock/journal.har?status=4xx").json()["log"]["entries"]
    assert [e["response"]["status"] for e in refused] == [401]
    assert client.get("/_mock/journal.har?since=x").status_code == 400


def test_an_empty_journal_and_a_broken_connection_are_valid_har(mock, client) -> None:
    assert valid_har(har_log([]))["log"]["entries"] == []
    mock.add_fault("reset", route="poll")
    with pytest.raises(TransportFault):
        client.get("/api/v1/tasks/t", headers=mock.auth_headers)
    (entry,) = valid_har(har_log(mock.journal.entries()))["log"]["entries"]
    assert (entry["response"]["status"], entry["_outcome"]) == (0, "reset")
    assert not any(h["name"] == "x-request-id" for h in entry["response"]["headers"])


def test_metrics_parse_with_prometheus_clients_parser(mock, client, traffic) -> None:
    response = client.get("/_mock/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = metrics(response.text)
    total = "vidu_lipsync_mock_requests_total"
    assert found[(total, (("fault", ""), ("route", "submit"), ("status", "200")))] == 1
    assert found[(total, (("fault", "error:503"), ("route", "poll"), ("status", "503")))] == 1
    assert found[(total, (("fault", ""), ("route", "poll"), ("status", "200")))] == 2
    assert found[("vidu_lipsync_mock_request_duration_seconds_count", ())] == 5
    assert found[("vidu_lipsync_mock_request_duration_seconds_bucket", (("le", "+Inf"),))] == 5
    assert found[("vidu_lipsync_mock_tasks", (("status", "pending"),))] == 1
    assert found[("vidu_lipsync_mock_tasks", (("status", "success"),))] == 0
    assert found[("vidu_lipsync_mock_journal_entries", ())] == 5
    assert found[("vidu_lipsync_mock_journal_bytes", ())] > 0
    assert found[("vidu_lipsync_mock_open_connections", ())] == 0


def test_request_counts_survive_the_journals_bound(make_mock, make_client) -> None:
    mock = make_mock(journal_max_entries=16)
    client = make_client(mock)
    for _ in range(100):
        client.get("/api/v1/tasks/task-x", headers=mock.auth_headers)
    found = metrics(client.get("/_mock/metrics").text)
    key = ("fault", ""), ("route", "poll"), ("status", "404")
    assert found[("vidu_lipsync_mock_requests_total", key)] == 100
    assert found[("vidu_lipsync_mock_journal_entries", ())] == 16
    assert found[("vidu_lipsync_mock_journal_dropped_total", ())] == 84


def test_two_mocks_keep_their_own_metrics(make_mock, make_client) -> None:
    first, second = make_mock(), make_mock()
    make_client(first).get("/api/v1/models", headers=first.auth_headers)
    seen = metrics(make_client(second).get("/_mock/metrics").text)
    assert not any(name == "vidu_lipsync_mock_requests_total" for name, _ in seen)


def test_every_answer_carries_a_request_id(mock, client) -> None:
    auth = mock.auth_headers
    new = client.get("/api/v1/models", headers=auth).headers["x-request-id"]
    assert new.startswith("req-")
    assert new.endswith("-1")
    assert (
        client.get("/api/v1/models", headers={**auth, "X-Request-Id": "abc.1"}).headers[
            "x-request-id"
        ]
        == "abc.1"
    )
    hostile = "x" * 129
    for sent in (hostile, "a b", "<script>"):
        answered = client.get("/nowhere", headers={"X-Request-Id": sent}).headers["x-request-id"]
        assert answered.startswith("req-")
    mock.add_fault("error", status=500, route="models")
    faulted = client.get("/api/v1/models", headers={**auth, "X-Request-Id": "f-1"})
    assert (faulted.status_code, faulted.headers["x-request-id"]) == (500, "f-1")
    assert [e.request_id for e in mock.journal.entries()][:2] == [new, "abc.1"]
    assert mock.journal.last.request_id == "f-1"


def test_admin_answers_carry_a_request_id_too(mock, client) -> None:
    """Every response, the admin API's included: refused ones, and the client's own id."""
    first = client.get("/_mock/health").headers["x-request-id"]
    second = client.get("/_mock/tasks").headers["x-request-id"]
    assert first.startswith("req-")
    assert first.endswith("-admin-1")
    assert second.endswith("-admin-2")
    assert (
        client.get("/_mock/config", headers={"X-Request-Id": "ops.7"}).headers["x-request-id"]
        == "ops.7"
    )
    refused = client.post("/_mock/faults", content=b"x", headers={"Content-Type": "text/plain"})
    assert refused.status_code == 415
    assert refused.headers["x-request-id"].endswith("-admin-4")
    assert len(mock.journal) == 0  # admin calls are still not journaled


def test_a_seeded_mock_gives_the_same_request_ids(make_mock, make_client) -> None:
    ids = []
    for _ in range(2):
        mock = make_mock(seed=5)
        ids.append(make_client(mock).get("/api/v1/models").headers["x-request-id"])
    assert ids[0] == ids[1]
    other = make_mock(seed=6)
    assert make_client(other).get("/api/v1/models").headers["x-request-id"] != ids[0]


def test_the_histogram_counts_a_duration_on_a_bound_under_it() -> None:
    from vidu_lipsync_mock.journal.tally import Tally

    def row(ms: float) -> tuple:
        return (1, "GET", "/p", "poll", 200, 0.0, 0.0, ms, None, None, "response")

    tally = Tally()
    tally.fold([row(1.0), row(0.2), row(20_000.0)])
    shown = dict(tally.cumulative())
    assert (shown[0.0005], shown[0.001], shown[10.0], shown[float("inf")]) == (1, 2, 2, 3)
    assert tally.requests[("poll", 200, None)] == 3
    assert tally.seconds == pytest.approx(20.0012)
