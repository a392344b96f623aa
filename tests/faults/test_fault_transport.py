"""HTTP and transport faults as real clients see them: `httpx` and `requests` against a
real loopback server, each fault asserted as the exact failure the library raises."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import requests
import urllib3

from vidu_lipsync_mock.faults import DEFAULT_MESSAGES

ERROR_STATUSES = (400, 401, 402, 404, 429, 500, 502, 503, 504)
BODY = {"video_url": "https://example.com/presenter.mp4"}


def _world(served: Any) -> SimpleNamespace:
    return SimpleNamespace(
        mock=served.mock,
        submit_url=served.submit_url,
        poll_url=served.task_url(served.submit(BODY)),
    )


@pytest.fixture
def world(shared_server: Any) -> SimpleNamespace:
    """The module's server, fresh, with one submitted task and the URL to poll it."""
    return _world(shared_server)


@pytest.fixture
def own_world(serve: Callable[..., Any]) -> SimpleNamespace:
    """Like `world` on a server of its own, for faults whose server side outlives the
    client's request (a timed-out drip keeps going)."""
    return _world(serve(seed=7))


def drain(chunks: Iterator[bytes], into: bytearray) -> None:
    """Read a body piece by piece, keeping what arrived before it broke off."""
    for chunk in chunks:
        into.extend(chunk)


def normal_poll(world: Any) -> httpx.Response:
    with httpx.Client(timeout=5) as http:
        return http.get(world.poll_url, headers=world.mock.auth_headers)


# -- error ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ERROR_STATUSES)
def test_error_fault_is_the_provider_envelope(world, real_call, status):
    world.mock.add_fault("error", status=status, route="poll")
    before = time.time()

    reply = real_call("GET", world.poll_url, headers=world.mock.auth_headers)

    assert reply.status_code == status
    envelope = json.loads(reply.content)
    assert reply.headers["content-type"].startswith("application/json")
    if status != 429:
        assert envelope == {"code": status, "message": DEFAULT_MESSAGES[status]}
    else:
        limit = reply.headers["x-ratelimit-limit"]
        remaining = reply.headers["x-ratelimit-remaining"]
        reset = reply.headers["x-ratelimit-reset"]
        assert (limit, remaining) == ("100", "0")
        assert reset.isdigit()
        now = world.mock.now()
        assert int(reset) > now  # in the future of the mock's clock
        assert abs(int(reset) - before) < 120  # and Unix seconds, not ms or a delta
        assert int(reset) == (math.floor(now / 60) + 1) * 60  # the next window boundary
        wait = math.ceil(int(reset) - now)
        assert 1 <= wait <= 60
        # the message names the seconds until the reset; no Retry-After unless asked for
        assert envelope == {
            "code": 429,
            "message": f"Rate limit exceeded: 100 requests per minute, retry after {wait} seconds",
        }
    assert "retry-after" not in reply.headers


def test_error_fault_message_and_retry_after_options(world, real_call):
    world.mock.add_fault(
        "error", status=503, message="Service unavailable: planned maintenance", retry_after=2.5
    )

    reply = real_call("GET", world.poll_url, headers=world.mock.auth_headers)

    assert reply.status_code == 503
    assert json.loads(reply.content) == {
        "code": 503,
        "message": "Service unavailable: planned maintenance",
    }
    assert reply.headers["retry-after"] == "3"  # whole seconds, rounded up


# -- broken connections ----------------------------------------------------------------------


def test_reset_is_a_connection_reset(world, lib):
    world.mock.add_fault("reset", route="poll", times=1)
    headers = world.mock.auth_headers

    if lib == "httpx":
        with httpx.Client(timeout=5) as http, pytest.raises(httpx.ReadError) as caught:
            http.get(world.poll_url, headers=headers)
        assert type(caught.value) is httpx.ReadError
        assert "reset" in str(caught.value).lower()
    else:
        with requests.Session() as session, pytest.raises(requests.ConnectionError) as caught:
            session.get(world.poll_url, headers=headers, timeout=5)
        assert type(caught.value) is requests.ConnectionError
        reason = caught.value.args[0]
        assert isinstance(reason, urllib3.exceptions.ProtocolError)
        assert isinstance(reason.args[1], ConnectionResetError)

    assert normal_poll(world).status_code == 200  # only the one connection was broken
    entry = world.mock.journal.entries(route="poll", faulted=True)[-1]
    assert (entry.fault, entry.outcome, entry.status) == ("reset", "reset", 0)


def test_close_after_headers_sends_headers_then_no_body(world, lib):
    world.mock.add_fault("close_after_headers", route="poll", times=1)
    headers = world.mock.auth_headers

    if lib == "httpx":
        with (
            httpx.Client(timeout=5) as http,
            http.stream("GET", world.poll_url, headers=headers) as r,
        ):
            assert r.status_code == 200
            assert int(r.headers["content-length"]) > 0
            with pytest.raises(httpx.RemoteProtocolError) as caught:
                r.read()
        assert type(caught.value) is httpx.RemoteProtocolError
        assert "received 0 bytes" in str(caught.value)
    else:
        with (
            requests.Session() as session,
            session.get(world.poll_url, headers=headers, timeout=5, stream=True) as r,
        ):
            assert r.status_code == 200
            with pytest.raises(requests.exceptions.ChunkedEncodingError) as caught:
                _ = r.content
        assert type(caught.value) is requests.exceptions.ChunkedEncodingError
        assert "IncompleteRead(0 bytes read" in str(caught.value)

    assert normal_poll(world).status_code == 200


def test_close_mid_body_delivers_half_the_body(world, lib):
    world.mock.add_fault("close_mid_body", route="poll", times=1)
    headers = world.mock.auth_headers
    received = bytearray()

    if lib == "httpx":
        with (
            httpx.Client(timeout=5) as http,
            http.stream("GET", world.poll_url, headers=headers) as r,
        ):
            assert r.status_code == 200
            declared = int(r.headers["content-length"])
            with pytest.raises(httpx.RemoteProtocolError) as caught:
                drain(r.iter_raw(), received)
        assert type(caught.value) is httpx.RemoteProtocolError
        assert len(received) == declared // 2
    else:
        with (
            requests.Session() as session,
            session.get(world.poll_url, headers=headers, timeout=5, stream=True) as r,
        ):
            assert r.status_code == 200
            declared = int(r.headers["content-length"])
            with pytest.raises(requests.exceptions.ChunkedEncodingError) as caught:
                drain(r.iter_content(16), received)
        assert type(caught.value) is requests.exceptions.ChunkedEncodingError
        assert f"{declared // 2} bytes read" in str(caught.value)
        assert 0 < len(received) <= declared // 2

    assert bytes(received) == normal_poll(world).content[: len(received)]


# -- mangled bodies --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["truncated_json", "malformed_json"])
def test_unparsable_json_with_status_200(world, real_call, kind):
    world.mock.add_fault(kind, route="poll", times=1)

    reply = real_call("GET", world.poll_url, headers=world.mock.auth_headers)

    assert reply.status_code == 200
    assert reply.content  # there is a body, and exactly Content-Length of it
    assert int(reply.headers["content-length"]) == len(reply.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(reply.content)
    complete = normal_poll(world).content
    if kind == "truncated_json":
        assert complete.startswith(reply.content)
        assert len(reply.content) < len(complete)


def test_unparsable_json_fails_the_clients_own_json_method(world, lib):
    world.mock.add_fault("truncated_json", route="poll", times=2)
    headers = world.mock.auth_headers
    if lib == "httpx":
        with httpx.Client(timeout=5) as http:
            response = http.get(world.poll_url, headers=headers)
        with pytest.raises(json.JSONDecodeError):
            response.json()
    else:
        with (
            requests.Session() as session,
            session.get(world.poll_url, headers=headers) as rr,
            pytest.raises(requests.exceptions.JSONDecodeError),
        ):
            rr.json()


def test_empty_body(world, real_call):
    world.mock.add_fault("empty_body", route="poll", times=1)

    reply = real_call("GET", world.poll_url, headers=world.mock.auth_headers)

    assert reply.status_code == 200
    assert reply.content == b""
    assert reply.headers["content-length"] == "0"


# -- slow answers (real time, kept short) --------------------------------------------------------


def test_latency_delays_the_whole_response(world, real_call):
    world.mock.add_fault("latency", seconds=0.3, route="poll", times=1)

    reply = real_call("GET", world.poll_url, headers=world.mock.auth_headers)  # real-time: 0.3 s

    assert reply.status_code == 200
    assert json.loads(reply.content)["data"]["status"] == "pending"
    assert reply.elapsed >= 0.3
    assert world.mock.journal.last.fault == "latency"


def test_slow_body_arrives_complete_but_slowly(world, real_call):
    complete = normal_poll(world).content
    world.mock.add_fault("slow_body", seconds=0.4, route="poll", times=1)

    reply = real_call("GET", world.poll_url, headers=world.mock.auth_headers)  # real-time: drip

    assert reply.status_code == 200
    assert reply.content == complete
    assert reply.elapsed >= 0.4 * 0.95


def test_slow_body_trips_a_shorter_read_timeout(own_world, lib):
    # The body drips in 10 pieces, one every 0.05 s; a 0.02 s read timeout fires first.
    own_world.mock.add_fault("slow_body", seconds=0.5, route="poll", times=1)
    headers = own_world.mock.auth_headers

    if lib == "httpx":
        with httpx.Client(timeout=0.02) as http, pytest.raises(httpx.ReadTimeout) as caught:
            http.get(own_world.poll_url, headers=headers)  # real-time: 0.02 s timeout
        assert type(caught.value) is httpx.ReadTimeout
    else:
        # requests turns a read timeout *inside the body* into ConnectionError (the headers
        # had already arrived), wrapping urllib3's ReadTimeoutError.
        with requests.Session() as session, pytest.raises(requests.ConnectionError) as caught:
            session.get(own_world.poll_url, headers=headers, timeout=0.02)  # real-time: timeout
        assert type(caught.value) is requests.ConnectionError
        assert isinstance(caught.value.args[0], urllib3.exceptions.ReadTimeoutError)


def test_hang_times_the_client_out_and_the_server_keeps_serving(own_world, lib):
    own_world.mock.add_fault("hang", seconds=0.5, route="poll", times=1)
    headers = own_world.mock.auth_headers

    if lib == "httpx":
        with httpx.Client(timeout=0.1) as http, pytest.raises(httpx.ReadTimeout) as caught:
            http.get(own_world.poll_url, headers=headers)  # real-time: 0.1 s client timeout
        assert type(caught.value) is httpx.ReadTimeout
    else:
        with requests.Session() as session, pytest.raises(requests.ReadTimeout) as caught:
            session.get(own_world.poll_url, headers=headers, timeout=0.1)  # real-time: timeout
        assert type(caught.value) is requests.ReadTimeout

    started = time.perf_counter()
    response = normal_poll(own_world)
    assert response.status_code == 200
    assert time.perf_counter() - started < 0.3  # not queued behind the hung request


def test_hang_ends_in_a_gateway_timeout_when_the_client_waits(world, real_call):
    world.mock.add_fault("hang", seconds=0.3, route="poll", times=1)

    reply = real_call("GET", world.poll_url, headers=world.mock.auth_headers)  # real-time: 0.3 s

    assert reply.elapsed >= 0.3
    assert reply.status_code == 504
    assert json.loads(reply.content) == {"code": 504, "message": DEFAULT_MESSAGES[504]}
    entry = world.mock.journal.last
    assert (entry.status, entry.fault, entry.outcome) == (504, "hang", "hang")


# -- phase "after": the double-charge trap -----------------------------------------------------


@pytest.mark.parametrize("phase", ["before", "after"])
def test_submit_500_phase_decides_whether_the_task_exists(shared_server, real_call, phase):
    world = shared_server
    world.mock.add_fault("error", status=500, route="submit", phase=phase, times=1)

    reply = real_call("POST", world.submit_url, headers=world.mock.auth_headers, json=BODY)

    assert reply.status_code == 500
    assert json.loads(reply.content) == {"code": 500, "message": "Internal server error"}
    tasks = world.mock.tasks()
    (entry,) = world.mock.journal.entries(route="submit")
    assert (entry.status, entry.fault) == (500, "error:500")
    if phase == "before":
        assert tasks == []
        assert entry.task_id is None
    else:
        # The service handled the submit and the answer was lost: the client saw a 500,
        # but it was charged for a task. A client that resubmits pays twice.
        assert len(tasks) == 1
        assert tasks[0].params == BODY
        assert entry.task_id == tasks[0].task_id
        assert json.loads(entry.response_body) == {"code": 500, "message": "Internal server error"}


@pytest.mark.parametrize(
    ("kind", "phase", "raises"),
    [
        ("reset", "after", httpx.ReadError),
        ("close_after_headers", "before", httpx.RemoteProtocolError),
        ("close_mid_body", "before", httpx.RemoteProtocolError),
        ("truncated_json", "before", None),
        ("empty_body", "before", None),
    ],
)
def test_a_lost_submit_answer_still_created_the_task(shared_server, kind, phase, raises):
    # Whatever broke the answer, the service did its work: the task exists, and the
    # journal names it, so a test (or the retry auditor) can see the client never learnt it.
    mock = shared_server.mock
    mock.add_fault(kind, route="submit", phase=phase, times=1)
    with httpx.Client(timeout=5) as http:
        if raises is None:
            response = http.post(shared_server.submit_url, json=BODY, headers=mock.auth_headers)
            assert response.status_code == 200
            with pytest.raises(json.JSONDecodeError):
                response.json()
        else:
            with pytest.raises(raises):
                http.post(shared_server.submit_url, json=BODY, headers=mock.auth_headers)
        # A later request, so that the broken one has surely been journaled (see
        # test_journal_has_the_entry_when_the_client_sees_the_break for why that matters).
        http.get(shared_server.task_url("task-unknown"), headers=mock.auth_headers)

    (task,) = mock.tasks()
    (entry,) = mock.journal.entries(route="submit")
    assert entry.task_id == task.task_id
    assert entry.fault == kind


@pytest.mark.parametrize("kind", ["reset", "close_after_headers", "close_mid_body"])
def test_journal_has_the_entry_when_the_client_sees_the_break(world, kind):
    # A test inspects the journal right after its client failed; the entry must be there
    # by then, every time (a race here makes client tests flaky, so try it many times).
    mock = world.mock
    headers = {**mock.auth_headers, "X-Mock-Fault": kind}
    missing = 0
    with httpx.Client(timeout=5) as http:
        for attempt in range(60):
            with pytest.raises(httpx.TransportError):
                http.get(world.poll_url, headers=headers)
            missing += len(mock.journal.entries(route="poll")) != attempt + 1
    assert missing == 0, f"{missing} of 60 broken requests were not yet in the journal"
    assert {e.fault for e in mock.journal.entries(route="poll")} == {kind}
