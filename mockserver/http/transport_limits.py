"""What one client connection may cost a real server: how long it may take to send a
request's head and body, how large the head may be, how many connections may be open.

uvicorn bounds only the idle time between requests. A client that sends one header byte a
second, or nothing at all, would hold its socket for as long as it liked, and the parser
would buffer a head of any size. These bounds live in the HTTP protocol (a subclass of
uvicorn's), below the app, so that the app never sees such a request and the hot path pays
a few attribute writes per request, plus a timer only for a request that spans reads.

Closing a socket while the client is still sending makes the kernel answer with a reset,
and most HTTP libraries then report the reset instead of the answer they were sent (a 413,
a 431). So a connection that must close while a request is still arriving first reads and
discards the rest, for at most the body (or head) timeout, as nginx's lingering close does.

The same protocol is where a plain request is answered without uvicorn's cycle and its
answer held for the end of the loop's turn (`http.direct`): its parser callbacks are the
ones that know when a request has arrived whole.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from starlette.types import Receive, Scope, Send

from vidu_lipsync_mock.config import MockConfig
from vidu_lipsync_mock.http.direct import (
    AnswerAtOnce,
    AnswerBatch,
    complete_scope,
    continuation,
    response_bytes,
    wants_direct,
)
from vidu_lipsync_mock.http.wire import error_body
from vidu_lipsync_mock.service.errors import ApiError

__all__ = ["TransportLimits", "limited_protocol"]

# Where a connection is in its current request: waiting for its first byte, in its head
# (request line and headers), in its body; or refused, dropping whatever still arrives.
_IDLE, _HEAD, _BODY, _DISCARD = 0, 1, 2, 3


@dataclass(frozen=True)
class TransportLimits:
    """The bounds, in the units of their `MockConfig` settings; 0 connections = no cap."""

    head_timeout: float = 10.0
    body_timeout: float = 30.0
    max_header_bytes: int = 16_384
    max_connections: int = 1000

    @classmethod
    def of(cls, config: MockConfig) -> TransportLimits:
        return cls(
            head_timeout=config.head_timeout_seconds,
            body_timeout=config.body_timeout_seconds,
            max_header_bytes=config.max_header_bytes,
            max_connections=config.max_connections,
        )


def _envelope(status: int, message: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    body = error_body(ApiError(status, message))
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("ascii")),
        (b"connection", b"close"),
    ]
    return body, headers


def _raw_response(status: int, phrase: str, message: str) -> bytes:
    """A whole response written straight to the socket, for a request the app never saw."""
    body, headers = _envelope(status, message)
    lines = [f"HTTP/1.1 {status} {phrase}".encode("ascii")]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class _LingeringTransport:
    """What a response cycle writes to when its connection closes after the response: the
    close waits until the request has been read (see the module docstring)."""

    __slots__ = ("_protocol", "_transport")

    def __init__(self, protocol: Any, transport: asyncio.Transport) -> None:
        self._protocol = protocol
        self._transport = transport

    def write(self, data: bytes) -> None:
        self._transport.write(data)

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def close(self) -> None:
        self._protocol.close_once_read()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def limited_protocol(
    base: type[asyncio.Protocol],
    limits: TransportLimits,
    direct: AnswerAtOnce | None = None,
    batch: AnswerBatch | None = None,
) -> type[Any]:
    """`base` (uvicorn's httptools protocol) with `limits` enforced on each connection;
    with `direct` and `batch`, a plain request that arrives whole is answered at once,
    and its answer written with the others of the loop's turn (`http.direct`)."""
    if direct is None or batch is None:
        direct = batch = None  # both or neither
    head_timeout, body_timeout = limits.head_timeout, limits.body_timeout
    max_head, max_connections = limits.max_header_bytes, limits.max_connections
    head_too_large = _raw_response(
        431,
        "Request Header Fields Too Large",
        f"Request header fields too large: the request line and headers exceed {max_head} bytes",
    )
    head_late = _raw_response(
        408,
        "Request Timeout",
        f"Request timeout: the request line and headers did not arrive within {head_timeout:g} s",
    )
    body_late = _raw_response(
        408,
        "Request Timeout",
        f"Request timeout: the request body did not arrive within {body_timeout:g} s",
    )
    busy_body, busy_headers = _envelope(
        503,
        f"Service unavailable: the server already has {max_connections} open connections; "
        "retry later",
    )

    async def overloaded(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 503, "headers": busy_headers})
        await send({"type": "http.response.body", "body": busy_body})

    # The methods below that run for every request call the base class's directly: a
    # super() call costs as much as the checks around it.
    base_data_received = base.data_received
    base_message_begin = base.on_message_begin  # type: ignore[attr-defined]
    base_headers_complete = base.on_headers_complete  # type: ignore[attr-defined]
    base_message_complete = base.on_message_complete  # type: ignore[attr-defined]
    base_on_body = base.on_body  # type: ignore[attr-defined]

    class LimitedProtocol(base):  # type: ignore[valid-type,misc]
        # Slots, not the instance dict: uvicorn's protocol fills its dict up to the size
        # CPython shares between instances, and four more keys would unshare it, making
        # every attribute lookup of uvicorn's own slower.
        __slots__ = (
            "_close_when_read",
            "_close_when_sent",
            "_direct",
            "_head_bytes",
            "_held_answers",
            "_phase",
            "_timer",
        )

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._phase = _IDLE
            self._head_bytes = 0  # of the current head, in earlier reads; -1: began mid-read
            self._timer: asyncio.TimerHandle | None = None
            self._close_when_read = False
            #: The body so far of a request to answer at once (`http.direct`), else None.
            self._direct: list[bytes] | None = None
            #: Answers held for the end of the turn, and whether a graceful shutdown
            #: waits for them to close the connection.
            self._held_answers = 0
            self._close_when_sent = False

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            if max_connections and len(self.connections) > max_connections:
                # Its request is answered 503, then it is closed.
                self.app = overloaded  # type: ignore[misc]
            self._arm(head_timeout)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            phase = self._phase
            if phase == _DISCARD:
                return
            if phase == _IDLE:
                self._head_bytes = seen = 0  # the next head starts with this read
            else:
                seen = self._head_bytes
            if phase != _BODY and seen >= 0 and len(data) > max_head - seen:
                self._read_past_budget(data)
                return
            base_data_received(self, data)
            if self._direct is not None:  # a request to answer at once is not all here
                self._go_through_asgi()
            phase = self._phase
            if phase == _HEAD:
                seen = self._head_bytes
                self._head_bytes = 0 if seen < 0 else seen + len(data)
                if self._timer is None:
                    self._arm(head_timeout)
            elif phase == _BODY and self._timer is None:
                self._arm(body_timeout)

        def _read_past_budget(self, data: bytes) -> None:
            """A read longer than what the current head may still use: feed the parser the
            head's allowance first; if the head is still not complete, refuse it."""
            budget = max_head - self._head_bytes
            base_data_received(self, data[:budget])
            if self._direct is not None:
                self._go_through_asgi()
            if self._phase == _HEAD and self._head_bytes >= 0:
                self._refuse_head()
            elif not self.transport.is_closing():
                self.data_received(data[budget:])

        def _refuse_head(self) -> None:
            previous = self.cycle
            if previous is None or previous.response_complete:
                self.transport.write(head_too_large)
                if self.transport.can_write_eof():
                    self.transport.write_eof()  # the client may read the 431 while it sends
            self._phase = _DISCARD
            if self._timer is None:
                self._arm(head_timeout)

        # Parser callbacks: where each request's phases begin and end.
        def on_message_begin(self) -> None:
            self._phase = _HEAD
            base_message_begin(self)

        def on_headers_complete(self) -> None:
            self._phase = _BODY
            if self._timer is not None:
                self._disarm()
            if batch is not None and self.app is not overloaded and wants_direct(self):
                self._direct = []
                return
            self._start_cycle()

        def _start_cycle(self) -> None:
            """uvicorn's own start of a request: a cycle, and a task running the app."""
            base_headers_complete(self)
            cycle = self.cycle
            if not cycle.keep_alive or self.app is overloaded:
                cycle.transport = _LingeringTransport(self, self.transport)

        def _go_through_asgi(self, answer_later: Any = None) -> bool:
            """A request first meant to be answered at once goes to uvicorn after all:
            replayed as its parser callbacks would have had it, with `answer_later` (an
            ASGI app) in place of the app when the app has already answered it. What the
            turn holds goes first: answers to earlier requests, and writes (its own too)
            that must be committed before an answer leaves. False when that commit
            failed: nothing more is answered, and the connection is closed."""
            chunks = self._direct
            self._direct = None
            if batch is not None and batch.waiting and not batch.release():
                self.transport.close()  # what was written is lost (see AnswerBatch)
                return False
            if answer_later is None:
                self._start_cycle()
            else:
                app, self.app = self.app, answer_later
                try:
                    self._start_cycle()
                finally:
                    self.app = app
            for chunk in chunks or ():
                base_on_body(self, chunk)
            return True

        def on_body(self, body: bytes) -> None:
            chunks = self._direct
            if chunks is None:
                base_on_body(self, body)
            else:
                chunks.append(body)

        def on_message_complete(self) -> None:
            self._phase = _IDLE
            self._head_bytes = -1  # a next head in this read begins mid-read
            if self._timer is not None:
                self._disarm()
            chunks = self._direct
            if chunks is not None and self._answer_at_once(chunks):
                return
            base_message_complete(self)
            if self._close_when_read:
                self.transport.close()
            elif self.cycle.response_complete:
                self._restart_keep_alive()

        def _answer_at_once(self, chunks: list[bytes]) -> bool:
            """Answer a whole request without a cycle (`http.direct`), its answer held for
            the end of the turn; False when it went to uvicorn instead, whose end of the
            request is still to run (True too when nothing more can be answered)."""
            assert direct is not None
            assert batch is not None
            answer = direct(complete_scope(self), b"".join(chunks))
            if answer is None:
                return not self._go_through_asgi()
            response = response_bytes(answer, self.server_state.default_headers)
            if response is None:
                chunks.clear()  # the app has read the body: the continuation needs none
                return not self._go_through_asgi(continuation(answer))
            self._direct = None
            self._held_answers += 1
            batch.hold(self.loop, lambda: self._send_answer(response), self._drop_answer)
            return True

        def _send_answer(self, response: bytes) -> None:
            self._held_answers -= 1
            if not self.transport.is_closing():
                self.transport.write(response)
                self.on_response_complete()
                if self._close_when_sent and not self._held_answers:
                    self.transport.close()

        def _drop_answer(self) -> None:
            self._held_answers -= 1
            self.transport.close()

        def shutdown(self) -> None:
            """uvicorn's graceful close, which lets an answer being sent finish: one held
            for the end of the turn too."""
            if self._held_answers:
                self._close_when_sent = True
            else:
                super().shutdown()

        def _restart_keep_alive(self) -> None:
            """A request answered before its body was in (a 413) is now read: the body's
            arrival stopped the keep-alive clock that the answer started, so start it again."""
            if self.timeout_keep_alive_task is None:  # type: ignore[has-type]
                self.timeout_keep_alive_task = self.loop.call_later(  # type: ignore[misc]
                    self.timeout_keep_alive, self.timeout_keep_alive_handler
                )

        def close_once_read(self) -> None:
            """Close now if the request is read, else once it is (or its time is up)."""
            if self._phase != _BODY:
                self.transport.close()
                return
            self._close_when_read = True
            if self.transport.can_write_eof():
                self.transport.write_eof()  # the answer is complete: say so, keep reading
            if self._timer is None:
                self._arm(body_timeout)

        def _arm(self, seconds: float) -> None:
            self._timer = self.loop.call_later(seconds, self._timed_out)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _timed_out(self) -> None:
            """A head or body took too long (or a refused request's rest did): close, with a
            408 first when part of a request came and nothing has answered it yet."""
            self._timer = None
            transport = self.transport
            if transport.is_closing():
                return
            cycle = self.cycle
            if not (self._phase == _DISCARD or self._close_when_read):
                if self._phase == _BODY and not cycle.response_started:
                    transport.write(body_late)
                elif self._phase == _HEAD and (cycle is None or cycle.response_complete):
                    transport.write(head_late)
            transport.close()

    return LimitedProtocol
