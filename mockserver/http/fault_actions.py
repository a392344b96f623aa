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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import NamedTuple

from starlette.types import Message, Receive, Scope, Send

from vidu_lipsync_mock.faults import Decision
from vidu_lipsync_mock.faults.effects import drip, message_for
from vidu_lipsync_mock.http.connections import Connections
from vidu_lipsync_mock.http.messages import Headers, Incoming, Reply, error_reply, send_reply
from vidu_lipsync_mock.http.router import Resolved
from vidu_lipsync_mock.journal.journal import BODY_LIMIT, Journal
from vidu_lipsync_mock.service.errors import ApiError
from vidu_lipsync_mock.state import MockState

__all__ = ["ACTIONS", "FaultActions", "Trail", "TransportFault"]


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


class _Scene(NamedTuple):
    """What an action works with: the decision, the route's answer (when it ran) and the
    exchange with the client."""

    decision: Decision
    reply: Reply | None
    scope: Scope
    receive: Receive
    send: Send
    trail: Trail

    @property
    def answer(self) -> Reply:
        assert self.reply is not None  # the actions that mangle it ran the route first
        return self.reply

    def start(self) -> Message:
        """The answer's status line and headers, as the route gave them."""
        return {
            "type": "http.response.start",
            "status": self.answer.status,
            "headers": self.trail.headers,
        }


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
        fault = decision.fault
        status = int(fault.param("status"))
        retry_after = fault.param("retry_after")
        if status == 429:
            given = fault.param("message")
            return self.state.limiter.exhausted(
                self.state.clock.now(), retry_after, str(given) if given else None
            )
        message = str(fault.param("message") or message_for(status))
        headers: dict[str, str] = {}
        if retry_after is not None:
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
        """Act out the fault that answers this request, as its declaration names it."""
        fault = decision.fault
        assert fault.spec.action is not None  # only an answering fault is carried out
        mangles, act = ACTIONS[fault.spec.action]
        reply: Reply | None = None
        if decision.phase == "after" or mangles:
            reply = self.answer(resolved, request)
            trail.answered(reply, reply.wire_headers(), None)
        await act(self, _Scene(decision, reply, request.scope, receive, send, trail))

    async def _error(self, scene: _Scene) -> None:
        await self._send_error(scene.send, self.fault_error(scene.decision), scene.trail)

    async def _reset(self, scene: _Scene) -> None:
        scene.trail.status, scene.trail.outcome = 0, "reset"
        await self._break(scene.scope, "reset", scene.trail)

    async def _hang(self, scene: _Scene) -> None:
        trail = scene.trail
        trail.status, trail.outcome = 504, "hang"
        if not self.connections.has(scene.scope.get("client")):
            # In-process there is no client timer to outlast: give up for it at once.
            trail.status = 0
            raise TransportFault("hang")
        await _wait_for_disconnect(scene.receive, scene.decision.fault.param("seconds"))
        await self._send_error(scene.send, ApiError(504, message_for(504)), trail)

    async def _close_after_headers(self, scene: _Scene) -> None:
        await _whole_body(scene.answer)
        await scene.send(scene.start())
        scene.trail.outcome = "closed_after_headers"
        scene.trail.reply_body = None
        await self._break(scene.scope, "closed_after_headers", scene.trail)

    async def _close_mid_body(self, scene: _Scene) -> None:
        body = await _whole_body(scene.answer)
        half = body[: len(body) // 2]
        await scene.send(scene.start())
        await scene.send({"type": "http.response.body", "body": half, "more_body": True})
        scene.trail.outcome = "closed_mid_body"
        scene.trail.reply_body = half[:BODY_LIMIT]
        await self._break(scene.scope, "closed_mid_body", scene.trail)

    async def _slow_body(self, scene: _Scene) -> None:
        body = await _whole_body(scene.answer)
        send = scene.send
        await send(scene.start())
        sent = 0
        async for chunk in drip(body, scene.decision.fault.param("seconds"), 10):
            sent += len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": sent < len(body)})
        if not body:
            await send({"type": "http.response.body", "body": b""})
        scene.trail.outcome = "slow_body"
        scene.trail.reply_body = body

    async def _rewrite(self, scene: _Scene) -> None:
        """A 200 whose body is not the answer's: cut, garbled or empty."""
        body = await _whole_body(scene.answer)
        fault = scene.decision.fault
        assert fault.spec.rewrite is not None  # declared with the rewrite action
        mangled = fault.spec.rewrite(body)
        trail = scene.trail
        trail.outcome = fault.kind
        trail.status = 200
        trail.reply_body = mangled
        trail.headers = _with_length(trail.headers, len(mangled))
        await scene.send({"type": "http.response.start", "status": 200, "headers": trail.headers})
        await scene.send({"type": "http.response.body", "body": mangled})

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


#: The HTTP effects the fault kinds name (`FaultKind.action`): whether the action needs the
#: service's real answer (to mangle it), and the action.
ACTIONS: Mapping[str, tuple[bool, Callable[[FaultActions, _Scene], Awaitable[None]]]] = {
    "error": (False, FaultActions._error),
    "reset": (False, FaultActions._reset),
    "hang": (False, FaultActions._hang),
    "close_after_headers": (True, FaultActions._close_after_headers),
    "close_mid_body": (True, FaultActions._close_mid_body),
    "slow_body": (True, FaultActions._slow_body),
    "rewrite": (True, FaultActions._rewrite),
}
