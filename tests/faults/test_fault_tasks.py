"""Task and result faults: what a client polling and downloading sees, injected three ways
— a fault rule on the submit route, a magic `video_url` (`?mock=...`), and the
`X-Mock-Fault` header on the submit — on a manual clock (1 s pending + 2 s processing)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from vidu_lipsync_mock.faults import DEFAULT_MESSAGES
from vidu_lipsync_mock.media.mp4info import Mp4Error, probe_mp4
from vidu_lipsync_mock.service.magic import MAGIC_SCENARIOS
from vidu_lipsync_mock.service.tasks import TransitionError

NORMAL_END = 3.0  # pending 1 s + processing 2 s, the mock's defaults
RETENTION = 604_800.0  # the default: 7 days
VIAS = ("rule", "magic", "header")


def header_for(scenario: str) -> str:
    fault = MAGIC_SCENARIOS[scenario]
    return "; ".join([fault.kind, *(f"{name}={value}" for name, value in fault.options.items())])


class World:
    """One mock, its API client, and a way to submit a task with a given fault."""

    def __init__(self, api: Any, via: str) -> None:
        self.api = api
        self.mock = api.mock
        self.via = via
        self.start = self.mock.now()

    def submit_faulted(self, scenario: str) -> str:
        """Submit one task with the fault the magic scenario names (same options all ways)."""
        fault = MAGIC_SCENARIOS[scenario]
        if self.via == "rule":
            self.mock.add_fault(fault.kind, route="submit", times=1, **fault.options)
            return self.api.submit()
        if self.via == "magic":
            url = f"https://example.com/talk.mp4?mock={scenario}"
            return self.api.submit({"video_url": url})
        return self.api.submit(headers={"X-Mock-Fault": header_for(scenario)})

    def submit_pair(self, scenario: str) -> tuple[str, str]:
        """(faulted task, an ordinary task submitted right after it)."""
        return self.submit_faulted(scenario), self.api.submit()

    def status(self, task_id: str) -> str:
        status: str = self.api.data(task_id)["status"]
        return status

    def at(self, seconds_after_start: float) -> None:
        self.mock.set_time(self.start + seconds_after_start)

    def download(self, task_id: str) -> httpx.Response:
        url = self.api.data(task_id)["result"]["resources"][0]["url"]
        response: httpx.Response = self.api.get(url)
        return response


@pytest.fixture(params=VIAS)
def world(request: pytest.FixtureRequest, make_mock: Callable[..., Any], api: Any) -> World:
    mock = make_mock(seed=3)
    return World(api(mock), request.param)


# -- task faults -------------------------------------------------------------------------------


def test_task_fail_ends_failed_with_the_message(world):
    task_id, control = world.submit_pair("fail")
    assert world.api.data(task_id)["status"] == "pending"

    world.at(NORMAL_END)

    data = world.api.data(task_id)
    assert data["status"] == "failed"
    assert data["error_message"] == "Task failed: no face detected in the video"
    assert "result" not in data
    assert "billing" not in data
    assert data["end_time"] == round((world.start + NORMAL_END) * 1000)
    assert world.status(control) == "success"


def test_task_stuck_pending_never_starts(world):
    task_id, control = world.submit_pair("stuck-pending")

    world.at(3600)  # an hour: far past any end, well inside the 7-day retention

    data = world.api.data(task_id)
    assert data["status"] == "pending"
    assert "end_time" not in data
    assert world.status(control) == "success"
    with pytest.raises(TransitionError):
        world.mock.run_until_terminal(task_id)  # no amount of time finishes it


def test_task_stuck_processing_never_finishes(world):
    task_id, control = world.submit_pair("stuck-processing")

    world.at(1.0)
    assert world.status(task_id) == "processing"
    world.at(3600)

    data = world.api.data(task_id)
    assert data["status"] == "processing"
    assert "end_time" not in data
    assert world.status(control) == "success"


def test_task_slow_takes_twenty_times_as_long(world):
    task_id, control = world.submit_pair("slow")

    world.at(NORMAL_END)
    assert world.status(control) == "success"
    assert world.status(task_id) == "pending"  # 1 s pending became 20 s
    world.at(20 * NORMAL_END - 0.5)
    assert world.status(task_id) == "processing"
    world.at(20 * NORMAL_END)

    data = world.api.data(task_id)
    assert data["status"] == "success"
    assert data["duration"] == 20 * NORMAL_END * 1000


def test_task_not_found_for_the_first_polls(world, expect_error):
    task_id, control = world.submit_pair("not-found-first")
    assert task_id in [t.task_id for t in world.mock.tasks()]  # it exists all along

    for _ in range(2):
        expect_error(
            world.api.poll(task_id),
            404,
            f"Resource not found: task '{task_id}' does not exist or has expired",
        )

    for _ in range(2):
        response = world.api.poll(task_id)
        assert response.status_code == 200, response.text
        assert response.json()["data"]["task_id"] == task_id
    assert world.api.poll(control).status_code == 200  # the first poll of an ordinary task


def test_expire_early_drops_the_task_and_its_file(world, expect_error):
    task_id, control = world.submit_pair("expire-early")
    world.at(NORMAL_END)
    finished = world.start + NORMAL_END
    data = world.api.data(task_id)
    assert data["result_expires_at"] == round((finished + 60) * 1000)
    url = data["result"]["resources"][0]["url"]

    world.mock.set_time(finished + 59)
    assert world.api.poll(task_id).status_code == 200
    assert world.api.get(url).status_code == 200

    world.mock.set_time(finished + 60)
    expect_error(world.api.poll(task_id), 404)
    expect_error(world.api.get(url), 404)
    assert task_id not in [t.task_id for t in world.mock.tasks()]
    control_data = world.api.data(control)  # an ordinary task keeps the 7-day retention
    assert control_data["result_expires_at"] == round((finished + RETENTION) * 1000)


# -- result faults -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [403, 404, 500])
def test_result_error_on_the_download(world, expect_error, status):
    task_id, control = world.submit_pair(f"result-{status}")
    world.at(NORMAL_END)
    assert world.status(task_id) == "success"  # the task itself looks fine

    expect_error(world.download(task_id), status, DEFAULT_MESSAGES[status])

    assert world.download(control).status_code == 200


@pytest.mark.parametrize("scenario", ["result-truncated", "result-corrupt"])
def test_damaged_result_is_not_a_valid_mp4(world, scenario):
    task_id, control = world.submit_pair(scenario)
    world.at(NORMAL_END)
    good = world.download(control)
    probe_mp4(good.content)  # the ordinary result is a valid MP4

    damaged = world.download(task_id)

    assert damaged.status_code == 200
    assert damaged.headers["content-type"] == "video/mp4"
    assert damaged.content != good.content
    with pytest.raises(Mp4Error):
        probe_mp4(damaged.content)


# -- result_slow: real time, kept short ------------------------------------------------------


@pytest.mark.parametrize("via", ["rule", "header"])
def test_result_slow_download_is_complete_but_slow(make_mock, api, via):
    client = api(make_mock(seed=3))
    mock = client.mock
    if via == "rule":
        mock.add_fault("result_slow", seconds=0.3, route="submit", times=1)
        task_id = client.submit()
    else:
        task_id = client.submit(headers={"X-Mock-Fault": "result_slow; seconds=0.3"})
    control = client.submit()
    mock.run_until_terminal()
    urls = [client.data(t)["result"]["resources"][0]["url"] for t in (task_id, control)]
    expected = client.get(urls[1]).content

    started = time.perf_counter()
    response = client.get(urls[0])  # real-time: the 0.3 s drip
    elapsed = time.perf_counter() - started

    assert response.status_code == 200
    assert response.content == expected
    assert elapsed >= 0.3 * 0.95


def test_magic_result_slow_trips_a_short_read_timeout(serve):
    # The magic scenario drips over 3 s (20 pieces, one every 0.15 s): too long to wait
    # for, but a 0.05 s read timeout shows it without waiting.
    world = serve(seed=3)
    task_id = world.submit({"video_url": "https://example.com/talk.mp4?mock=result-slow"})
    world.mock.run_until_terminal()
    headers = world.mock.auth_headers
    with httpx.Client(timeout=httpx.Timeout(5.0, read=0.05)) as http:
        data = http.get(world.task_url(task_id), headers=headers).json()["data"]
        with http.stream("GET", data["result"]["resources"][0]["url"]) as response:
            assert response.status_code == 200
            with pytest.raises(httpx.ReadTimeout):
                response.read()  # real-time: 0.05 s read timeout
    assert world.mock.task(task_id).result_fault == MAGIC_SCENARIOS["result-slow"]


# -- magic details -----------------------------------------------------------------------------


def test_magic_scenarios_combine(make_mock, api):
    client = api(make_mock(seed=3))
    task_id = client.submit({"video_url": "https://example.com/talk.mp4?mock=slow,fail"})
    client.mock.set_time(client.mock.now() + NORMAL_END)
    assert client.data(task_id)["status"] == "pending"
    client.mock.advance(20 * NORMAL_END - NORMAL_END)
    data = client.data(task_id)
    assert data["status"] == "failed"
    assert data["duration"] == 20 * NORMAL_END * 1000


def test_magic_scenario_in_the_fragment(make_mock, api):
    client = api(make_mock(seed=3))
    task_id = client.submit({"video_url": "https://example.com/talk.mp4#mock=fail"})
    client.mock.advance(NORMAL_END)
    assert client.data(task_id)["status"] == "failed"


def test_unknown_magic_scenario_is_refused_without_a_task(make_mock, api, expect_error):
    client = api(make_mock(seed=3))
    response = client.submit_raw({"video_url": "https://example.com/talk.mp4?mock=explode"})
    message = expect_error(response, 400)
    assert message.startswith("Invalid parameters: unknown mock scenario 'explode'")
    assert client.mock.tasks() == []
