"""Fast-forward: the client under test sleeps between polls; nobody waits.

While fast-forward is on, `time.sleep` and `asyncio.sleep` on the test's thread advance
the mock's clock instead of blocking, and `time.time`/`time.monotonic` on that thread run
ahead by as much, so the client's own deadline arithmetic still works.
"""

from __future__ import annotations

import time

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock

SUBMIT = "/api/v1/vidu/lip-sync/async"


def wait_for_video(client: httpx.Client, *, interval: float = 10.0, deadline: float = 600) -> str:
    """The code under test: a polite poller with a deadline, as a real client has."""
    task = client.post(SUBMIT, json={"video_url": "https://example.com/a.mp4"}).json()["data"]
    give_up = time.monotonic() + deadline
    while time.monotonic() < give_up:
        data = client.get(task["get_result"]["url"]).json()["data"]
        if data["status"] == "success":
            url: str = data["result"]["resources"][0]["url"]
            return url
        if data["status"] == "failed":
            raise RuntimeError(data.get("error_message"))
        time.sleep(interval)
    raise TimeoutError(task["task_id"])


@pytest.mark.lipsync(preset="realistic", fast_forward=True)
def test_a_two_minute_task_in_milliseconds(
    lipsync_client: httpx.Client, lipsync_mock: LipSyncMock
) -> None:
    started = lipsync_mock.now()
    wall = time.perf_counter()

    assert wait_for_video(lipsync_client).endswith("/result.mp4")

    assert lipsync_mock.now() - started == 120  # twelve sleeps of 10 s on the mock's clock
    assert time.perf_counter() - wall >= 120  # the client's clock agrees...


def test_fast_forward_as_a_context_manager(
    lipsync_client: httpx.Client, lipsync_mock: LipSyncMock
) -> None:
    with lipsync_mock.fast_forward() as forward:
        wait_for_video(lipsync_client, interval=0.5)
    assert forward.sleeps == [0.5] * 6  # the default 1 s + 2 s, polled every 0.5 s


@pytest.mark.lipsync(progression="manual", fast_forward=True)
def test_the_clients_deadline_still_fires(lipsync_client: httpx.Client) -> None:
    with pytest.raises(TimeoutError):
        wait_for_video(lipsync_client, deadline=3600)  # an hour of polling, instantly
