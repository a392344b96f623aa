"""Answering a plain request from the HTTP protocol itself, without an ASGI cycle.

uvicorn gives every request a `RequestResponseCycle`, an asyncio task to run the app in,
ASGI messages and a `send` that validates and encodes each header: about as much CPU
as the mock's whole answer to a poll. Yet nearly every request the mock serves needs none
of it: it arrives whole in one read, is answered without waiting for anything, and its
answer is a few hundred bytes. So the protocol (`transport_limits.limited_protocol`) asks
the app for such a request's answer at once (`MockApp.answer_at_once`) and writes it in
one piece, as uvicorn would have written it: the same status line, `date` header, header
order and bytes. The journal, the limiter, the fault engine and every route run exactly
as they do through ASGI; only the server's plumbing around them is skipped.

Anything out of the ordinary takes uvicorn's own path, decided before the app has done
anything (so nothing runs twice): a method other than GET or POST, HTTP/1.0, a
`Connection: close`, `Expect: 100-continue`, a chunked body, proxy headers (uvicorn's
middleware would rewrite the client and scheme), a request still arriving after the read
that brought its head, a previous answer still going out, a client not reading. An answer
that needs the event loop (a fault that fired, a streamed file, a crash's 500) is handed
to a cycle made for it, as if uvicorn had started it.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from starlette.types import Receive, Scope, Send

from vidu_lipsync_mock.persist import Durability

try:
    import httptools
    from uvicorn.protocols.http.httptools_impl import STATUS_LINE  # the lines uvicorn writes
except ImportError:  # pragma: no cover - part of uvicorn[standard]; without it, no direct path
    httptools = None  # type: ignore[assignment]
    STATUS_LINE = {}

if TYPE_CHECKING:  # the public app imports the protocol's module, through `connections`
    import asyncio

    from vidu_lipsync_mock.http.public_app import Answer

__all__ = [
    "AnswerAtOnce",
    "AnswerBatch",
    "complete_scope",
    "continuation",
    "response_bytes",
    "wants_direct",
]

#: What a protocol asks the app for: a whole request's answer, or None to go through ASGI.
AnswerAtOnce = Callable[[Scope, bytes], "Answer | None"]

#: Request headers that send a request through uvicorn: proxy headers (its middleware acts
#: on them) and a chunked body (read as it comes, not in one piece).
_INDIRECT = frozenset({b"x-forwarded-for", b"x-forwarded-proto", b"transfer-encoding"})
_METHODS = (b"GET", b"POST")

# uvicorn's own checks on what an app sends: a header it would refuse goes to it to refuse.
_BAD_NAME = re.compile(b'[\x00-\x1f\x7f()<>@,;:\\[\\]={} \t\\\\"]')
_BAD_VALUE = re.compile(b"[\x00-\x08\x0a-\x1f\x7f]")


def wants_direct(protocol: Any) -> bool:
    """Whether the request whose head `protocol` (uvicorn's httptools protocol) just read
    may be answered at once, if it arrives whole."""
    parser = protocol.parser
    if parser.get_method() not in _METHODS or parser.get_http_version() != "1.1":
        return False
    if not parser.should_keep_alive() or parser.should_upgrade() or protocol.expect_100_continue:
        return False
    cycle = protocol.cycle
    if (cycle is not None and not cycle.response_complete) or protocol.pipeline:
        return False
    if protocol.flow.write_paused or protocol.root_path:
        return False
    return not any(name in _INDIRECT for name, _ in protocol.headers)


def complete_scope(protocol: Any) -> Scope:
    """The request's scope as uvicorn completes it once the head is read."""
    scope: Scope = protocol.scope
    scope["method"] = protocol.parser.get_method().decode("ascii")
    url = httptools.parse_url(protocol.url)
    raw_path: bytes = url.path
    path = raw_path.decode("ascii")
    scope["path"] = urllib.parse.unquote(path) if "%" in path else path
    scope["raw_path"] = raw_path
    scope["query_string"] = url.query or b""
    return scope


def response_bytes(answer: Answer, default_headers: Sequence[tuple[bytes, bytes]]) -> bytes | None:
    """The whole response as uvicorn would write it, or None when it is not a plain one
    (uvicorn must send it: a stream, a crash, a fault's acts, a header it would refuse,
    a `connection` header, a body that is not what `content-length` says)."""
    reply = answer.reply
    if reply is None or reply.stream is not None or answer.crash is not None:
        return None
    if reply.length is not None and reply.length != len(reply.body):
        return None
    headers = answer.headers
    names = b"".join([name for name, _ in headers])
    values = b"".join([value for _, value in headers])
    if names != names.lower() or _BAD_NAME.search(names) or _BAD_VALUE.search(values):
        return None
    if b"connection" in names and any(name == b"connection" for name, _ in headers):
        return None
    lines = [b"%s: %s\r\n" % pair for pair in default_headers]
    lines += [b"%s: %s\r\n" % pair for pair in headers]
    return b"".join((STATUS_LINE[reply.status], *lines, b"\r\n", reply.body))


def continuation(answer: Answer) -> Callable[[Scope, Receive, Send], Any]:
    """An ASGI app that sends `answer` (whatever it still needs the event loop for): run
    in a cycle of uvicorn's, it is logged, 500ed and closed as the whole app would be."""

    async def send_answer(scope: Scope, receive: Receive, send: Send) -> None:
        await answer.send_later(receive, send)

    return send_answer


class AnswerBatch:
    """Direct answers written together at the end of the event loop's turn.

    Under load one turn reads many requests. Written as each is answered, every answer
    runs the kernel's send path between two requests' parsing and routing, and each
    pass through that code evicts the other's from the CPU caches: at 32 connections a
    poll cost 45 µs of server CPU so, against 33 µs for bare Starlette, whose tasks happen
    to answer a turn's requests together. Held to the end of the turn and written in
    order, the same answers cost 26 µs. A turn with one request pays one `call_soon`.

    With a state file (`--state`) the batch is also a group commit: the durable writes of
    the turn's requests wait in one SQLite transaction (`Durability.defer_commits`), and
    one commit releases their answers. If the commit fails, none of them is sent: their
    connections are closed, as a crashed server's would be, and the clients retry."""

    def __init__(self, durability: Durability) -> None:
        self._durability = durability
        self._held: list[tuple[Callable[[], None], Callable[[], None]]] = []

    @property
    def waiting(self) -> bool:
        """Whether answers or writes wait for the end of the turn: what must be released
        before an answer goes out any other way."""
        return bool(self._held) or self._durability.uncommitted

    def hold(
        self, loop: asyncio.AbstractEventLoop, send: Callable[[], None], drop: Callable[[], None]
    ) -> None:
        """Send `send` at the end of the turn (or `drop`, if the commit fails)."""
        if not self._held:
            loop.call_soon(self.release)
        self._held.append((send, drop))

    def release(self) -> bool:
        """Commit what waits and send the held answers now; whether the commit held."""
        held, self._held = self._held, []
        committed = self._durability.commit_deferred()
        for send, drop in held:
            (send if committed else drop)()
        return committed
