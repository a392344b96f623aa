"""No admin answer and no report shows a full API key: a mock holding keys everywhere it
can (allow-list, teams, fault rules in both shapes and from both doors, a task, the journal,
a crash) is read through every GET of the admin API, and each answer is searched for them.
Matching still uses the full key."""

from __future__ import annotations

import json
import re

import pytest

from vidu_lipsync_mock import make_api_key
from vidu_lipsync_mock.http.admin_routes import ADMIN_PREFIX, OPERATIONS
from vidu_lipsync_mock.pytest_plugin.report import describe_mock
from vidu_lipsync_mock.service.keys import key_fingerprint, redact

SUBMIT_PATH = "/api/v1/vidu/lip-sync/async"
FIRST, SECOND = make_api_key(), make_api_key()
KEYS = (FIRST, SECOND)


@pytest.fixture
def keyed(make_mock, make_client, check):
    mock = make_mock(
        api_keys=[FIRST, SECOND],
        teams={"studio": [FIRST, SECOND]},
        faults=[
            {"fault": "error", "status": 503, "route": "download", "api_key": FIRST},
            {"fault": {"kind": "error", "status": 502}, "match": {"api_key": SECOND}},
        ],
    )
    client = make_client(mock)
    check.success(
        client.post(f"{ADMIN_PREFIX}/faults", json={"fault": "latency", "api_key": FIRST})
    )
    nested = {
        "fault": {"kind": "error", "status": 504},
        "match": {"route": "poll", "api_key": SECOND},
    }
    check.success(client.post(f"{ADMIN_PREFIX}/faults", json=nested))
    body = {"video_url": "https://example.com/v.mp4", "note": FIRST}  # a key in free text
    submitted = client.post(SUBMIT_PATH, json=body, headers={"Authorization": f"Bearer {FIRST}"})
    assert submitted.status_code == 200, submitted.text
    client.get(f"/api/v1/tasks/nothing?api_key={SECOND}")  # a key in the query string
    client.get("/api/v1/team/balance", headers={"X-Api-Key": FIRST})  # in the wrong header
    mock.record_crash("GET", "/somewhere", f"Traceback: KeyError: '{SECOND}'")
    task_id = submitted.json()["data"]["task_id"]
    yield mock, client, task_id
    mock.crashes.clear()  # made on purpose above


def test_no_admin_get_shows_a_full_key(keyed):
    _, client, task_id = keyed
    values = {"task_id": task_id, "ref": "studio"}
    answers = {}
    for op in OPERATIONS:
        if op.method != "GET":
            continue
        path = ADMIN_PREFIX + re.sub(r"\{(\w+)\}", lambda m: values[m[1]], op.path)
        response = client.get(path)
        assert response.status_code == 200, (path, response.text)
        answers[path] = response.text
    assert len(answers) == sum(op.method == "GET" for op in OPERATIONS)
    for path, text in answers.items():
        for key in KEYS:
            assert key not in text, f"{path} shows a full key"
    # What is shown instead: the redacted form, or a fingerprint.
    assert redact(FIRST) in answers[f"{ADMIN_PREFIX}/faults"]
    assert redact(SECOND) in answers[f"{ADMIN_PREFIX}/faults"]
    assert key_fingerprint(FIRST) in answers[f"{ADMIN_PREFIX}/accounts"]


def test_admin_writes_answer_with_keys_redacted(keyed, check):
    _, client, _ = keyed
    for response in (
        client.post(f"{ADMIN_PREFIX}/faults", json={"fault": "error", "api_key": SECOND}),
        client.request("DELETE", f"{ADMIN_PREFIX}/faults/rule-1"),
    ):
        check.success(response)
        assert FIRST not in response.text
        assert SECOND not in response.text


def test_rules_still_match_on_the_full_key(keyed):
    _, client, task_id = keyed
    polled = client.get(f"/api/v1/tasks/{task_id}", headers={"Authorization": f"Bearer {SECOND}"})
    assert polled.status_code == 502  # the config's nested rule for SECOND, first in order
    mine = client.get(f"/api/v1/tasks/{task_id}", headers={"Authorization": f"Bearer {FIRST}"})
    assert mine.status_code == 200


def test_the_failure_report_shows_no_full_key(keyed, pytestconfig):
    mock, _, _ = keyed
    report = describe_mock(mock, pytestconfig)
    for key in KEYS:
        assert json.dumps(redact(key)) in report  # the rules are printed as JSON
    assert FIRST not in report
    assert SECOND not in report
