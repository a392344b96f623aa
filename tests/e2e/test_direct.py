"""Answers written from the HTTP protocol (`http/direct.py`).

The protocol is driven by hand first, with a transport that records what is written: an
answer written before the event loop has run at all was written directly, without a
cycle or a task; anything that must go through uvicorn writes nothing until the loop runs.
Then over real sockets on 127.0.0.1: a direct answer is byte for byte the answer uvicorn
would have sent, and pipelined requests are answered in order whichever way each goes.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.server import uvicorn_config

SUBMIT_PATH = "/api/v1/vidu/lip-sync/async"
SUBMIT_BODY = json.dumps(
    {"video_url": "https://example.com/a.mp4", "audio_url": "https://example.com/a.mp3"}
).encode()


class RecordingTransport(asyncio.Transport):
    """What the protocol writes, in order; a loopback peer, never closed by the test."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        addresses = {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}
        return addresses.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return False


def request(method: str, path: str, key: str, body: bytes = b"", **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1:8000", f"Authorization: Bearer {key}"]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.fixture
def driven(
    make_mock: Callable[..., LipSyncMock],
) -> Iterator[
    Callable[..., tuple[LipSyncMock, Any, RecordingTransport, asyncio.AbstractEventLoop]]
]:
    """`driven(**settings)`: a mock, its server's protocol on a recording transport, and
    the (not running) loop the protocol schedules on."""
    loops: list[asyncio.AbstractEventLoop] = []

    def drive(
        **settings: Any,
    ) -> tuple[LipSyncMock, Any, RecordingTransport, asyncio.AbstractEventLoop]:
        mock = make_mock(**settings)
        config: uvicorn.Config = uvicorn_config(mock.app)
        config.load()
        loop = asyncio.new_event_loop()
        loops.append(loop)
        protocol = config.http_protocol_class(  # type: ignore[call-arg]
            config=config, server_state=ServerState(), app_state={}, _loop=loop
        )
        transport = RecordingTransport()
        protocol.connection_made(transport)
        return mock, protocol, transport, loop

    yield drive
    for loop in loops:
        loop.close()


def run_loop_briefly(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(asyncio.sleep(0.05))  # real-time: lets scheduled tasks finish


def test_plain_requests_are_answered_without_a_cycle_and_written_at_the_turns_end(
    driven: Any,
) -> None:
    mock, protocol, transport, loop = driven()
    protocol.data_received(request("POST", SUBMIT_PATH, mock.api_key, SUBMIT_BODY))
    assert protocol.cycle is None, "uvicorn's cycle answered the submit"
    assert not protocol.tasks
    assert mock.journal.entries()[-1].route == "submit"  # answered, journaled, held
    assert transport.written == []
    run_loop_briefly(loop)
    (answer,) = transport.written  # in one piece
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    task_id = json.loads(body)["data"]["task_id"]
    assert mock.journal.entries()[-1].task_id == task_id  # journaled as through ASGI

    polls = [request("GET", f"/api/v1/tasks/{tid}", mock.api_key) for tid in (task_id, "task-x")]
    protocol.data_received(b"".join(polls))
    assert protocol.cycle is None
    run_loop_briefly(loop)
    statuses = [json.loads(w.partition(b"\r\n\r\n")[2])["code"] for w in transport.written[1:]]
    assert statuses == [0, 404]  # both, in the order asked


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (lambda key: request("HEAD", "/api/v1/tasks/task-x", key), "a HEAD"),
        (
            lambda key: request(
                "GET", "/api/v1/tasks/t", key, X_Mock_Fault="latency; seconds=0.01"
            ),
            "a fault",
        ),
        (lambda key: request("GET", "/api/v1/tasks/t", key, X_Forwarded_For="10.0.0.1"), "proxy"),
        (lambda key: request("POST", SUBMIT_PATH, key, SUBMIT_BODY)[:-5], "a partial body"),
        (lambda key: request("GET", "/_mock/health", key), "the admin API"),
    ],
)
def test_what_is_not_plain_goes_through_uvicorn(
    driven: Any, raw: Callable[[str], bytes], why: str
) -> None:
    mock, protocol, transport, loop = driven()
    protocol.data_received(raw(mock.api_key))
    if why == "a partial body":
        protocol.data_received(SUBMIT_BODY[-5:])
    assert protocol.cycle is not None, f"{why} was answered without uvicorn's cycle"
    run_loop_briefly(loop)
    assert transport.written, f"{why} was never answered"


def test_a_crash_goes_through_uvicorn_and_closes_as_before(
    driven: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock, protocol, transport, loop = driven()

    def broken(task_id: str) -> None:
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(mock, "poll", broken)
    protocol.data_received(request("GET", "/api/v1/tasks/task-1", mock.api_key))
    assert transport.written == []
    run_loop_briefly(loop)
    assert b"".join(transport.written).startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert transport.closed  # as uvicorn does after an app raised
    (crash,) = mock.crashes
    assert "RuntimeError: a bug of ours" in crash.traceback
    mock.crashes.clear()  # seen: the fixture fails a test on an unexpected crash


# -- over real sockets -------------------------------------------------------------------


def read_responses(sock: socket.socket, count: int) -> list[tuple[bytes, bytes]]:
    """`count` responses (head, body) read off `sock`, framed by their content-length."""
    stream = sock.makefile("rb")
    responses = []
    for _ in range(count):
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            line = stream.readline()
            assert line, f"the server closed after {len(responses)} responses"
            head += line
        length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE)[1])  # type: ignore[index]
        responses.append((head, stream.read(length)))
    return responses


def comparable(head: bytes) -> bytes:
    """A head without what differs from one answer to the next: the date, the request
    number, the quota left."""
    return re.sub(rb"(date|x-request-id|x-ratelimit-remaining): [^\r]*", rb"\1: -", head)


@pytest.fixture
def live(make_mock: Callable[..., LipSyncMock]) -> Iterator[tuple[LipSyncMock, socket.socket]]:
    mock = make_mock(progression="manual")
    port = int(mock.start().rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    yield mock, sock
    sock.close()


def test_a_direct_answer_is_the_answer_uvicorn_sends(live: tuple[LipSyncMock, Any]) -> None:
    mock, sock = live
    key = mock.api_key
    task_id = mock.submit("vidu/lip-sync", json.loads(SUBMIT_BODY), key).task_id
    cases = [
        request("POST", SUBMIT_PATH, key, SUBMIT_BODY),
        request("GET", f"/api/v1/tasks/{task_id}", key),
        request("GET", "/api/v1/tasks/task-unknown", key),
        request("GET", "/api/v1/tasks/task-unknown", "mdlx-wrong"),
        request("DELETE", SUBMIT_PATH, key),
        request("POST", SUBMIT_PATH, key, b'{"video_url": 5}'),
    ]
    for raw in cases:
        direct = raw
        through_uvicorn = raw.replace(b"\r\n\r\n", b"\r\nX-Forwarded-For: 127.0.0.1\r\n\r\n", 1)
        sock.sendall(direct + through_uvicorn)
        (head_a, body_a), (head_b, body_b) = read_responses(sock, 2)
        if raw.startswith(b"POST") and b"200 OK" in head_a:  # two tasks: their ids differ
            body_a, body_b = (json.loads(b)["data"]["status"] for b in (body_a, body_b))
        assert comparable(head_a) == comparable(head_b)
        assert body_a == body_b


def test_pipelined_requests_are_answered_in_order_whichever_way_each_goes(
    live: tuple[LipSyncMock, Any],
) -> None:
    mock, sock = live
    key = mock.api_key
    slow = request("GET", "/api/v1/tasks/task-a", key, X_Mock_Fault="latency; seconds=0.2")
    plain = request("GET", "/api/v1/tasks/task-b", key)
    sock.sendall(slow + plain + plain.replace(b"task-b", b"task-c"))
    bodies = [json.loads(body)["message"] for _, body in read_responses(sock, 3)]
    assert ["task-a" in bodies[0], "task-b" in bodies[1], "task-c" in bodies[2]] == [True] * 3


# -- with a state file: answers wait for their commit ----------------------------------


def test_durable_answers_go_out_only_after_one_commit_for_the_batch(
    driven: Any, tmp_path: Any
) -> None:
    mock, protocol, transport, loop = driven(state_path=str(tmp_path / "state.db"))
    batch = request("POST", SUBMIT_PATH, mock.api_key, SUBMIT_BODY) * 3
    protocol.data_received(batch)
    assert transport.written == [], "an answer went out before its task was committed"
    assert mock.durability.uncommitted
    run_loop_briefly(loop)
    assert not mock.durability.uncommitted
    assert [w.startswith(b"HTTP/1.1 200 OK\r\n") for w in transport.written] == [True] * 3


def test_a_failed_commit_sends_none_of_its_answers(
    driven: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock, protocol, transport, loop = driven(state_path=str(tmp_path / "state.db"))
    monkeypatch.setattr(mock.durability, "commit_deferred", lambda: False)
    protocol.data_received(request("POST", SUBMIT_PATH, mock.api_key, SUBMIT_BODY))
    run_loop_briefly(loop)
    assert transport.written == []
    assert transport.closed  # the client sees a dropped connection, and retries


def test_a_graceful_shutdown_sends_the_answers_held_for_the_turn_then_closes(
    driven: Any,
) -> None:
    mock, protocol, transport, loop = driven()
    protocol.data_received(request("POST", SUBMIT_PATH, mock.api_key, SUBMIT_BODY))
    protocol.shutdown()  # the server stops while the answer waits for the turn's end
    assert not transport.closed
    run_loop_briefly(loop)
    (answer,) = transport.written
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.closed


def test_a_crash_after_a_durable_write_is_answered_only_once_the_write_is_committed(
    driven: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A submit that stored its task and then failed goes through uvicorn for its 500;
    the task it wrote is committed before that, as on every other answer."""
    from vidu_lipsync_mock.http import wire

    mock, protocol, transport, loop = driven(state_path=str(tmp_path / "state.db"))

    def broken(*args: Any) -> bytes:
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(wire, "submit_body", broken)
    protocol.data_received(request("POST", SUBMIT_PATH, mock.api_key, SUBMIT_BODY))
    assert not mock.durability.uncommitted, "the 500 went to uvicorn before the commit"
    run_loop_briefly(loop)
    assert b"".join(transport.written).startswith(b"HTTP/1.1 500 ")
    mock.crashes.clear()  # seen: the fixture fails a test on an unexpected crash
