"""The head-size count of `http/transport_limits.py`, fed byte strings directly (no socket,
so how the bytes are split into reads is up to the test), and the request log's lines."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from vidu_lipsync_mock import ConfigError, LipSyncMock, MockConfig
from vidu_lipsync_mock.http.access_log import AccessLog, log_line, redacted_query
from vidu_lipsync_mock.http.connections import Connections, protocol_with_registry
from vidu_lipsync_mock.http.transport_limits import TransportLimits

LIMIT = 1024


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False
        self.eof = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 80)}.get(name)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def head_of(size: int) -> bytes:
    start = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\nX-Pad: "
    return start + b"a" * (size - len(start) - 4) + b"\r\n\r\n"


def feed(reads: list[bytes]) -> bytes:
    """What a connection writes back when its client sends `reads`, one read each."""

    async def run() -> bytes:
        mock = LipSyncMock(clock="manual")
        limits = TransportLimits(max_header_bytes=LIMIT)
        protocol_class = protocol_with_registry(Connections(), limits)
        config = uvicorn.Config(mock.app, http=protocol_class, lifespan="off", log_level="error")
        config.load()
        protocol = protocol_class(config=config, server_state=ServerState(), app_state={})
        transport = FakeTransport()
        protocol.connection_made(transport)
        for data in reads:
            protocol.data_received(data)
            await asyncio.sleep(0)  # real-time: 0 s, yields so the request's task can answer
        for _ in range(20):
            await asyncio.sleep(0)  # real-time: 0 s, lets pending tasks finish
        protocol.connection_lost(None)
        return transport.written

    return asyncio.run(run())


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("read_size", [1, 3, 100, 4096])
def test_a_head_of_the_limit_passes_and_one_byte_more_is_refused(read_size):
    assert feed(split(head_of(LIMIT), read_size)).startswith(b"HTTP/1.1 200 ")
    refused = feed(split(head_of(LIMIT + 1), read_size))
    assert refused.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert refused.endswith(
        b'{"code":431,"message":"Request header fields too large: the request line and '
        b'headers exceed 1024 bytes"}'
    )


def test_only_the_heads_allowance_of_a_long_read_reaches_the_parser():
    """A 1 MB header in one read is refused on its first kilobyte."""
    assert feed([head_of(1024 * 1024)]).startswith(b"HTTP/1.1 431 ")


@pytest.mark.parametrize("read_size", [1, 700, 5000])
def test_pipelined_heads_are_counted_one_by_one(read_size):
    three = head_of(700) * 3
    answers = feed(split(three, read_size))
    assert answers.count(b"HTTP/1.1 200 ") == 3
    assert b" 431 " not in answers


def test_a_head_after_a_body_in_the_same_read_is_counted_from_its_own_start():
    body = b"{}" * 2000
    post = b"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
    head = head_of(900)
    answers = feed([post + body + head[:500], head[500:]])
    assert answers.count(b"HTTP/1.1 404 ") == 1
    assert answers.count(b"HTTP/1.1 200 ") == 1


# --- settings -----------------------------------------------------------------------------


def test_the_limits_come_from_the_settings():
    config = MockConfig(head_timeout_seconds=1.5, max_header_bytes=4096, max_connections=0)
    assert TransportLimits.of(config) == TransportLimits(
        head_timeout=1.5, body_timeout=30.0, max_header_bytes=4096, max_connections=0
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"head_timeout_seconds": 0}, "head_timeout_seconds must be positive"),
        ({"keep_alive_seconds": -1}, "keep_alive_seconds must be positive"),
        ({"max_connections": -1}, "must not be negative"),
        ({"max_header_bytes": 100}, "max_header_bytes must be at least 1024"),
        ({"access_log": "yes"}, "access_log must be true or false"),
    ],
)
def test_bad_limits_are_refused_by_name(settings, message):
    with pytest.raises(ConfigError, match=message):
        MockConfig.build(settings)


# --- the request log ----------------------------------------------------------------------


def test_key_like_query_values_are_redacted_and_others_kept():
    query = b"api_key=abc&Key=def&page=2&token&access_token=x%20y&apikey=&keyboard=1"
    assert redacted_query(query) == (
        "api_key=[redacted]&Key=[redacted]&page=2&token&access_token=[redacted]"
        "&apikey=[redacted]&keyboard=1"
    )


def test_a_log_line_shows_the_raw_path_and_never_a_header():
    scope = {
        "method": "GET",
        "path": "/a\nb",
        "raw_path": b"/a%0Ab",
        "query_string": b"token=t0k",
        "client": ("10.0.0.7", 4321),
        "headers": [(b"authorization", b"Bearer mdlx-secret")],
    }
    line = log_line(scope, 200, 0.0123, 0.5)
    assert line == "1970-01-01T00:00:00.500Z 10.0.0.7:4321 GET /a%0Ab?token=[redacted] 200 12.3ms"
    assert log_line({**scope, "client": None, "query_string": b""}, 0, 0, 0).split()[1:] == [
        "-", "GET", "/a%0Ab", "-", "0.0ms"
    ]  # fmt: skip


def test_the_access_log_writes_one_line_per_request_with_its_status():
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    stream = io.StringIO()
    logged = AccessLog(app, stream)
    scope = {"type": "http", "method": "POST", "path": "/x", "client": ("127.0.0.1", 1)}

    async def send(message: Any) -> None:
        pass

    asyncio.run(logged(scope, None, send))  # type: ignore[arg-type]
    (line,) = stream.getvalue().splitlines()
    assert " 127.0.0.1:1 POST /x 418 " in line
