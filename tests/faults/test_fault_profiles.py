"""Named chaos profiles: each loads from Python and over the admin API with the same rules,
and the ones with a promised behaviour behave that way."""

from __future__ import annotations

import math

import pytest

from vidu_lipsync_mock.faults import Rule
from vidu_lipsync_mock.faults.profiles import PROFILES


def expected_rules(name: str) -> list[dict]:
    return [
        Rule.from_dict(spec, f"rule-{i}").describe()
        for i, spec in enumerate(PROFILES[name], start=1)
    ]


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_profile_loads_the_same_from_python_and_admin(make_mock, admin, name):
    in_python = make_mock(seed=1)
    over_http = make_mock(seed=1)
    in_python.add_fault("error", status=500)  # replaced by the profile
    over_http.add_fault("error", status=500)

    rules = in_python.use_profile(name, 21)
    loaded = admin(over_http).call("POST", "/profile", {"name": name, "seed": 21})

    described = [rule.describe() for rule in rules]
    assert described == in_python.fault_rules()
    assert loaded == over_http.fault_rules()
    assert [{k: v for k, v in r.items() if k != "id"} for r in described] == [
        {k: v for k, v in r.items() if k != "id"} for r in expected_rules(name)
    ]
    assert loaded == described  # ids included: both mocks had one rule before
    assert in_python.faults.seed == over_http.faults.seed == 21
    assert in_python.fault_trace() == over_http.fault_trace() == []


def test_profile_without_seed_uses_the_mock_seed(make_mock, admin):
    mock = make_mock(seed=8)
    mock.faults.reseed(3)
    admin(mock).call("POST", "/profile", {"name": "chaos"})
    assert mock.faults.seed == 8


def test_profile_from_config(make_mock):
    mock = make_mock(profile="provider-outage")
    assert [r["fault"] for r in mock.fault_rules()] == [
        {"kind": "error", "status": 503},
        {"kind": "error", "status": 500},
    ]


def test_provider_outage_503_for_eight_requests_then_recovers(make_mock, api, expect_error):
    client = api(make_mock(seed=1))
    client.mock.use_profile("provider-outage", 1)

    for _ in range(8):
        expect_error(
            client.submit_raw(), 503, "Service unavailable: circuit breaker open, try again later"
        )
    assert client.mock.tasks() == []

    task_id = client.submit()  # the ninth request goes through
    polls = [client.poll(task_id).status_code for _ in range(14)]
    assert polls == [200] * 6 + [500] + [200] * 6 + [500]  # the poll rule: every 7th


def test_failing_tasks_fail_exactly_where_the_trace_says(make_mock, api):
    client = api(make_mock(seed=4))
    mock = client.mock
    mock.use_profile("failing-tasks", 4)
    ids = [client.submit() for _ in range(30)]
    mock.run_until_terminal()

    journaled = {e.task_id: e.fault or "" for e in mock.journal.entries(route="submit")}
    assert list(journaled) == ids
    failed = {t for t in ids if client.data(t)["status"] == "failed"}
    assert failed == {t for t, label in journaled.items() if "task_fail" in label.split(",")}
    fails = [t for t in mock.fault_trace() if t["kind"] == "task_fail"]
    assert len(fails) == len(failed)
    assert 0 < len(failed) < 30


def test_eventual_consistency_hides_each_new_task_for_two_polls(make_mock, api):
    client = api(make_mock(seed=1))
    client.mock.use_profile("eventual-consistency")
    task_id = client.submit()
    assert [client.poll(task_id).status_code for _ in range(3)] == [404, 404, 200]


def test_unknown_profile(make_mock, admin, expect_error):
    mock = make_mock(seed=1)
    mock.add_fault("error", status=503)
    before = mock.fault_rules()

    with pytest.raises(KeyError, match="unknown profile 'nope'"):
        mock.use_profile("nope")
    response = admin(mock).raw("POST", "/profile", json={"name": "nope"})

    message = expect_error(response, 400)
    assert message.startswith("Invalid parameters: unknown profile 'nope'; known: ")
    for name in PROFILES:
        assert name in message
    assert mock.fault_rules() == before  # nothing was replaced


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Invalid parameters: unknown profile ''"),
        ({"name": "chaos", "seed": "7"}, "Invalid format: parameter 'seed' must be an integer"),
        ({"name": "chaos", "seed": True}, "Invalid format: parameter 'seed' must be an integer"),
    ],
)
def test_bad_profile_requests(make_mock, admin, expect_error, body, message):
    response = admin(make_mock()).raw("POST", "/profile", json=body)
    assert expect_error(response, 400).startswith(message)


def test_rate_limit_storm_answers_429s_as_the_provider_does(make_mock, api):
    """No `Retry-After` (the provider does not send it); the seconds in the message are the
    seconds until `X-RateLimit-Reset`, rounded up."""
    client = api(make_mock(seed=3, clock="manual"))
    client.mock.use_profile("rate-limit-storm", 3)
    refused = [r for r in (client.submit_raw() for _ in range(20)) if r.status_code == 429]
    assert refused  # half of the submits, by the profile's seeded draw
    now = client.mock.now()
    for response in refused:
        assert "retry-after" not in response.headers
        reset = int(response.headers["x-ratelimit-reset"])
        assert response.headers["x-ratelimit-remaining"] == "0"
        wait = math.ceil(reset - now)
        assert response.json()["message"].endswith(f"retry after {wait} seconds")
