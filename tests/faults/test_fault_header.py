"""`X-Mock-Fault`: one fault for one request, asked for by the client itself. Every kind
parses; a malformed header is the client's mistake (400, nothing else happens)."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from vidu_lipsync_mock.faults import FAULT_KINDS, Fault, FaultError, parse_fault_header

EXAMPLES: dict[str, tuple[str, dict]] = {
    "error": (
        "error; status=503; message=Service unavailable: down; retry_after=1.5",
        {"status": 503, "message": "Service unavailable: down", "retry_after": 1.5},
    ),
    "latency": ("latency; min=0.1; max=0.3", {"min": 0.1, "max": 0.3}),
    "reset": ("reset", {}),
    "close_after_headers": ("close_after_headers", {}),
    "close_mid_body": ("close_mid_body", {}),
    "truncated_json": ("truncated_json", {}),
    "malformed_json": ("malformed_json", {}),
    "empty_body": ("empty_body", {}),
    "slow_body": ("slow_body; seconds=2", {"seconds": 2.0}),
    "hang": ("hang; seconds=1.5", {"seconds": 1.5}),
    "task_fail": ("task_fail; message=Task failed: no face", {"message": "Task failed: no face"}),
    "task_stuck": ("task_stuck; status=pending", {"status": "pending"}),
    "task_slow": ("task_slow; factor=20", {"factor": 20.0}),
    "task_not_found": ("task_not_found; polls=3", {"polls": 3}),
    "expire_early": ("expire_early; seconds=30", {"seconds": 30.0}),
    "result_error": ("result_error; status=404", {"status": 404}),
    "result_truncated": ("result_truncated", {}),
    "result_corrupt": ("result_corrupt", {}),
    "result_slow": ("result_slow; seconds=0.5", {"seconds": 0.5}),
}


def test_every_kind_has_an_example():
    assert set(EXAMPLES) == set(FAULT_KINDS)


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_each_kind_parses(kind):
    header, options = EXAMPLES[kind]
    fault = parse_fault_header(header)
    assert fault == Fault(kind, options)
    assert {k: type(v) for k, v in fault.options.items()} == {
        k: type(v) for k, v in options.items()
    }


def test_spaces_and_empty_parts_are_tolerated():
    assert parse_fault_header("  error ;status = 502 ; ;") == Fault("error", {"status": 502})


MALFORMED = [
    (";", "X-Mock-Fault is empty"),
    ("explode", "unknown fault 'explode'"),
    ("error; status", "X-Mock-Fault option 'status' must be name=value"),
    ("error; status=abc", "X-Mock-Fault option status must be a number"),
    ("error; colour=red", "fault error takes no option 'colour'"),
    ("error; status=200", "fault error: status must be a whole number >= 400 and <= 599"),
    ("latency; seconds=-1", "fault latency: seconds must be a finite number >= 0"),
    ("latency; seconds=nan", "fault latency: seconds must be a finite number >= 0"),
    (
        "task_stuck; status=success",
        "fault task_stuck: status must be one of 'pending', 'processing', not 'success'",
    ),
    (
        "result_error; status=302",
        "fault result_error: status must be a whole number >= 400 and <= 599, not 302",
    ),
    ("latency; seconds=1e9", "fault latency: seconds must be a finite number >= 0 and <= 120"),
    ("task_not_found; polls=0", "fault task_not_found: polls must be a whole number >= 1"),
    ("task_slow; factor=0", "fault task_slow: factor must be a finite number > 0 and <= 1000"),
]


@pytest.mark.parametrize(("header", "detail"), MALFORMED)
def test_malformed_header_in_python(header, detail):
    with pytest.raises(FaultError) as caught:
        parse_fault_header(header)
    assert str(caught.value).startswith(detail)


@pytest.mark.parametrize(("header", "detail"), MALFORMED)
def test_malformed_header_is_a_400_and_nothing_else(make_mock, api, expect_error, header, detail):
    client = api(make_mock(seed=1))

    response = client.submit_raw(headers={"X-Mock-Fault": header})

    message = expect_error(response, 400)
    assert message.startswith(f"Invalid parameters: X-Mock-Fault: {detail}")
    assert client.mock.tasks() == []  # the submit was not carried out
    entry = client.mock.journal.last
    assert (entry.status, entry.fault) == (400, None)


@pytest.mark.parametrize("kind", [name for name, kind in FAULT_KINDS.items() if kind.changes_task])
@pytest.mark.parametrize("where", ["poll", "download", "sample"])
def test_task_fault_outside_a_submit_is_a_400(make_mock, api, expect_error, kind, where):
    client = api(make_mock(seed=1))
    task_id = client.submit()
    client.mock.run_until_terminal()
    url = {
        "poll": f"/api/v1/tasks/{task_id}",
        "download": client.data(task_id)["result"]["resources"][0]["url"],
        "sample": "/media/face.jpg",
    }[where]
    headers = {"Authorization": f"Bearer {client.mock.api_key}", "X-Mock-Fault": EXAMPLES[kind][0]}

    response = client.get(url, headers=headers)

    expect_error(
        response, 400, f"Invalid parameters: X-Mock-Fault: {kind} only applies to a submit"
    )


def test_header_fault_is_for_that_request_only(make_mock, api, expect_error):
    client = api(make_mock(seed=1, retry_after_header=True))
    task_id = client.submit()

    faulted = client.poll(task_id, headers={"x-mock-fault": "error; status=429"})
    after = client.poll(task_id)

    expect_error(faulted, 429)
    assert faulted.headers["x-ratelimit-remaining"] == "0"
    assert "retry-after" in faulted.headers
    assert after.status_code == 200
    assert client.mock.fault_rules() == []
    assert client.mock.journal.entries(faulted=True)[0].fault == "error:429"


def test_header_wins_over_rules_which_still_count(make_mock, api, expect_error):
    client = api(make_mock(seed=1))
    task_id = client.submit()
    rule = client.mock.add_fault("error", status=500, route="poll", times=1)

    expect_error(client.poll(task_id, headers={"X-Mock-Fault": "error; status=502"}), 502)
    expect_error(client.poll(task_id), 500)  # the rule's one time was not spent above
    assert client.poll(task_id).status_code == 200

    (described,) = client.mock.fault_rules()
    assert (described["id"], described["seen"], described["hits"]) == (rule.id, 3, 1)
    first, second = client.mock.journal.entries(faulted=True)
    assert (first.status, first.fault) == (502, "error:502")
    assert (second.status, second.fault) == (500, "error:500")
    # The trace lists every fault that fired, the header's too (it has no rule id).
    assert [(t["rule"], t["status"]) for t in client.mock.fault_trace()] == [
        (None, 502),
        (rule.id, 500),
    ]


def test_header_is_ignored_on_the_admin_api(make_mock, admin):
    web = admin(make_mock())
    response = web.raw("GET", "/clock", headers={"X-Mock-Fault": "error; status=503"})
    assert response.status_code == 200


# -- over a real socket: the header reaches every transport fault ------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("reset", httpx.ReadError),
        ("close_after_headers", httpx.RemoteProtocolError),
        ("close_mid_body", httpx.RemoteProtocolError),
    ],
)
def test_broken_connection_by_header(shared_server, header, expected):
    task_url = shared_server.task_url(shared_server.submit())
    headers = {**shared_server.mock.auth_headers, "X-Mock-Fault": header}
    with httpx.Client(timeout=5) as http:
        with pytest.raises(expected) as caught:
            http.get(task_url, headers=headers)
        assert type(caught.value) is expected
        assert http.get(task_url, headers=shared_server.mock.auth_headers).status_code == 200


@pytest.mark.parametrize(
    ("header", "status", "body_check"),
    [
        ("truncated_json", 200, "unparsable"),
        ("malformed_json", 200, "unparsable"),
        ("empty_body", 200, "empty"),
        ("latency; seconds=0.05", 200, "task"),  # real-time: 0.05 s
        ("slow_body; seconds=0.05", 200, "task"),  # real-time: 0.05 s drip
        ("hang; seconds=0.05", 504, "envelope"),  # real-time: 0.05 s hang
    ],
)
def test_answer_faults_by_header(shared_server, header, status, body_check):
    task_url = shared_server.task_url(shared_server.submit())
    headers = {**shared_server.mock.auth_headers, "X-Mock-Fault": header}
    with httpx.Client(timeout=5) as http:
        started = time.perf_counter()
        response = http.get(task_url, headers=headers)
        elapsed = time.perf_counter() - started

    assert response.status_code == status
    if body_check == "unparsable":
        with pytest.raises(json.JSONDecodeError):
            response.json()
    elif body_check == "empty":
        assert response.content == b""
    elif body_check == "task":
        assert response.json()["data"]["task_id"] == task_url.rsplit("/", 1)[1]
        assert elapsed >= 0.05 * 0.95
    else:
        assert response.json() == {
            "code": 504,
            "message": "Gateway timeout: the upstream model service timed out",
        }
        assert elapsed >= 0.05
