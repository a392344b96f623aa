"""What one connection may cost a real server (`http/transport_limits.py`), over real
sockets on 127.0.0.1: slow or silent clients are cut off, an oversized head gets 431, a
refused body's 413 reaches every common client library, excess connections get 503.

The timeouts here are a few tenths of a second, so each wait on the server is short; the
waits are real time, because what is tested is the server's own timer.
"""

from __future__ import annotations

import http.client
import json
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from vidu_lipsync_mock import LipSyncMock

SUBMIT_PATH = "/api/v1/vidu/lip-sync/async"
KEY = "mdlx-" + "K3y" * 16
AUTH = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
SHORT = 0.3  # seconds: every timeout under test
CUT_OFF_WITHIN = 3.0  # how long a test waits for the server to act on a SHORT timeout
BIG = 80 * 1024 * 1024


@pytest.fixture
def server(make_mock: Callable[..., LipSyncMock]) -> Callable[..., tuple[LipSyncMock, int]]:
    """`server(**settings)`: a mock on a real socket with SHORT timeouts; (mock, port)."""

    def start(**settings: Any) -> tuple[LipSyncMock, int]:
        for name in ("head_timeout_seconds", "body_timeout_seconds", "keep_alive_seconds"):
            settings.setdefault(name, SHORT)
        mock = make_mock(**settings)
        url = mock.start()
        return mock, int(url.rsplit(":", 1)[1])

    return start


@pytest.fixture
def connect() -> Iterator[Callable[[int], socket.socket]]:
    opened: list[socket.socket] = []

    def open_(port: int) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", port), timeout=CUT_OFF_WITHIN)
        opened.append(sock)
        return sock

    yield open_
    for sock in opened:
        sock.close()


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; fails if it keeps the socket open."""
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            pytest.fail(f"the server kept the connection open; got {received[:200]!r}")
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def parse(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, json.loads(body) if body else None


def head_of(size: int, path: str = "/api/v1/tasks/abc") -> bytes:
    """A GET whose request line and headers are exactly `size` bytes, blank line included."""
    start = f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nX-Pad: ".encode()
    pad = size - len(start) - 4
    assert pad >= 0
    return start + b"a" * pad + b"\r\n\r\n"


# --- slow and silent clients --------------------------------------------------------------


def test_a_connection_that_sends_nothing_is_closed(server, connect):
    _, port = server()
    sock = connect(port)
    started = time.monotonic()
    assert read_until_closed(sock) == b""  # no request, so no answer: just closed
    assert SHORT * 0.9 <= time.monotonic() - started < CUT_OFF_WITHIN


def test_a_slow_head_gets_408_and_is_closed(server, connect):
    _, port = server()
    sock = connect(port)
    started = time.monotonic()
    for byte in b"GET /api/v1/tasks/abc HTTP/1.1\r\n":
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            break  # closed under the slow client, as it should be
        time.sleep(0.05)  # real-time: a slowloris client, one byte at a time
    status, headers, body = parse(read_until_closed(sock))
    assert status == 408
    assert headers["connection"] == "close"
    assert body == {
        "code": 408,
        "message": f"Request timeout: the request line and headers did not arrive within {SHORT:g} s",
    }
    assert time.monotonic() - started < CUT_OFF_WITHIN


def test_a_slow_body_gets_408_and_is_closed(server, connect):
    mock, port = server()
    sock = connect(port)
    head = f"POST {SUBMIT_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
    sock.sendall(head.encode() + b"Authorization: Bearer " + KEY.encode() + b"\r\n\r\n{")
    started = time.monotonic()
    status, _, body = parse(read_until_closed(sock))
    assert status == 408
    assert body["message"] == f"Request timeout: the request body did not arrive within {SHORT:g} s"
    assert time.monotonic() - started < CUT_OFF_WITHIN
    deadline = time.monotonic() + CUT_OFF_WITHIN
    while not mock.journal.entries() and time.monotonic() < deadline:
        time.sleep(0.01)  # real-time: the app writes its entry once it sees the socket gone
    assert [e.outcome for e in mock.journal.entries()] == ["client_disconnected"]


def test_an_idle_keep_alive_connection_is_closed(server, connect):
    _, port = server()
    sock = connect(port)
    sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
    raw = read_until_closed(sock)
    assert raw.startswith(b"HTTP/1.1 200 ")


def test_a_request_in_time_is_served_on_a_reused_connection(server):
    _, port = server(head_timeout_seconds=5.0)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=CUT_OFF_WITHIN)
    try:
        for _ in range(3):
            connection.request("GET", "/openapi.json")
            response = connection.getresponse()
            assert response.status == 200
            response.read()
    finally:
        connection.close()


# --- the size of the head -----------------------------------------------------------------


@pytest.mark.parametrize("pieces", [1, 7], ids=["one-write", "seven-writes"])
def test_a_head_of_exactly_the_limit_is_served_and_one_byte_more_is_431(server, connect, pieces):
    _, port = server(max_header_bytes=2048, head_timeout_seconds=5.0)
    for size, expected in ((2048, 404), (2049, 431)):
        sock = connect(port)
        request = head_of(size)
        step = -(-len(request) // pieces)
        for start in range(0, len(request), step):
            sock.sendall(request[start : start + step])
        sock.shutdown(socket.SHUT_WR)
        status, headers, body = parse(read_until_closed(sock))
        assert status == expected, (size, body)
    assert headers["connection"] == "close"
    assert body == {
        "code": 431,
        "message": "Request header fields too large: the request line and headers exceed "
        "2048 bytes",
    }


def test_a_huge_header_gets_431_through_requests_and_http_client(server):
    mock, port = server(head_timeout_seconds=5.0)
    url = f"http://127.0.0.1:{port}/api/v1/tasks/abc"
    huge = {"X-Huge": "h" * (4 * 1024 * 1024), **AUTH}
    response = requests.get(url, headers=huge, timeout=CUT_OFF_WITHIN)
    assert response.status_code == 431
    assert response.json()["code"] == 431
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=CUT_OFF_WITHIN)
    try:
        connection.request("GET", "/api/v1/tasks/abc", headers=huge)
        answer = connection.getresponse()
        assert answer.status == 431
        assert json.loads(answer.read())["code"] == 431
    finally:
        connection.close()
    assert mock.journal.entries() == []  # refused below the app: never journaled


def test_pipelined_requests_in_one_write_are_each_measured_alone(server, connect):
    """Two heads of 1.5 KiB in one write are two heads under a 2 KiB limit, not one of 3."""
    _, port = server(max_header_bytes=2048, head_timeout_seconds=5.0)
    sock = connect(port)
    sock.sendall(head_of(1536) + head_of(1536) + b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n")
    sock.sendall(b"Connection: close\r\n\r\n")
    raw = read_until_closed(sock)
    assert raw.count(b"HTTP/1.1 404 ") == 2
    assert raw.count(b"HTTP/1.1 200 ") == 1


# --- a body over the limit ----------------------------------------------------------------


def stream(total: int = BIG, chunk: int = 64 * 1024) -> Iterator[bytes]:
    block = b"x" * chunk
    for _ in range(total // chunk):
        yield block


def via_http_client(port: int, chunked: bool) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {**AUTH, "Connection": "close"}
    if not chunked:
        headers["Content-Length"] = str(BIG)
    try:
        connection.request(
            "POST", SUBMIT_PATH, body=stream(), headers=headers, encode_chunked=chunked
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def via_urllib(port: int, chunked: bool) -> tuple[int, bytes]:
    headers = dict(AUTH) if chunked else {**AUTH, "Content-Length": str(BIG)}
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{SUBMIT_PATH}", data=stream(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def via_requests(port: int, chunked: bool) -> tuple[int, bytes]:
    class Sized:
        def __iter__(self) -> Iterator[bytes]:
            return stream()

        def __len__(self) -> int:
            return BIG

    data: Any = stream() if chunked else Sized()
    response = requests.post(
        f"http://127.0.0.1:{port}{SUBMIT_PATH}", data=data, headers=AUTH, timeout=30
    )
    return response.status_code, response.content


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("client", [via_http_client, via_urllib, via_requests])
def test_every_client_library_reads_the_413_of_an_80_mb_body(server, client, chunked):
    _, port = server(body_timeout_seconds=20.0)
    status, body = client(port, chunked)
    assert status == 413
    assert json.loads(body) == {
        "code": 413,
        "message": "Request too large: request body exceeds 1048576 bytes",
    }


def test_a_refused_body_that_stops_arriving_is_cut_off(server, connect):
    _, port = server()
    sock = connect(port)
    head = f"POST {SUBMIT_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {BIG}\r\n"
    head += f"Authorization: Bearer {KEY}\r\nConnection: close\r\n\r\n"
    sock.sendall(head.encode() + b"x" * 1000)
    started = time.monotonic()
    status, _, _ = parse(read_until_closed(sock))
    assert status == 413
    assert time.monotonic() - started < CUT_OFF_WITHIN


def test_a_keep_alive_connection_is_closed_once_idle_after_a_refused_body(server, connect):
    _, port = server(body_timeout_seconds=10.0)
    sock = connect(port)
    body = b"x" * (2 * 1024 * 1024)
    head = f"POST {SUBMIT_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
    head += f"Authorization: Bearer {KEY}\r\n\r\n"
    sock.sendall(head.encode() + body)
    status, _, _ = parse(read_until_closed(sock))
    assert status == 413


# --- the connection cap -------------------------------------------------------------------


def test_a_request_on_a_connection_beyond_the_cap_gets_503_and_the_connection_closes(
    server, connect
):
    _, port = server(max_connections=2, head_timeout_seconds=5.0)
    first, second = connect(port), connect(port)
    first.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
    assert first.recv(12) == b"HTTP/1.1 200"  # the first two are served: both are open now
    excess = connect(port)
    excess.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body = parse(read_until_closed(excess))
    assert status == 503
    assert headers["connection"] == "close"
    assert body == {
        "code": 503,
        "message": "Service unavailable: the server already has 2 open connections; retry later",
    }
    second.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
    assert second.recv(12) == b"HTTP/1.1 200"


# --- the process: stopping, the access log, one worker ------------------------------------


class ServeProcess:
    """`serve` in a subprocess with its stdout read line by line (the banner first)."""

    def __init__(self, stderr: Path, *args: str) -> None:
        argv = [sys.executable, "-m", "vidu_lipsync_mock", "serve", "--port", "0", *args]
        self.stderr = stderr.open("wb")
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.stderr
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        first = self.lines.get(timeout=20)
        match = re.fullmatch(r"vidu-lipsync-mock listening on (http://127\.0\.0\.1:\d+)", first)
        assert match, (first, stderr.read_text())
        self.url = match.group(1)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.put(raw.decode("utf-8", "replace").rstrip("\n"))

    def output(self) -> list[str]:
        lines = []
        while not self.lines.empty():
            lines.append(self.lines.get())
        return lines

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(15)
        self.reader.join(15)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self.stderr.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., ServeProcess]]:
    started: list[ServeProcess] = []

    def start(*args: str) -> ServeProcess:
        started.append(ServeProcess(tmp_path / f"stderr-{len(started)}.txt", *args))
        return started[-1]

    yield start
    for process in started:
        process.close()


def test_sigterm_lets_the_request_in_flight_finish_then_exits_0(serve):
    server = serve("--access-log", "--shutdown-seconds", "5")
    secret = "s3cr3t-value"
    answers: list[tuple[int, bytes]] = []

    def slow_request() -> None:
        headers = {**AUTH, "X-Mock-Fault": "latency; seconds=1"}
        url = f"{server.url}/api/v1/tasks/task-x?api_key={secret}&TOKEN={secret}&page=2"
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as response:
            answers.append((response.status, response.read()))

    def failing_request() -> None:
        try:
            slow_request()
        except urllib.error.HTTPError as error:
            answers.append((error.code, error.read()))

    client = threading.Thread(target=failing_request)
    client.start()
    time.sleep(0.5)  # real-time: let the request reach the server and start its 1 s wait
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(15) == 0
    client.join(15)
    assert [status for status, _ in answers] == [404]  # answered in full, after the signal
    assert json.loads(answers[0][1])["code"] == 404
    server.reader.join(15)  # the whole output is in once the process is gone
    logged = [line for line in server.output() if line[:1].isdigit()]
    assert len(logged) == 1, logged
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z 127\.0\.0\.1:\d+ GET "
        r"/api/v1/tasks/task-x\?api_key=\[redacted\]&TOKEN=\[redacted\]&page=2 404 \d+\.\dms",
        logged[0],
    ), logged[0]
    assert float(logged[0].rsplit(" ", 1)[1].removesuffix("ms")) >= 1000
    assert secret not in logged[0]
    assert KEY not in logged[0]


def test_more_than_one_worker_is_refused_with_the_reason():
    result = subprocess.run(
        [sys.executable, "-m", "vidu_lipsync_mock", "serve", "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "--workers must be 1" in result.stderr
    assert "one process" in result.stderr


def test_uvicorn_cannot_import_a_module_level_app_to_fork():
    """There is no app to hand `uvicorn --workers N`: if one is ever added, it must refuse
    a second process (docs/limits.md, "One process")."""
    result = subprocess.run(
        [sys.executable, "-m", "uvicorn", "--factory", "--port", "0", "--workers", "2",
         "vidu_lipsync_mock.http.app:create_app"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert "Error loading ASGI app factory" in result.stderr
    assert "Application startup complete" not in result.stderr
