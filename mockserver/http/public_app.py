"""The public app: where each request to the provider's API is read once, faults are
carried out, the route answers, and the exchange goes into the journal.

Plain ASGI beside Starlette, which keeps only the admin API: the public routes are few and
hot, and Starlette's middleware, `Request`, `Response` and exception layers cost several
times what the mock's own work on a poll does. So this app resolves the route from its
table (`router`), calls the route's plain handler (`public_routes`), which gives back a
`Reply`, and sends it. When no rule could fire on the route and there is no `X-Mock-Fault`
header, that is all it does; otherwise the fault engine decides and `fault_actions` acts
it out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import NamedTuple

from starlette.types import Message, Receive, Scope, Send

from vidu_lipsync_mock.faults import (
    MAX_DELAY_SECONDS,
    Decision,
    FaultError,
    RequestInfo,
    parse_fault_header,
)
from vidu_lipsync_mock.http.connections import Connections
from vidu_lipsync_mock.http.fault_actions import FaultActions, TransportFault
from vidu_lipsync_mock.http.messages import (
    JSON,
    Headers,
    Incoming,
    Reply,
    crash_reply,
    error_reply,
    send_reply,
)
from vidu_lipsync_mock.http.public_routes import PublicApi
from vidu_lipsync_mock.http.router import Resolved, Router
from vidu_lipsync_mock.journal.exchange import Exchange, new_exchange
from vidu_lipsync_mock.journal.request_ids import REQUEST_ID, request_id
from vidu_lipsync_mock.service.admission import decode_json_object
from vidu_lipsync_mock.service.errors import ApiError, echo, method_not_allowed, route_not_found
from vidu_lipsync_mock.service.keys import bearer_token
from vidu_lipsync_mock.state import MockState

__all__ = ["FAULT_HEADER", "Answer", "PublicApp"]

FAULT_HEADER = b"x-mock-fault"

_BODILESS = ("GET", "HEAD")

_new = tuple.__new__


class Answer(NamedTuple):
    """What `PublicApp.respond` decided: a reply with the headers it goes out with (and
    the bug that made it a 500, raised once it is sent); or, when a fault fired, `later`:
    the rest, which needs the event loop. A tuple: every request makes one."""

    reply: Reply | None
    headers: Headers
    crash: Exception | None
    later: Callable[[Receive, Send], Awaitable[None]] | None

    async def send_later(self, receive: Receive, send: Send) -> None:
        """The answer through ASGI `send`: a fault's acts, a stream, or a crash's 500
        (the crash raised afterwards, as Starlette's error middleware does, so the server
        logs it)."""
        if self.later is not None:
            await self.later(receive, send)
            return
        assert self.reply is not None
        await send_reply(send, self.reply, self.headers)
        if self.crash is not None:
            raise self.crash


def _kept_body(reply: Reply, route: str) -> bytes | None:
    """What of an answer the journal keeps: JSON bodies, not the video."""
    content_type = reply.content_type
    if route == "download" or content_type is None:
        return None
    return reply.body if content_type is JSON or JSON in content_type else None


def _with_request_id(send: Send, value: bytes) -> Send:
    """`send`, adding `X-Request-Id` to the answer's headers (off the plain path)."""

    async def stamped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message["headers"], (REQUEST_ID, value)]}
        await send(message)

    return stamped


async def _rest_of_body(receive: Receive, first: Message, limit: int) -> bytes | None:
    """The body after its first message, at most `limit` + 1 bytes in all (enough for the
    admission to see it is too large); None if the client went away before sending it all."""
    message = first
    chunks: list[bytes] = []
    size = 0
    while True:
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False) or size > limit:
            return b"".join(chunks)
        message = await receive()


class PublicApp:
    """Serves the public routes: reads each request once, journals it, carries out its
    faults. `app.MockApp` hands it every request that is not for the admin API."""

    def __init__(self, state: MockState, connections: Connections) -> None:
        self.state = state
        self.connections = connections
        self.router = Router(PublicApi(state).routes())
        self.actions = FaultActions(state, connections, self._answer)

    def _answer(self, resolved: Resolved, request: Incoming) -> Reply:
        """Run the route; its refusals, and the table's 404 and 405, become the provider's
        envelope."""
        handler = resolved.handler
        if handler is None:
            method, path = request.method, request.path
            if resolved.allow:
                return error_reply(method_not_allowed(method, path, list(resolved.allow)))
            return error_reply(route_not_found(method, path))
        try:
            return handler(request)
        except ApiError as error:
            return error_reply(error)

    def _crash_reply(self, request: Incoming, error: Exception) -> Reply:
        """What the client gets when the route fails: a bug of ours is the provider's 500
        (`crash_reply`); a transport fault raised on purpose to an in-process client is an
        empty 500 it never reads."""
        if isinstance(error, TransportFault):
            return Reply(b"", 500, None)
        return crash_reply(self.state, request.method, request.path, error)

    async def serve(self, scope: Scope, receive: Receive, send: Send, local_path: str) -> None:
        """One HTTP request; `local_path` is its path below the app's root path."""
        state = self.state
        seq = state.journal.next_seq()
        clock_time = state.clock.now()
        wall_time = time.time()
        started = time.perf_counter()
        method: str = scope["method"]
        resolved = self.router.resolve(method, local_path)
        raw_headers: Sequence[tuple[bytes, bytes]] = scope["headers"]
        headers = dict(reversed(raw_headers))  # the first of repeated names wins
        declared = headers.get(b"content-length")
        length = int(declared) if declared is not None and declared.isdigit() else None
        body: bytes | None
        if declared is None and method in _BODILESS and b"transfer-encoding" not in headers:
            body = b""  # nothing follows a GET without a length: no need to ask for it
        elif length is not None and length > (limit := state.admission.body_limit(resolved.route)):
            # Too large by its own account: leave it unread so the admission answers 413
            # at once, instead of waiting for bytes that may never come.
            body = b""
        else:
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                body = message.get("body", b"")
            else:
                limit = state.admission.body_limit(resolved.route)
                body = await _rest_of_body(receive, message, limit)
        if body is None:
            # The client hung up mid-request: a network outcome, not a bug of ours, and
            # nothing a service would act on.
            state.journal.write(
                seq=seq, method=method, path=scope["path"], route=resolved.route, status=0,
                clock_time=clock_time, wall_time=wall_time,
                duration_ms=(time.perf_counter() - started) * 1000, task_id=resolved.task_id,
                query=scope.get("query_string", b""), request_headers=raw_headers,
                request_body=b"", response_headers=(), response_body=None,
                outcome="client_disconnected",
            )  # fmt: skip
            return
        answer = self.respond(
            scope, local_path, resolved, headers, body, length, seq, clock_time, wall_time, started
        )
        reply = answer.reply
        if reply is None or reply.stream is not None or answer.crash is not None:
            await answer.send_later(receive, send)
            return
        await send(
            {"type": "http.response.start", "status": reply.status, "headers": answer.headers}
        )
        await send({"type": "http.response.body", "body": reply.body})

    def answer_at_once(self, scope: Scope, body: bytes) -> Answer | None:
        """A request the server read whole in one go, answered without the event loop
        (`http.direct`): the same work as `serve`, or None when `serve` must take it
        (a body over its route's limit, which `serve` answers without reading it)."""
        state = self.state
        method: str = scope["method"]
        path: str = scope["path"]
        resolved = self.router.resolve(method, path)
        raw_headers: Sequence[tuple[bytes, bytes]] = scope["headers"]
        headers = dict(reversed(raw_headers))
        declared = headers.get(b"content-length")
        length = int(declared) if declared is not None and declared.isdigit() else None
        if length is not None and length > state.admission.body_limit(resolved.route):
            return None
        seq = state.journal.next_seq()
        return self.respond(
            scope, path, resolved, headers, body, length,
            seq, state.clock.now(), time.time(), time.perf_counter(),
        )  # fmt: skip

    def respond(
        self,
        scope: Scope,
        local_path: str,
        resolved: Resolved,
        headers: dict[bytes, bytes],
        body: bytes,
        length: int | None,
        seq: int,
        clock_time: float,
        wall_time: float,
        started: float,
    ) -> Answer:
        """Everything of a read request that needs no waiting: the route's answer, its
        journal entry and its headers as they go out; or, when a fault fired, what is left
        to do on the event loop (`Answer.later`)."""
        state = self.state
        method: str = scope["method"]
        path: str = scope["path"]
        raw_headers: Sequence[tuple[bytes, bytes]] = scope["headers"]
        request = Incoming(scope, method, path, resolved.params, headers, body, length)
        route = resolved.route
        fault_header = headers.get(FAULT_HEADER)
        if fault_header is not None or state.faults.may_fire(route):
            try:
                decisions = self._decide(request, route, fault_header)
            except FaultError as error:
                decisions = None
                refusal = error
            if decisions != []:
                prefix = state.journal.id_prefix
                stamp = request_id(headers.get(REQUEST_ID), seq, prefix)
                exchange = new_exchange(
                    seq=seq, method=method, path=path, route=route, clock_time=clock_time,
                    wall_time=wall_time, started=started,
                    task_id=resolved.task_id,
                    query=scope.get("query_string", b""), request_headers=raw_headers,
                    request_body=body,
                )  # fmt: skip

                async def later(receive: Receive, send: Send) -> None:
                    send = _with_request_id(send, stamp)
                    if decisions is None:
                        await self._refuse_fault_header(refusal, resolved, send, exchange)
                    else:
                        await self._faulted(request, resolved, decisions, receive, send, exchange)

                return _new(Answer, (None, [], None, later))
        # The path of nearly every request, written out here rather than in helpers: it
        # is the hot path, and each call level costs a measurable share of a poll.
        crash: Exception | None = None
        try:
            reply = self._answer(resolved, request)
        except Exception as error:
            reply, crash = self._crash_reply(request, error), error
        sent = reply.wire_headers()
        # Journaled before the answer goes out: a client (or the test driving it) that reads
        # the journal the moment it has its answer must find this exchange there.
        state.journal.write(
            seq=seq, method=resolved.method,
            path=resolved.path if path is local_path else path, route=route,
            status=reply.status, clock_time=clock_time, wall_time=wall_time,
            duration_ms=(time.perf_counter() - started) * 1000,
            task_id=reply.task_id if route == "submit" else resolved.task_id,
            query=scope.get("query_string", b""), request_headers=raw_headers,
            request_body=body, response_headers=sent, response_body=_kept_body(reply, route),
        )  # fmt: skip
        # Our `X-Request-Id`, added after the journal copied the headers: the journal works
        # it out again when read, and keeps sharing one copy of the headers answers repeat.
        client_id = headers.get(REQUEST_ID)
        sent.append(
            (REQUEST_ID, b"%s%d" % (state.journal.id_prefix, seq))
            if client_id is None
            else (REQUEST_ID, request_id(client_id, seq, state.journal.id_prefix))
        )
        return _new(Answer, (reply, sent, crash, None))

    def _decide(self, request: Incoming, route: str, fault_header: bytes | None) -> list[Decision]:
        """The request header's fault first (it answers this request alone), then the
        rules; when the header already answers, rules only count the request."""
        engine = self.state.faults
        if route == "submit" and request.body and engine.matches_bodies:
            try:
                request.parsed = decode_json_object(request.body)
            except ApiError:
                request.parsed = None  # the route reports it; no body rule can match it
        requested: tuple[Decision, ...] = ()
        if fault_header:
            fault = parse_fault_header(fault_header.decode("latin-1"))
            if fault.group in ("task", "result") and route != "submit":
                raise FaultError(f"{fault.kind} only applies to a submit")
            delay = engine.delay_for(fault) if fault.kind == "latency" else 0.0
            requested = (Decision(fault, None, "before", delay),)
        api_key = bearer_token(request.header(b"authorization")) if engine.matches_keys else None
        # `RequestInfo(...)` runs a Python `__new__`; a rule-bound request makes one each time.
        info = _new(RequestInfo, (route, request.method, request.path, api_key, request.parsed))
        return engine.decide(info, prior=requested)

    async def _refuse_fault_header(
        self, error: FaultError, resolved: Resolved, send: Send, exchange: Exchange
    ) -> None:
        reply = error_reply(ApiError(400, f"Invalid parameters: X-Mock-Fault: {echo(str(error))}"))
        sent = reply.wire_headers()
        exchange.answered(reply, sent, _kept_body(reply, resolved.route))
        self._write(exchange)  # before the answer goes out, as on the plain path
        try:
            await send_reply(send, reply, sent)
        finally:
            self._write(exchange)

    async def _faulted(
        self,
        request: Incoming,
        resolved: Resolved,
        decisions: list[Decision],
        receive: Receive,
        send: Send,
        exchange: Exchange,
    ) -> None:
        """A request on which some fault fired."""
        request.task_faults = [d.fault for d in decisions if d.fault.group in ("task", "result")]
        answer = next((d for d in decisions if d.answers), None)
        labels = [d.fault.label() for d in decisions]
        exchange.fault = ",".join(labels) if labels else None
        delay = min(sum(d.delay for d in decisions), MAX_DELAY_SECONDS)
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            if delay:
                await asyncio.sleep(delay)
            if answer is None:
                reply = self._answer(resolved, request)
                sent = reply.wire_headers()
                exchange.answered(reply, sent, _kept_body(reply, resolved.route))
                self._write(exchange)  # before the answer goes out, as on the plain path
                await send_reply(tracked, reply, sent)
            else:
                await self.actions.carry_out(answer, resolved, request, receive, tracked, exchange)
        except BaseException as error:
            if exchange.status == 0 and exchange.outcome == "response":
                exchange.status = 500
            if isinstance(error, Exception) and not started:
                reply = self._crash_reply(request, error)
                await send_reply(send, reply, reply.wire_headers())
            raise
        finally:
            self._write(exchange)

    def _write(self, exchange: Exchange) -> None:
        self.state.journal.record(exchange, time.perf_counter())
