"""Real HTTP clients over a real loopback socket: the whole submit → poll → download flow
with httpx, requests, urllib and httpx.AsyncClient, the clock advanced by the test; and the
server's start/stop lifecycle."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import requests

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.media.mp4info import probe_mp4

SUBMIT_PATH = "/api/v1/vidu/lip-sync/async"
BODY = {
    "video_url": "https://example.com/presenter.mp4",
    "audio_url": "https://example.com/voiceover.mp3",
    "reference_face_image_url": "https://example.com/face.jpg",
}
THREAD_PREFIX = "vidu-lipsync-mock:"


class Reply:
    """What any client library got back, reduced to what the checks need."""

    def __init__(self, method: str, url: str, status: int, headers: Any, body: bytes) -> None:
        self.method = method
        self.url = url
        self.status = status
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


Call = Callable[..., Reply]


def _with_httpx() -> Iterator[Call]:
    with httpx.Client(timeout=10) as http:

        def call(method: str, url: str, headers: dict[str, str], json_body: Any = None) -> Reply:
            r = http.request(method, url, headers=headers, json=json_body)
            return Reply(method, url, r.status_code, r.headers, r.content)

        yield call


def _with_requests() -> Iterator[Call]:
    with requests.Session() as session:

        def call(method: str, url: str, headers: dict[str, str], json_body: Any = None) -> Reply:
            with session.request(method, url, headers=headers, json=json_body, timeout=10) as r:
                return Reply(method, url, r.status_code, r.headers, r.content)

        yield call


def _with_urllib() -> Iterator[Call]:
    def call(method: str, url: str, headers: dict[str, str], json_body: Any = None) -> Reply:
        data = None
        headers = dict(headers)
        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return Reply(method, url, response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            with error:
                return Reply(method, url, error.code, error.headers, error.read())

    yield call


CLIENTS = {"httpx": _with_httpx, "requests": _with_requests, "urllib": _with_urllib}


@pytest.fixture(params=sorted(CLIENTS))
def call(request) -> Iterator[Call]:
    yield from CLIENTS[request.param]()


def _checked(contract, reply: Reply) -> Reply:
    contract.check_raw(
        reply.method, urlsplit(reply.url).path, reply.status, reply.headers, reply.body
    )
    return reply


def test_submit_poll_download_with_a_real_client(served, mock, contract, call):
    auth = mock.auth_headers
    submitted = _checked(contract, call("POST", served + SUBMIT_PATH, auth, BODY))
    assert submitted.status == 200
    task = submitted.json()["data"]
    poll_url = task["get_result"]["url"]
    assert poll_url == f"{served}/api/v1/tasks/{task['task_id']}"

    statuses = []
    for _ in range(10):  # bounded: the clock, not the wall, moves the task on
        reply = _checked(contract, call("GET", poll_url, auth))
        assert reply.status == 200
        data = reply.json()["data"]
        assert data["task_id"] == task["task_id"]
        statuses.append(data["status"])
        if data["status"] in ("success", "failed"):
            break
        mock.advance(1)
    assert statuses == ["pending", "processing", "processing", "success"]

    (resource,) = data["result"]["resources"]
    assert resource["url"].startswith(served + "/")
    download = _checked(contract, call("GET", resource["url"], {}))
    assert download.status == 200
    assert download.headers["content-type"] == "video/mp4"
    assert int(download.headers["content-length"]) == len(download.body)
    info = probe_mp4(download.body)
    assert info.video is not None
    assert (info.video.width, info.video.height) == (resource["width"], resource["height"])
    assert info.audio is not None, "a lip-synced result carries the new audio track"
    assert info.audio.sample_rate > 0
    assert info.duration_ms > 0

    part = _checked(contract, call("GET", resource["url"], {"Range": "bytes=0-99"}))
    assert part.status == 206
    assert part.body == download.body[:100]
    assert part.headers["content-range"] == f"bytes 0-99/{len(download.body)}"


def test_errors_reach_a_real_client_as_the_envelope(served, mock, contract, call):
    no_auth = _checked(contract, call("POST", served + SUBMIT_PATH, {}, BODY))
    assert no_auth.status == 401
    assert no_auth.json() == {"code": 401, "message": "Authentication failed: invalid API key"}
    missing = _checked(contract, call("POST", served + SUBMIT_PATH, mock.auth_headers, {}))
    assert missing.status == 400
    assert missing.json() == {
        "code": 400,
        "message": "Invalid parameters: parameter 'video_url' is required",
    }
    gone = _checked(contract, call("GET", served + "/api/v1/tasks/task-x", mock.auth_headers))
    assert gone.status == 404
    assert gone.json()["code"] == 404


def test_a_bug_in_a_route_is_a_500_envelope_and_the_server_keeps_serving(make_mock, monkeypatch):
    mock = make_mock()
    url = mock.start()
    headers = mock.auth_headers

    def broken(model_id: str) -> None:
        raise RuntimeError("bug in the mock")

    task_id = requests.post(url + SUBMIT_PATH, json=BODY, headers=headers, timeout=10).json()[
        "data"
    ]["task_id"]
    mock.force(task_id, "success")
    monkeypatch.setattr(mock, "result_media", broken)
    crashed = requests.get(f"{url}/api/v1/tasks/{task_id}", headers=headers, timeout=10)
    assert crashed.status_code == 500
    assert crashed.json() == {"code": 500, "message": "Internal server error"}
    last = mock.journal.last
    assert last is not None
    assert last.status == 500
    monkeypatch.undo()
    again = requests.get(f"{url}/api/v1/tasks/{task_id}", headers=headers, timeout=10)
    assert again.json()["data"]["status"] == "success"
    assert [(c.method, c.path) for c in mock.crashes] == [("GET", f"/api/v1/tasks/{task_id}")]
    assert "bug in the mock" in mock.crashes[0].traceback
    mock.crashes.clear()  # seen: the fixture's teardown check would fail the test otherwise


def test_async_client_over_the_socket(served, mock, contract):
    async def flow() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=served, timeout=10) as http:
            submits = await asyncio.gather(
                *(
                    http.post(SUBMIT_PATH, json={"video_url": f"v{i}"}, headers=mock.auth_headers)
                    for i in range(10)
                )
            )
            for r in submits:
                contract.check(r)
            urls = [r.json()["data"]["get_result"]["url"] for r in submits]
            mock.run_until_terminal()
            polls = await asyncio.gather(*(http.get(u, headers=mock.auth_headers) for u in urls))
            for r in polls:
                contract.check(r)
            data = [r.json()["data"] for r in polls]
            files = await asyncio.gather(
                *(http.get(d["result"]["resources"][0]["url"]) for d in data)
            )
            for r in files:
                contract.check(r)
                assert r.status_code == 200
                assert probe_mp4(r.content).video is not None
            return data

    data = asyncio.run(flow())
    assert [d["status"] for d in data] == ["success"] * 10
    assert len({d["task_id"] for d in data}) == 10


# --- the server's lifecycle ---------------------------------------------------------------


def _port_closed(port: int) -> bool:
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=2)
    except ConnectionRefusedError:
        return True
    sock.close()
    return False


def _server_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]


def test_start_stop_twenty_times_leaves_nothing_behind(make_mock):
    mock = make_mock()
    task_id = None
    for cycle in range(20):
        url = mock.start()
        port = urlsplit(url).port
        assert urlsplit(url).hostname == "127.0.0.1"
        assert port
        assert _server_threads() == [f"{THREAD_PREFIX}{port}"]
        assert mock.start() == url, "start() on a running mock is a no-op"
        with httpx.Client(base_url=url, timeout=10) as http:
            if task_id is None:
                response = http.post(SUBMIT_PATH, json=BODY, headers=mock.auth_headers)
                task_id = response.json()["data"]["task_id"]
            # The tasks belong to the mock, not to one server run.
            polled = http.get(f"/api/v1/tasks/{task_id}", headers=mock.auth_headers)
            assert polled.status_code == 200, (cycle, polled.text)
        mock.stop()
        assert _server_threads() == []
        assert _port_closed(port), f"port {port} still accepts connections after stop()"
        with pytest.raises(RuntimeError):
            _ = mock.url
    mock.stop()  # stopping a stopped mock is harmless


def test_stop_with_a_client_connection_still_open(make_mock):
    """A keep-alive connection left open by a client must not keep the server alive."""
    mock = make_mock()
    url = mock.start()
    port = urlsplit(url).port
    assert port
    with httpx.Client(base_url=url, timeout=10) as http:
        assert http.get("/openapi.json").status_code == 200
        mock.stop()
        assert _server_threads() == []
        assert _port_closed(port)
        with pytest.raises(httpx.TransportError):
            http.get("/openapi.json")


def test_two_mocks_serve_side_by_side_without_sharing_tasks(make_mock):
    one, two = make_mock(), make_mock()
    url_one, url_two = one.start(), two.start()
    assert url_one != url_two
    with httpx.Client(timeout=10) as http:
        task_id = http.post(url_one + SUBMIT_PATH, json=BODY, headers=one.auth_headers).json()[
            "data"
        ]["task_id"]
        assert http.get(f"{url_one}/api/v1/tasks/{task_id}", headers=one.auth_headers).is_success
        other = http.get(f"{url_two}/api/v1/tasks/{task_id}", headers=two.auth_headers)
        assert other.status_code == 404


def test_context_manager_serves_then_stops():
    with LipSyncMock(clock="manual") as mock:
        port = urlsplit(mock.url).port
        assert port
        with httpx.Client(base_url=mock.url, timeout=10) as http:
            assert http.get("/openapi.json").status_code == 200
    assert _server_threads() == []
    assert _port_closed(port)
    assert not mock.crashes
