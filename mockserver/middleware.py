"""The edge where faults are carried out and every request is written to the journal.

A pure ASGI middleware (not `BaseHTTPMiddleware`): it must be able to withhold a response,
send half of one, or break the connection, none of which a request/response wrapper can
express. The decision of *which* fault fires is the engine's; this module only acts it out
and records what the client saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import wire
from .admin import ADMIN_PREFIX
from .auth import key_fingerprint, redact
from .connections import Connections
from .errors import ApiError
from .faults import (
    CREATED_TASK_KEY,
    DEFAULT_MESSAGES,
    MAX_DELAY_SECONDS,
    TASK_FAULTS_KEY,
    Decision,
    FaultError,
    RequestInfo,
    parse_fault_header,
)
from .journal import Entry
from .ratelimit import WINDOW_SECONDS
from .state import MockState

__all__ = ["ADMIN_PREFIX", "FaultMiddleware", "TransportFault", "classify"]

FAULT_HEADER = "x-mock-fault"
JOURNAL_BODY_LIMIT = 64 * 1024

_SUBMIT = re.compile(r"^/api/v1/(?!tasks/)[^/]+/[^/]+(/async)?$")
_POLL = re.compile(r"^/api/v1/tasks/([^/]+)$")
_DOWNLOAD = re.compile(r"^/files/([^/]+)/[^/]+$")


class TransportFault(ConnectionResetError):
    """Raised to an in-process client where a real server would have broken the socket.

    `outcome` says what the socket would have done (`reset`, `closed_after_headers`,
    `closed_mid_body`, `hang`), so an in-process transport can raise the exception its HTTP
    library raises for that (the pytest plugin's transports map it for httpx).
    """

    def __init__(self, outcome: str) -> None:
        super().__init__(f"mock transport fault: {outcome}")
        self.outcome = outcome


def classify(method: str, path: str) -> tuple[str, str | None]:
    """(route name, task id in the path) — the words rules and the journal use."""
    if method == "POST" and _SUBMIT.match(path):
        return "submit", None
    match = _POLL.match(path)
    if match:
        return "poll", match.group(1)
    match = _DOWNLOAD.match(path)
    if match:
        return "download", match.group(1)
    if path.startswith("/media/"):
        return "sample", None
    if path == "/openapi.json":
        return "openapi", None
    return "other", None


def _bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _redacted_headers(headers: Headers) -> dict[str, str]:
    shown: dict[str, str] = {}
    for name, value in headers.items():
        if name == "authorization":
            token = _bearer(value)
            value = f"Bearer {redact(token)}" if token else "***"
        shown[name] = value
    return shown


def _text(body: bytes) -> str | None:
    if not body:
        return None
    return body[:JOURNAL_BODY_LIMIT].decode("utf-8", errors="replace")


@dataclass
class Captured:
    """A response held back instead of sent, so a fault can mangle or drop it."""

    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            self.body.extend(message.get("body", b""))


@dataclass
class Exchange:
    """What the journal needs to know about a request, gathered as it arrives."""

    scope: Scope
    seq: int
    method: str
    path: str
    route: str
    task_id: str | None
    headers: Headers
    api_key: str | None
    query: str
    clock_time: float
    wall_time: float
    started: float
    body: bytes = b""
    fault: str | None = None


class Recorder:
    """Passes messages through to the client while keeping what the journal needs."""

    def __init__(self, send: Send, keep_body: bool) -> None:
        self._send = send
        self.keep_body = keep_body
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = bytearray()
        self.outcome = "response"
        self.recorded = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {
                k.decode("latin-1"): v.decode("latin-1") for k, v in message.get("headers", [])
            }
            if "application/json" not in self.headers.get("content-type", ""):
                self.keep_body = False
        elif (
            message["type"] == "http.response.body"
            and self.keep_body
            and len(self.body) < JOURNAL_BODY_LIMIT
        ):
            self.body.extend(message.get("body", b""))
        await self._send(message)


def _with_length(headers: list[tuple[bytes, bytes]], length: int) -> list[tuple[bytes, bytes]]:
    kept = [(k, v) for k, v in headers if k.lower() != b"content-length"]
    return [*kept, (b"content-length", str(length).encode())]


class FaultMiddleware:
    """Carries out HTTP and transport faults, hands task faults to the route, and records
    every non-admin request in the journal."""

    def __init__(self, app: ASGIApp, state: MockState, connections: Connections) -> None:
        self.app = app
        self.state = state
        self.connections = connections

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        state = self.state
        method: str = scope["method"]
        path: str = scope["path"]
        route, task_id = classify(method, path)
        headers = Headers(scope=scope)
        exchange = Exchange(
            scope=scope,
            seq=state.journal.next_seq(),
            method=method,
            path=path,
            route=route,
            task_id=task_id,
            headers=headers,
            api_key=_bearer(headers.get("authorization")),
            query=scope.get("query_string", b"").decode("latin-1"),
            clock_time=state.clock.now(),
            wall_time=time.time(),
            started=time.perf_counter(),
        )
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > state.config.max_body_bytes:
            # Too large by its own account: leave the body unread so the route answers 413
            # at once, instead of waiting for bytes that may never come.
            exchange.body = b""
        else:
            exchange.body, receive = await self._buffer_body(receive, state.config.max_body_bytes)
        recorder = Recorder(send, keep_body=route != "download")
        try:
            decisions = self._decide(exchange)
        except FaultError as error:
            bad = ApiError(400, f"Invalid parameters: X-Mock-Fault: {error}")
            await self._send_error(recorder.send, bad)
            self._record(exchange, recorder)
            return
        scope[TASK_FAULTS_KEY] = [d.fault for d in decisions if d.fault.group in ("task", "result")]
        answer = next((d for d in decisions if d.answers), None)
        labels = [d.fault.label() for d in decisions]
        exchange.fault = ",".join(labels) if labels else None
        delay = min(sum(d.delay for d in decisions), MAX_DELAY_SECONDS)
        try:
            if delay:
                await asyncio.sleep(delay)
            if answer is None:
                await self.app(scope, receive, recorder.send)
            else:
                await self._carry_out(answer, scope, receive, recorder, exchange)
        except ClientDisconnect:
            # The client hung up mid-request: a network outcome, not a bug of ours.
            recorder.status, recorder.outcome = 0, "client_disconnected"
        except BaseException:
            if recorder.status == 0 and recorder.outcome == "response":
                recorder.status = 500
            raise
        finally:
            self._record(exchange, recorder)

    def _decide(self, exchange: Exchange) -> list[Decision]:
        """The request header's fault first (it answers this request alone), then the
        rules; when the header already answers, rules only count the request."""
        parsed: Mapping[str, Any] | None = None
        if exchange.route == "submit" and exchange.body and self.state.faults.matches_bodies:
            try:
                value = json.loads(exchange.body)
            except (ValueError, RecursionError):
                value = None
            parsed = value if isinstance(value, dict) else None
        requested: list[Decision] = []
        header = exchange.headers.get(FAULT_HEADER)
        if header:
            fault = parse_fault_header(header)
            if fault.group in ("task", "result") and exchange.route != "submit":
                raise FaultError(f"{fault.kind} only applies to a submit")
            delay = self.state.faults.delay_for(fault) if fault.kind == "latency" else 0.0
            requested.append(Decision(fault, None, "before", delay))
        info = RequestInfo(exchange.route, exchange.method, exchange.path, exchange.api_key, parsed)
        return self.state.faults.decide(info, prior=requested)

    async def _buffer_body(self, receive: Receive, limit: int) -> tuple[bytes, Receive]:
        """Read the request body (at most `limit` + 1 bytes, enough for the route to see it
        is too large) and hand the route a receive that replays it."""
        chunks: list[bytes] = []
        size = 0
        more = True
        while more and size <= limit:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks), _replay([message], receive)
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
        return body, _replay(replayed, receive)

    async def _send_error(self, send: Send, error: ApiError) -> None:
        body = wire.error_body(error)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _fault_error(self, decision: Decision) -> ApiError:
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

    async def _carry_out(
        self,
        decision: Decision,
        scope: Scope,
        receive: Receive,
        recorder: Recorder,
        exchange: Exchange,
    ) -> None:
        kind = decision.fault.kind
        options = decision.fault.options
        captured = Captured()
        mangles = kind in (
            "close_after_headers",
            "close_mid_body",
            "truncated_json",
            "malformed_json",
            "empty_body",
            "slow_body",
        )
        if decision.phase == "after" or mangles:
            await self.app(scope, receive, captured.send)
            recorder.headers = {
                k.decode("latin-1"): v.decode("latin-1") for k, v in captured.headers
            }
            recorder.status = captured.status
        send = recorder._send
        if kind == "error":
            await self._send_error(recorder.send, self._fault_error(decision))
            return
        if kind == "reset":
            recorder.status, recorder.outcome = 0, "reset"
            await self._break(scope, "reset", exchange, recorder)
            return
        if kind == "hang":
            recorder.status, recorder.outcome = 504, "hang"
            if not self.connections.has(scope.get("client")):
                # In-process there is no client timer to outlast: give up for it at once.
                recorder.status = 0
                raise TransportFault("hang")
            await _wait_for_disconnect(
                receive, min(options.get("seconds", 30.0), MAX_DELAY_SECONDS)
            )
            await self._send_error(recorder.send, ApiError(504, DEFAULT_MESSAGES[504]))
            return
        body = bytes(captured.body)
        status = captured.status or 200
        if kind == "close_after_headers":
            await send(
                {"type": "http.response.start", "status": status, "headers": captured.headers}
            )
            recorder.outcome = "closed_after_headers"
            recorder.body = bytearray()
            await self._break(scope, "closed_after_headers", exchange, recorder)
            return
        if kind == "close_mid_body":
            await send(
                {"type": "http.response.start", "status": status, "headers": captured.headers}
            )
            await send(
                {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
            )
            recorder.outcome = "closed_mid_body"
            recorder.body = bytearray(body[: len(body) // 2][:JOURNAL_BODY_LIMIT])
            await self._break(scope, "closed_mid_body", exchange, recorder)
            return
        if kind == "slow_body":
            await send(
                {"type": "http.response.start", "status": status, "headers": captured.headers}
            )
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
            recorder.outcome = "slow_body"
            recorder.body = bytearray(body[:JOURNAL_BODY_LIMIT])
            return
        if kind == "truncated_json":
            mangled = body[: max(1, len(body) // 2)]
        elif kind == "malformed_json":
            mangled = b'{"code":0,"message":"success","data":{"status":"pending" "task_id":}'
        else:  # empty_body
            mangled = b""
        recorder.outcome = kind
        recorder.status = 200
        recorder.body = bytearray(mangled)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": _with_length(captured.headers, len(mangled)),
            }
        )
        await send({"type": "http.response.body", "body": mangled})

    async def _break(
        self, scope: Scope, outcome: str, exchange: Exchange, recorder: Recorder
    ) -> None:
        """Break the client's connection, journaling first: the client raises the moment
        the socket breaks, and a test reading the journal then must find the entry."""
        self._record(exchange, recorder)
        peer = scope.get("client")
        done = self.connections.reset(peer) if outcome == "reset" else self.connections.close(peer)
        if not done:
            raise TransportFault(outcome)
        # Let the transport report the loss, so the server does not try to answer.
        for _ in range(3):
            await asyncio.sleep(0)

    def _record(self, exchange: Exchange, recorder: Recorder) -> None:
        if recorder.recorded:
            return
        recorder.recorded = True
        task_id = exchange.task_id
        if exchange.route == "submit":
            # Set by the route when it created a task, even if a fault then lost the answer.
            task_id = exchange.scope.get(CREATED_TASK_KEY, task_id)
        self.state.journal.record(
            Entry(
                seq=exchange.seq,
                method=exchange.method,
                path=exchange.path,
                route=exchange.route,
                status=recorder.status,
                clock_time=exchange.clock_time,
                wall_time=exchange.wall_time,
                duration_ms=(time.perf_counter() - exchange.started) * 1000,
                api_key=redact(exchange.api_key) if exchange.api_key else None,
                api_key_id=key_fingerprint(exchange.api_key) if exchange.api_key else None,
                task_id=task_id,
                fault=exchange.fault,
                outcome=recorder.outcome,
                query=exchange.query,
                request_headers=_redacted_headers(exchange.headers),
                request_body=_text(exchange.body),
                response_headers=recorder.headers,
                response_body=_text(bytes(recorder.body)),
            )
        )


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


async def _wait_for_disconnect(receive: Receive, seconds: float) -> None:
    """Hold the request open until the client gives up or the bound passes."""

    async def disconnected() -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(disconnected(), timeout=seconds)
