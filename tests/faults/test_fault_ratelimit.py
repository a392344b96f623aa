"""The provider's rate limits: 100 requests per minute per key in fixed windows on the
mock's clock, the concurrency limit on submits, and the magic keys."""

from __future__ import annotations

import math
import time
from typing import Any

import httpx
import pytest

from vidu_lipsync_mock import make_api_key

RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


def quota(response: httpx.Response) -> tuple[int, int, int]:
    h = response.headers
    return int(h["x-ratelimit-limit"]), int(h["x-ratelimit-remaining"]), int(h["x-ratelimit-reset"])


def at_window_start(mock: Any) -> float:
    """Move the clock to the next whole minute (a new window); returns it."""
    boundary = float(math.floor(mock.now() / 60) * 60 + 60)
    mock.set_time(boundary)
    return boundary


def test_hundred_per_minute_then_429_until_the_window_resets(serve, expect_error):
    world = serve(retry_after_header=True)
    mock = world.mock
    task_id = world.submit()  # counted in the window before the one tested
    boundary = at_window_start(mock)
    reset = int(boundary + 60)
    headers = mock.auth_headers
    with httpx.Client(base_url=world.base, timeout=5, headers=headers) as http:
        remaining = []
        for i in range(100):
            response = (
                http.post("/api/v1/vidu/lip-sync/async", json={"video_url": "https://e.com/v.mp4"})
                if i % 10 == 0
                else http.get(f"/api/v1/tasks/{task_id}")
            )
            assert response.status_code == 200, (i, response.text)
            limit, left, reset_at = quota(response)
            assert (limit, reset_at) == (100, reset)
            remaining.append(left)
        assert remaining == list(range(99, -1, -1))
        tasks_before = len(mock.tasks())

        refused = http.post(
            "/api/v1/vidu/lip-sync/async", json={"video_url": "https://e.com/v.mp4"}
        )

        expect_error(
            refused, 429, "Rate limit exceeded: 100 requests per minute, retry after 60 seconds"
        )
        assert quota(refused) == (100, 0, reset)
        assert refused.headers["retry-after"] == "60"
        assert reset > time.time()  # Unix seconds in the future, like the provider's
        assert len(mock.tasks()) == tasks_before  # a refused submit creates nothing

        mock.advance(45)  # later in the same window: still refused, a shorter wait
        later = http.get(f"/api/v1/tasks/{task_id}")
        expect_error(
            later, 429, "Rate limit exceeded: 100 requests per minute, retry after 15 seconds"
        )
        assert later.headers["retry-after"] == "15"
        assert quota(later) == (100, 0, reset)

        mock.set_time(reset)  # the window resets

        again = http.get(f"/api/v1/tasks/{task_id}")
        assert again.status_code == 200
        assert quota(again) == (100, 99, reset + 60)


def test_retry_after_is_the_time_left_in_the_window(make_mock, api, expect_error):
    client = api(make_mock(rate_limit=3, retry_after_header=True))
    boundary = at_window_start(client.mock)
    client.mock.advance(17.25)
    for _ in range(3):
        assert client.poll("task-unknown").status_code == 404  # counted too
    refused = client.poll("task-unknown")
    expect_error(refused, 429, "Rate limit exceeded: 3 requests per minute, retry after 43 seconds")
    assert refused.headers["retry-after"] == "43"  # ceil(60 - 17.25)
    assert int(refused.headers["x-ratelimit-reset"]) == boundary + 60


def test_limits_are_per_key(make_mock, api, expect_error):
    client = api(make_mock(rate_limit=5))
    at_window_start(client.mock)
    other = make_api_key("secondkey")
    for _ in range(5):
        client.poll("task-x")
    expect_error(client.poll("task-x"), 429)

    response = client.poll("task-x", key=other)

    assert response.status_code == 404  # let through (and the task really is unknown)
    assert quota(response)[:2] == (5, 4)
    expect_error(client.poll("task-x"), 429)  # the first key is still refused


def test_rate_limit_zero_turns_limiting_and_its_headers_off(make_mock, api):
    client = api(make_mock(rate_limit=0))
    task_id = client.submit()
    responses = [client.poll(task_id) for _ in range(150)]
    assert {r.status_code for r in responses} == {200}
    for response in [*responses, client.submit_raw(), client.poll("task-unknown")]:
        assert not set(RATE_HEADERS) & set(response.headers)
        assert "retry-after" not in response.headers


def test_every_admitted_answer_carries_the_quota(make_mock, api):
    client = api(make_mock())
    ok = client.submit_raw()
    missing = client.poll("task-unknown")
    bad = client.submit_raw({"video_url": ""})
    assert [r.status_code for r in (ok, missing, bad)] == [200, 404, 400]
    assert [quota(r)[1] for r in (ok, missing, bad)] == [99, 98, 97]


# -- concurrency --------------------------------------------------------------------------------


def test_concurrent_task_limit(make_mock, api, expect_error):
    client = api(make_mock(max_concurrent_tasks=2, retry_after_header=True))
    mock = client.mock
    first, second = client.submit(), client.submit()

    refused = client.submit_raw()

    message = expect_error(refused, 429)
    assert "concurrent limit exceeded" in message
    assert message.startswith("Rate limit exceeded: ")
    assert refused.headers["retry-after"].isdigit()
    assert {t.task_id for t in mock.tasks()} == {first, second}
    other = make_api_key("otherteam")  # the limit is per key
    assert client.submit_raw(key=other).status_code == 200

    mock.force(first, "success")
    third = client.submit()  # one slot freed

    expect_error(client.submit_raw(), 429)  # second and third are unfinished
    mock.advance(3.0)  # both finish on the clock
    assert client.submit_raw().status_code == 200
    assert third in {t.task_id for t in mock.tasks()}


# -- magic keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "status"),
    [("mock401", 401), ("mock402", 402)],
)
def test_magic_keys_refuse(make_mock, api, expect_error, prefix, status):
    client = api(make_mock())
    key = make_api_key(prefix)  # mdlx-mock401 + zero padding: a well-formed key
    assert len(key) == len("mdlx-") + 48

    submit = client.submit_raw(key=key)
    poll = client.poll("task-anything", key=key)

    for response in (submit, poll):
        message = expect_error(response, status)
        if status == 401:
            assert message == "Authentication failed: invalid API key"
    assert client.mock.tasks() == []


def test_magic_rate_limit_key_allows_five_per_minute(make_mock, api, expect_error):
    client = api(make_mock())
    boundary = at_window_start(client.mock)
    key = make_api_key("mockratelimit")

    answers = [client.submit_raw(key=key) for _ in range(6)]

    assert [r.status_code for r in answers[:5]] == [200] * 5
    assert [quota(r) for r in answers[:5]] == [(5, n, int(boundary) + 60) for n in (4, 3, 2, 1, 0)]
    expect_error(
        answers[5], 429, "Rate limit exceeded: 5 requests per minute, retry after 60 seconds"
    )
    assert len(client.mock.tasks()) == 5
    assert client.submit_raw().status_code == 200  # an ordinary key keeps its 100


def test_magic_keys_are_checked_on_a_real_socket(serve, real_call):
    world = serve()
    for prefix, status in (("mock401", 401), ("mock402", 402)):
        reply = real_call(
            "GET",
            world.task_url("task-x"),
            headers={"Authorization": f"Bearer {make_api_key(prefix)}"},
        )
        assert reply.status_code == status
        assert reply.headers["content-type"].startswith("application/json")
