"""The request and the answer as the public app and its routes hand them to each other,
and the one rendering of an error.

Building Starlette's `Request` and `Response` objects, and passing the answer through a
chain of `send` wrappers, cost more than everything the mock itself does on a poll. So the
public routes take one plain record of the request, filled once by the public app, and give
back a `Reply`: plain data the app can send as it is, hold back, mangle or drop when a
fault says so, and keep for the journal without re-reading what was sent.
"""

from __future__ import annotations

import traceback
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from starlette.types import Scope, Send

from vidu_lipsync_mock.faults import Fault
from vidu_lipsync_mock.http import wire
from vidu_lipsync_mock.service.errors import ApiError, internal_error
from vidu_lipsync_mock.service.quotas import QUOTA_HEADERS, Verdict
from vidu_lipsync_mock.state import MockState

__all__ = [
    "JSON",
    "Headers",
    "Incoming",
    "Reply",
    "crash_reply",
    "encode_headers",
    "error_reply",
    "json_reply",
    "quota_headers",
    "send_reply",
]

JSON = b"application/json"

#: Response headers as ASGI sends them: lower-case names, latin-1 values.
Headers = list[tuple[bytes, bytes]]


class Incoming:
    """One public request, read once.

    `headers` keeps the first value of each name (as Starlette's `Headers.get` does);
    `declared_length` is the `Content-Length`, when it is a number. `parsed` is the submit body
    when the public app already had to decode it (a fault rule matches on body fields), so it
    is decoded once. `task_faults` are the task and result faults that fired on a submit.
    """

    __slots__ = (
        "body",
        "declared_length",
        "headers",
        "method",
        "params",
        "parsed",
        "path",
        "scope",
        "task_faults",
    )

    def __init__(
        self,
        scope: Scope,
        method: str,
        path: str,
        params: tuple[str, ...],
        headers: dict[bytes, bytes],
        body: bytes,
        declared_length: int | None = None,
    ) -> None:
        self.scope = scope
        self.method = method
        self.path = path
        self.params = params
        self.headers = headers
        self.body = body
        self.declared_length = declared_length
        self.parsed: dict[str, Any] | None = None
        self.task_faults: Sequence[Fault] = ()

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return None if value is None else value.decode("latin-1")


class Reply:
    """An answer not sent yet.

    `headers` are the route's own headers; `content-length` and `content-type` are added
    when it is sent, in Starlette's order, so answers look the same as when Starlette's
    `Response` rendered them. `length` is the length to announce when it is not the
    body's (a HEAD answer, a streamed file); a stream without one is sent chunked.
    `task_id` is the task a submit created: the journal needs it even when a fault loses
    the answer.
    """

    __slots__ = ("body", "content_type", "headers", "length", "status", "stream", "task_id")

    def __init__(
        self,
        body: bytes = b"",
        status: int = 200,
        content_type: bytes | None = JSON,
        headers: Headers | None = None,
        stream: AsyncIterator[bytes] | None = None,
        length: int | None = None,
    ) -> None:
        self.body = body
        self.status = status
        self.content_type = content_type
        self.headers: Headers = headers if headers is not None else []
        self.stream = stream
        self.length = length
        self.task_id: str | None = None

    def wire_headers(self) -> Headers:
        """Every header as it goes on the wire."""
        headers = [*self.headers]
        length = self.length
        if length is None and self.stream is None:
            length = len(self.body)
        if length is not None:
            headers.append((b"content-length", b"%d" % length))
        if self.content_type is not None:
            headers.append((b"content-type", self.content_type))
        return headers


def encode_headers(headers: Mapping[str, str] | None) -> Headers:
    if not headers:
        return []
    return [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
    ]


#: The quota headers' names as they go on the wire.
_QUOTA_NAMES = tuple(name.lower().encode("latin-1") for name in QUOTA_HEADERS)


def quota_headers(verdict: Verdict | None) -> Headers:
    """The quota's `X-RateLimit-*` headers on an admitted answer (none when limiting is
    off); a refusal's come with its error."""
    if verdict is None:
        return []
    limit, remaining, reset = _QUOTA_NAMES
    return [
        (limit, str(verdict[0]).encode()),
        (remaining, str(verdict[1]).encode()),
        (reset, str(verdict[2]).encode()),
    ]


def json_reply(body: bytes, headers: Headers | None = None) -> Reply:
    return Reply(body, 200, JSON, headers)


def error_reply(error: ApiError) -> Reply:
    """The provider's error envelope, with whatever headers the error carries: the one
    rendering of an error, for the public routes and the admin API alike."""
    return Reply(wire.error_body(error), error.status, JSON, encode_headers(error.headers))


def crash_reply(state: MockState, method: str, path: str, error: BaseException) -> Reply:
    """A bug of ours, as the client sees it: the provider's 500. The traceback is kept on
    the state, so the test that triggered it can fail loudly instead of passing on a 500."""
    state.record_crash(method, path, "".join(traceback.format_exception(error)))
    return error_reply(internal_error())


async def send_reply(send: Send, reply: Reply, headers: Headers) -> None:
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    if reply.stream is None:
        await send({"type": "http.response.body", "body": reply.body})
        return
    async for chunk in reply.stream:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})
