"""The admin routes behind the inspector: journal rows (filters, `since`, `before`, the
attempt marks), one exchange, the fault kinds' declarations, timelines and deleting a
task (the same through Python, HTTP and `RemoteMock`), and the page's files."""

from __future__ import annotations

import httpx
import pytest

from vidu_lipsync_mock import ApiError, LipSyncMock
from vidu_lipsync_mock.faults.kinds import FAULT_KINDS
from vidu_lipsync_mock.pytest_plugin.remote import RemoteMock

SUBMIT = "/api/v1/vidu/lip-sync/async"
BODY = {"video_url": "https://example.com/a.mp4"}


def data(response: httpx.Response):
    assert response.status_code == 200, response.text
    return response.json()["data"]


def rows(client, **query) -> list[int]:
    return [row["seq"] for row in data(client.get("/_mock/journal/rows", params=query))["rows"]]


@pytest.fixture
def traffic(mock, client) -> str:
    auth = mock.auth_headers
    task_id = data(client.post(SUBMIT, json=BODY, headers=auth))["task_id"]
    mock.add_fault("error", status=503, route="poll", times=1)
    client.get(f"/api/v1/tasks/{task_id}", headers=auth)  # 2: 503
    client.get(f"/api/v1/tasks/{task_id}", headers=auth)  # 3: retry, 200
    client.get("/api/v1/tasks/task-x", headers={"Authorization": "Bearer mdlx-other"})  # 4
    return task_id


def test_rows_filter_as_the_journal_does_and_more(mock, client, traffic) -> None:
    assert rows(client) == [1, 2, 3, 4]
    assert rows(client, route="poll", status="503") == [2]
    assert rows(client, status="2xx") == [1, 3]
    assert rows(client, fault="any") == rows(client, faulted="true") == [2]
    assert rows(client, fault="none") == [1, 3, 4]
    assert rows(client, fault="error") == [2]
    assert rows(client, fault="latency") == []
    assert rows(client, task_id=traffic) == [1, 2, 3]
    mine = mock.journal.entries()[0]
    assert rows(client, key=mine.api_key_id) == rows(client, key=mine.api_key) == [1, 2, 3]
    assert rows(client, since=2) == [3, 4]
    assert rows(client, before=3, limit=1) == [2]
    assert rows(client, request_id=mock.journal.entries()[1].request_id) == [2]
    for bad in ({"since": "x"}, {"status": "4xy"}, {"limit": "many"}):
        refused = client.get("/_mock/journal/rows", params=bad)
        assert refused.status_code == 400
        assert refused.json()["code"] == 400


def test_rows_carry_the_attempt_marks_and_no_bodies(client, traffic) -> None:
    page = data(client.get("/_mock/journal/rows"))
    assert (page["last_seq"], page["count"], page["dropped"]) == (4, 4, 0)
    first, failed, retried, _other = page["rows"]
    assert "request_body" not in first
    assert "request_headers" not in first
    assert failed["attempt"] == {"first": 2, "number": 1, "attempts": 2, "retries": False}
    assert retried["attempt"] == {"first": 2, "number": 2, "attempts": 2, "retries": True}
    assert retried["request_id"].endswith("-3")


def test_rows_name_the_rule_that_fired_and_its_phase(mock, client, traffic) -> None:
    mock.add_fault("error", status=500, route="validate", phase="after", times=1)
    client.get("/api/v1/apikey/validate", headers=mock.auth_headers)
    page = data(client.get("/_mock/journal/rows"))["rows"]
    by_seq = {row["seq"]: row for row in page}
    rule_ids = [rule["id"] for rule in mock.fault_rules()]
    assert (by_seq[2]["fault"], by_seq[2]["fault_phase"]) == ("error:503", "before")
    assert (by_seq[5]["fault"], by_seq[5]["fault_phase"]) == ("error:500", "after")
    assert [by_seq[2]["fault_rules"], by_seq[5]["fault_rules"]] == [[r] for r in rule_ids]
    assert (by_seq[1]["fault_phase"], by_seq[1]["fault_rules"]) == (None, [])


def test_one_exchange_in_full(mock, client, traffic) -> None:
    entry = data(client.get("/_mock/journal/3"))
    assert (entry["status"], entry["attempt"]["retries"]) == (200, True)
    assert entry["request_headers"]["authorization"] == f"Bearer {entry['api_key']}"
    assert mock.api_key not in str(entry)
    assert client.get("/_mock/journal/99").status_code == 404
    assert client.get("/_mock/journal/abc").status_code == 404


def test_the_fault_kinds_are_served_as_declared(client) -> None:
    served = data(client.get("/_mock/faults/kinds"))
    assert [k["name"] for k in served["kinds"]] == list(FAULT_KINDS)
    error = next(k for k in served["kinds"] if k["name"] == "error")
    status = next(p for p in error["params"] if p["name"] == "status")
    declared = FAULT_KINDS["error"].params["status"]
    assert (status["type"], status["low"], status["high"]) == ("int", declared.low, declared.high)
    assert "submit" in served["routes"]
    assert "once" in served["schedules"]


def test_timelines_show_status_changes_and_the_result(mock, client) -> None:
    task_id = data(client.post(SUBMIT, json=BODY, headers=mock.auth_headers))["task_id"]
    mock.force(task_id, "success")
    (task,) = data(client.get("/_mock/timelines"))
    assert [step["status"] for step in task["timeline"]] == ["pending", "processing", "success"]
    assert task["api_key"] != mock.api_key
    assert "…" in task["api_key"]
    assert client.get(task["result_path"]).headers["content-type"] == "video/mp4"


def test_delete_is_one_operation_in_python_http_and_remote() -> None:
    with LipSyncMock(clock="manual", progression="manual") as served:
        served.start()
        with RemoteMock(served.url) as remote, httpx.Client(base_url=served.url) as http:
            ids = [
                http.post(SUBMIT, json=BODY, headers=served.auth_headers).json()["data"]["task_id"]
                for _ in range(3)
            ]
            served.delete_task(ids[0])
            assert data(http.delete(f"/_mock/tasks/{ids[1]}")) == {
                "task_id": ids[1],
                "deleted": True,
            }
            remote.delete_task(ids[2])
            assert served.tasks() == []
            for task_id in ids:
                assert (
                    http.get(f"/api/v1/tasks/{task_id}", headers=served.auth_headers).status_code
                    == 404
                )
            assert http.delete(f"/_mock/tasks/{ids[0]}").status_code == 404
            with pytest.raises(ApiError):
                remote.delete_task(ids[0])


def test_deleting_an_unfinished_task_gives_its_credit_back(mock, client) -> None:
    before = mock.balance(mock.api_key)
    task_id = data(client.post(SUBMIT, json=BODY, headers=mock.auth_headers))["task_id"]
    assert mock.account(mock.api_key).held > 0
    mock.delete_task(task_id)
    assert (mock.balance(mock.api_key), mock.account(mock.api_key).held) == (before, 0)


def test_the_page_and_its_files(client) -> None:
    page = client.get("/_mock/ui")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert 'src="ui/app.js"' in page.text
    assert "http" not in page.text.split("<body>")[0]
    assert client.get("/_mock/ui/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/_mock/ui/style.css").status_code == 200
    for other in ("../admin_routes.py", "x.js", "%2e%2e%2fapp.js"):
        assert client.get(f"/_mock/ui/{other}").status_code == 404
