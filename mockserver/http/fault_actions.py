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
from collections.abc import Callable

from starlette.types import Receive, Scope, Send

from vidu_lipsync_mock.faults.engine import DEFAULT_MESSAGES, MAX_DELAY_SECONDS, Decision
from vidu_lipsync_mock.http.connections import Connections
from vidu_lipsync_mock.http.messages import Headers, Incoming, Reply, error_reply, send_reply
from vidu_lipsync_mock.http.router import Resolved
from vidu_lipsync_mock.journal.exchange import Exchange
from vidu_lipsync_mock.journal.journal import BODY_LIMIT
from vidu_lipsync_mock.service.errors import ApiError
from vidu_lipsync_mock.service.quotas import WINDOW_SECONDS
from vidu_lipsync_mock.state import MockState

__all__ = ["FaultActions", "TransportFault"]

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
            now = self.state.clock.now()
            limit = self.state.limiter.limit or 100
            reset_at = int((now // WINDOW_SECONDS + 1) * WINDOW_SECONDS)
            wait = retry_after if retry_after is not None else max(1, reset_at - now)
            headers = {
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(reset_at),
                "Retry-After": str(int(wait + 0.999)),
            }
        elif retry_after is not None:
            headers["Retry-After"] = str(int(retry_after + 0.999))
        return ApiError(status, message, headers)

    async def _send_error(self, send: Send, error: ApiError, exchange: Exchange) -> None:
        reply = error_reply(error)
        exchange.answered(reply, reply.wire_headers(), reply.body)
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
        kind = decision.fault.kind
        options = decision.fault.options
        scope = request.scope
        reply: Reply | None = None
        if decision.phase == "after" or kind in MANGLES:
            reply = self.answer(resolved, request)
            exchange.answered(reply, reply.wire_headers(), None)
        if kind == "error":
            await self._send_error(send, self.fault_error(decision), exchange)
            return
        if kind == "reset":
            exchange.status, exchange.outcome = 0, "reset"
            await self._break(scope, "reset", exchange)
            return
        if kind == "hang":
            exchange.status, exchange.outcome = 504, "hang"
            if not self.connections.has(scope.get("client")):
                # In-process there is no client timer to outlast: give up for it at once.
                exchange.status = 0
                raise TransportFault("hang")
            await _wait_for_disconnect(
                receive, min(options.get("seconds", 30.0), MAX_DELAY_SECONDS)
            )
            await self._send_error(send, ApiError(504, DEFAULT_MESSAGES[504]), exchange)
            return
        assert reply is not None  # every other kind mangles the real answer
        body = await _whole_body(reply)
        headers = exchange.response_headers
        status = reply.status
        start = {"type": "http.response.start", "status": status, "headers": headers}
        if kind == "close_after_headers":
            await send(start)
            exchange.outcome = "closed_after_headers"
            exchange.response_body = None
            await self._break(scope, "closed_after_headers", exchange)
            return
        if kind == "close_mid_body":
            half = body[: len(body) // 2]
            await send(start)
            await send({"type": "http.response.body", "body": half, "more_body": True})
            exchange.outcome = "closed_mid_body"
            exchange.response_body = half[:BODY_LIMIT]
            await self._break(scope, "closed_mid_body", exchange)
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
            exchange.outcome = "slow_body"
            exchange.response_body = body
            return
        if kind == "truncated_json":
            mangled = body[: max(1, len(body) // 2)]
        elif kind == "malformed_json":
            mangled = MALFORMED_JSON
        else:  # empty_body
            mangled = b""
        exchange.outcome = kind
        exchange.status = 200
        exchange.response_body = mangled
        exchange.response_headers = _with_length(headers, len(mangled))
        await send(
            {"type": "http.response.start", "status": 200, "headers": exchange.response_headers}
        )
        await send({"type": "http.response.body", "body": mangled})

    async def _break(self, scope: Scope, outcome: str, exchange: Exchange) -> None:
        """Break the client's connection, journaling first: the client raises the moment
        the socket breaks, and a test reading the journal then must find the entry."""
        self.state.journal.record(exchange, time.perf_counter())
        peer = scope.get("client")
        done = self.connections.reset(peer) if outcome == "reset" else self.connections.close(peer)
        if not done:
            raise TransportFault(outcome)
        # Let the transport report the loss, so the server does not try to answer.
        for _ in range(3):
            await asyncio.sleep(0)
