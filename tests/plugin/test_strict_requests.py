"""Strict requests: a request the mock does not serve fails the test at teardown, listed
with method, URL and status, in every fixture that owns a mock; and the failure report
shows times from the test's start and the rule that fired."""

from __future__ import annotations

import pytest

CLIENT_CODE = """
import httpx
import pytest
import requests

def call(client, path, method="GET"):
    # client code that ignores errors: the test alone would pass
    client.request(method, path)
"""


def test_unknown_route_and_405_fail_the_test_at_teardown(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        CLIENT_CODE
        + """
@pytest.mark.lipsync(strict_requests=True)
def test_mock(lipsync_client):
    call(lipsync_client, "/api/v1/no-such-thing?x=1")
    call(lipsync_client, "/api/v1/tasks/task-1", "DELETE")
    call(lipsync_client, "/api/v1/models")  # served: not listed

def test_not_strict(lipsync_client):
    call(lipsync_client, "/api/v1/no-such-thing")

@pytest.mark.lipsync(strict_requests=True, faults=[{"fault": "error", "status": 405, "route": "models"}])
def test_a_fault_s_405_is_expected(lipsync_client):
    call(lipsync_client, "/api/v1/models")
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*strict_requests: 2 request(s) the mock did not expect:*",
            "*GET //lipsync.test/api/v1/no-such-thing?x=1 -> 404 (no such route)*",
            "*DELETE //lipsync.test/api/v1/tasks/task-1 -> 405 (method not served by route 'poll')*",
        ]
    )
    assert "//lipsync.test/api/v1/models" not in result.stdout.str()


def test_the_option_and_ini_turn_it_on_for_live_and_intercept(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        CLIENT_CODE
        + """
def test_live(lipsync_live):
    with httpx.Client(base_url=lipsync_live.url) as client:
        call(client, "/v2/anything")

def test_intercept(lipsync_intercept):
    call(httpx, "https://api.modellix.ai/api/v1/nothing")
    call(requests, "https://api.modellix.ai/_mock/reset", "POST")
    try:
        requests.get("https://example.com/", timeout=5)
    except AssertionError:
        pass  # the refusal, swallowed by the code under test

@pytest.mark.lipsync(strict_requests=False)
def test_marker_turns_it_off(lipsync_client):
    call(lipsync_client, "/nothing")
"""
    )
    for args in (["--lipsync-strict-requests"], ["-o", "lipsync_strict_requests=true"]):
        result = pytester.runpytest("-p", "no:cacheprovider", *args)
        result.assert_outcomes(passed=3, errors=2)
        result.stdout.fnmatch_lines(
            [
                "*GET //127.0.0.1:*/v2/anything -> 404 (no such route)*",
                "*strict_requests: 3 request(s)*",
                "*GET //api.modellix.ai/api/v1/nothing -> 404 (no such route)*",
                "*POST https://api.modellix.ai/_mock/reset -> 404 (admin path)*",
                "*GET https://example.com/ -> refused (not an intercepted origin)*",
            ]
        )


def test_report_shows_relative_times_and_the_rule_that_fired(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import pytest

@pytest.mark.lipsync(faults=[{"fault": "error", "status": 503, "route": "models", "times": 1}])
def test_fails(lipsync_mock, lipsync_client):
    lipsync_mock.advance(12.5)
    lipsync_client.get("/api/v1/models")
    lipsync_client.get("/api/v1/models", headers={"X-Mock-Fault": "error; status=429"})
    assert False
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.re_match_lines(
        [
            r"times: t=\+seconds on the mock's clock since the test's start \(\d+\.\d{3}\)",
            r"journal \(2 requests, last 2\):",
            r" +#1 +t=\+12\.500s GET +/api/v1/models -> 503 +\[fault=error:503 \(rule-1, phase before\)\]",
            r" +#2 +t=\+12\.500s GET +/api/v1/models -> 429 +\[fault=error:429 \(X-Mock-Fault, phase before\)\]",
        ]
    )
