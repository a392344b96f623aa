"""How HTTP and transport faults are acted out on a request, once the engine chose one.

The engine (`faults`) decides *which* fault fires; this module only makes the client see
it: an error envelope instead of the answer, the answer cut short or mangled, a socket
reset or closed, a request left hanging. Because routes hand back a `Reply` rather than
writing to the socket, "let the service handle it, then lose the answer" (`phase =
after`) is simply: run the route, then do something else with its reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

from starlette.types import Receive, Scope, Send

from vidu_lipsync_mock.faults.engine import DEFAULT_MESSAGES, MAX_DELAY_SECONDS, Decision
from vidu_lipsync_mock.http.connections import Connections
from vidu_lipsync_mock.http.messages import Headers, Incoming, Reply, error_reply, send_reply
from vidu_lipsync_mock.http.router import Resolved
from vidu_lipsync_mock.journal.journal import BODY_LIMIT, Journal
from vidu_lipsync_mock.service.errors import ApiError
from vidu_lipsync_mock.state import MockState

__all__ = ["FaultActions", "Trail", "TransportFault"]

#: Faults that need the service's real answer to mangle it.
MANGLES = frozenset(
    {
        "close_after_headers",
        "close_mid_body",
        "truncated_json",
        "malformed_json",
        "empty_body",
        "slow_body",
    }
)

MALFORMED_JSON = b'{"code":0,"message":"success","data":{"status":"pending" "task_id":}'


class TransportFault(ConnectionResetError):
    """Raised to an in-process client where a real server would have broken the socket.

    `outcome` says what the socket would have done (`reset`, `closed_after_headers`,
    `closed_mid_body`, `hang`), so an in-process transport can raise the exception its HTTP
    library raises for that (the pytest plugin's transports map it for httpx).
    """

    def __init__(self, outcome: str) -> None:
        super().__init__(f"mock transport fault: {outcome}")
        self.outcome = outcome


class Trail:
    """What the journal will say of a faulted request, filled in as the fault plays out.

    `status` 0 means the client got no status line; `outcome` says what the connection
    did instead of a plain response.
    """

    __slots__ = (
        "authorization",
        "body",
        "clock_time",
        "fault",
        "headers",
        "kind",
        "method",
        "outcome",
        "path",
        "query",
        "raw_headers",
        "recorded",
        "reply_body",
        "seq",
        "started",
        "status",
        "task_id",
        "wall_time",
    )

    def __init__(
        self,
        seq: int,
        method: str,
        path: str,
        kind: str,
        task_id: str | None,
        clock_time: float,
        wall_time: float,
        started: float,
        authorization: bytes | None,
        query: bytes,
        raw_headers: Sequence[tuple[bytes, bytes]],
        body: bytes,
    ) -> None:
        self.seq = seq
        self.method = method
        self.path = path
        self.kind = kind
        self.task_id = task_id
        self.clock_time = clock_time
        self.wall_time = wall_time
        self.started = started
        self.authorization = authorization
        self.query = query
        self.raw_headers = raw_headers
        self.body = body
        self.fault: str | None = None
        self.status = 0
        self.outcome = "response"
        self.headers: Headers = []
        self.reply_body: bytes | None = None
        self.recorded = False

    def answered(self, reply: Reply, headers: Headers, kept: bytes | None) -> None:
        """The route answered (or a fault answered for it) with this reply."""
        self.status = reply.status
        self.headers = headers
        self.reply_body = kept
        if self.kind == "submit" and reply.task_id is not None:
            # The task exists (and is charged) even if a fault then loses the answer.
            self.task_id = reply.task_id

    def write(self, journal: Journal) -> None:
        """Into the journal, once."""
        if self.recorded:
            return
        self.recorded = True
        journal.record(
            self.seq, self.method, self.path, self.kind, self.status, self.clock_time,
            self.wall_time, (time.perf_counter() - self.started) * 1000, self.authorization,
            self.task_id, self.fault, self.outcome, self.query, self.raw_headers, self.body,
            self.headers, self.reply_body,
        )  # fmt: skip


def _with_length(headers: Headers, length: int) -> Headers:
    kept = [(k, v) for k, v in headers if k.lower() != b"content-length"]
    return [*kept, (b"content-length", str(length).encode())]


async def _whole_body(reply: Reply) -> bytes:
    """A reply's bytes, a streamed one drained first (it is about to be mangled)."""
    if reply.stream is None:
        return reply.body
    return b"".join([chunk async for chunk in reply.stream])


async def _wait_for_disconnect(receive: Receive, seconds: float) -> None:
    """Hold the request open until the client gives up or the bound passes."""

    async def disconnected() -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(disconnected(), timeout=seconds)


class FaultActions:
    """Acts out the one fault that answers a request in place of the route."""

    def __init__(
        self,
        state: MockState,
        connections: Connections,
        answer: Callable[[Resolved, Incoming], Reply],
    ) -> None:
        self.state = state
        self.connections = connections
        self.answer = answer

    def fault_error(self, decision: Decision) -> ApiError:
        """The envelope an `error` fault answers with, with the headers its status
        carries at the provider (a 429 looks like the rate limiter's own)."""
        options = decision.fault.options
        status = int(options.get("status", 500))
        message = str(
            options.get("message") or DEFAULT_MESSAGES.get(status) or "Internal server error"
        )
        headers: dict[str, str] = {}
        retry_after = options.get("retry_after")
        if status == 429:
            headers = self.state.limiter.exhausted(self.state.clock.now(), retry_after).headers()
        elif retry_after is not None:
            headers["Retry-After"] = str(int(retry_after + 0.999))
        return ApiError(status, message, headers)

    async def _send_error(self, send: Send, error: ApiError, trail: Trail) -> None:
        reply = error_reply(error)
        trail.answered(reply, reply.wire_headers(), reply.body)
        await send_reply(send, reply, trail.headers)

    async def carry_out(
        self,
        decision: Decision,
        resolved: Resolved,
        request: Incoming,
        receive: Receive,
        send: Send,
        trail: Trail,
    ) -> None:
        kind = decision.fault.kind
        options = decision.fault.options
        scope = request.scope
        reply: Reply | None = None
        if decision.phase == "after" or kind in MANGLES:
            reply = self.answer(resolved, request)
            trail.answered(reply, reply.wire_headers(), None)
        if kind == "error":
            await self._send_error(send, self.fault_error(decision), trail)
            return
        if kind == "reset":
            trail.status, trail.outcome = 0, "reset"
            await self._break(scope, "reset", trail)
            return
        if kind == "hang":
            trail.status, trail.outcome = 504, "hang"
            if not self.connections.has(scope.get("client")):
                # In-process there is no client timer to outlast: give up for it at once.
                trail.status = 0
                raise TransportFault("hang")
            await _wait_for_disconnect(
                receive, min(options.get("seconds", 30.0), MAX_DELAY_SECONDS)
            )
            await self._send_error(send, ApiError(504, DEFAULT_MESSAGES[504]), trail)
            return
        assert reply is not None  # every other kind mangles the real answer
        body = await _whole_body(reply)
        headers = trail.headers
        status = reply.status
        start = {"type": "http.response.start", "status": status, "headers": headers}
        if kind == "close_after_headers":
            await send(start)
            trail.outcome = "closed_after_headers"
            trail.reply_body = None
            await self._break(scope, "closed_after_headers", trail)
            return
        if kind == "close_mid_body":
            half = body[: len(body) // 2]
            await send(start)
            await send({"type": "http.response.body", "body": half, "more_body": True})
            trail.outcome = "closed_mid_body"
            trail.reply_body = half[:BODY_LIMIT]
            await self._break(scope, "closed_mid_body", trail)
            return
        if kind == "slow_body":
            await send(start)
            total = min(options.get("seconds", 5.0), MAX_DELAY_SECONDS)
            pieces = 10
            step = max(1, -(-len(body) // pieces))
            for offset in range(0, len(body), step):
                await asyncio.sleep(total / pieces)
                last = offset + step >= len(body)
                await send(
                    {
                        "type": "http.response.body",
                        "body": body[offset : offset + step],
                        "more_body": not last,
                    }
                )
            if not body:
                await send({"type": "http.response.body", "body": b""})
            trail.outcome = "slow_body"
            trail.reply_body = body
            return
        if kind == "truncated_json":
            mangled = body[: max(1, len(body) // 2)]
        elif kind == "malformed_json":
            mangled = MALFORMED_JSON
        else:  # empty_body
            mangled = b""
        trail.outcome = kind
        trail.status = 200
        trail.reply_body = mangled
        trail.headers = _with_length(headers, len(mangled))
        await send({"type": "http.response.start", "status": 200, "headers": trail.headers})
        await send({"type": "http.response.body", "body": mangled})

    async def _break(self, scope: Scope, outcome: str, trail: Trail) -> None:
        """Break the client's connection, journaling first: the client raises the moment
        the socket breaks, and a test reading the journal then must find the entry."""
        trail.write(self.state.journal)
        peer = scope.get("client")
        done = self.connections.reset(peer) if outcome == "reset" else self.connections.close(peer)
        if not done:
            raise TransportFault(outcome)
        # Let the transport report the loss, so the server does not try to answer.
        for _ in range(3):
            await asyncio.sleep(0)
