"""How HTTP and transport faults are acted out on a request, once the engine chose one.

The engine (`faults`) decides *which* fault fires; this module makes the client see it: an
error envelope instead of the answer, the answer cut short or mangled, a socket reset or
closed, a request left hanging. Routes hand back a `Reply` rather than writing to the
socket, so "handle it, then lose the answer" (`phase = after`) is: run the route, then do
something else with its reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import NamedTuple

from starlette.types import Message, Receive, Scope, Send

from vidu_lipsync_mock.faults import Decision
from vidu_lipsync_mock.faults.effects import drip, message_for
from vidu_lipsync_mock.http.connections import Connections
from vidu_lipsync_mock.http.messages import Headers, Incoming, Reply, error_reply, send_reply
from vidu_lipsync_mock.http.router import Resolved
from vidu_lipsync_mock.journal.exchange import Exchange
from vidu_lipsync_mock.journal.journal import BODY_LIMIT
from vidu_lipsync_mock.service.errors import ApiError
from vidu_lipsync_mock.state import MockState

__all__ = ["ACTIONS", "FaultActions", "TransportFault"]


class TransportFault(ConnectionResetError):
    """Raised to an in-process client where a real server would have broken the socket.

    `outcome` says what the socket would have done (`reset`, `closed_after_headers`,
    `closed_mid_body`, `hang`), so an in-process transport can raise the exception its HTTP
    library raises for that (the pytest plugin's transports map it for httpx).
    """

    def __init__(self, outcome: str) -> None:
        super().__init__(f"mock transport fault: {outcome}")
        self.outcome = outcome


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
        while (await receive())["type"] != "http.disconnect":
            pass

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
    exchange: Exchange

    @property
    def answer(self) -> Reply:
        assert self.reply is not None  # the actions that mangle it ran the route first
        return self.reply

    def start(self) -> Message:
        """The status line and headers the exchange holds (the route's, unless rewritten)."""
        exchange = self.exchange
        return {
            "type": "http.response.start",
            "status": exchange.status,
            "headers": exchange.response_headers,
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
        given = fault.param("message")
        if status == 429:
            now = self.state.clock.now()
            return self.state.limiter.exhausted(now, retry_after, str(given) if given else None)
        message = str(given or message_for(status))
        headers: dict[str, str] = {}
        if retry_after is not None:
            headers["Retry-After"] = str(int(retry_after + 0.999))
        return ApiError(status, message, headers)

    async def _send_error(self, send: Send, error: ApiError, exchange: Exchange) -> None:
        reply = error_reply(error)
        exchange.answered(reply, reply.wire_headers(), reply.body)
        self.state.journal.record(exchange, time.perf_counter())  # before the client has it
        await send_reply(send, reply, exchange.response_headers)

    async def carry_out(
        self,
        decision: Decision,
        resolved: Resolved,
        request: Incoming,
        receive: Receive,
        send: Send,
        exchange: Exchange,
    ) -> None:
        """Act out the fault that answers this request, as its declaration names it."""
        fault = decision.fault
        assert fault.spec.action is not None  # only an answering fault is carried out
        mangles, act = ACTIONS[fault.spec.action]
        reply: Reply | None = None
        if decision.phase == "after" or mangles:
            reply = self.answer(resolved, request)
            exchange.answered(reply, reply.wire_headers(), None)
        await act(self, _Scene(decision, reply, request.scope, receive, send, exchange))

    async def _error(self, scene: _Scene) -> None:
        await self._send_error(scene.send, self.fault_error(scene.decision), scene.exchange)

    async def _reset(self, scene: _Scene) -> None:
        scene.exchange.status = 0
        await self._break(scene, "reset")

    async def _hang(self, scene: _Scene) -> None:
        exchange = scene.exchange
        exchange.status, exchange.outcome = 504, "hang"
        if not self.connections.has(scene.scope.get("client")):
            # In-process there is no client timer to outlast: give up for it at once.
            exchange.status = 0
            raise TransportFault("hang")
        await _wait_for_disconnect(scene.receive, scene.decision.fault.param("seconds"))
        await self._send_error(scene.send, ApiError(504, message_for(504)), exchange)

    async def _close_after_headers(self, scene: _Scene) -> None:
        await _whole_body(scene.answer)
        await scene.send(scene.start())
        scene.exchange.response_body = None
        await self._break(scene, "closed_after_headers")

    async def _close_mid_body(self, scene: _Scene) -> None:
        body = await _whole_body(scene.answer)
        half = body[: len(body) // 2]
        await scene.send(scene.start())
        await scene.send({"type": "http.response.body", "body": half, "more_body": True})
        scene.exchange.response_body = half[:BODY_LIMIT]
        await self._break(scene, "closed_mid_body")

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
        scene.exchange.outcome = "slow_body"
        scene.exchange.response_body = body

    async def _rewrite(self, scene: _Scene) -> None:
        """A 200 whose body is not the answer's: cut, garbled or empty."""
        body = await _whole_body(scene.answer)
        fault = scene.decision.fault
        assert fault.spec.rewrite is not None  # declared with the rewrite action
        mangled = fault.spec.rewrite(body)
        exchange = scene.exchange
        exchange.outcome = fault.kind
        exchange.status = 200
        exchange.response_body = mangled
        exchange.response_headers = _with_length(exchange.response_headers, len(mangled))
        await scene.send(scene.start())
        await scene.send({"type": "http.response.body", "body": mangled})

    async def _break(self, scene: _Scene, outcome: str) -> None:
        """Break the client's connection, journaling its `outcome` first: the client raises
        the moment the socket breaks, and a test reading the journal then must find it."""
        scene.exchange.outcome = outcome
        self.state.journal.record(scene.exchange, time.perf_counter())
        if not self.connections.cut(scene.scope.get("client"), reset=outcome == "reset"):
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
