"""The recording proxy: clients talk to it as to the service, it forwards each request to
the real upstream with the client's own key, answers with what the upstream answered, and
appends the exchange to a cassette.

It changes as little as it can, since it captures what the real service says. It must
change two things: the upstream origin inside a JSON answer (`get_result.url`) becomes the
proxy's own, or the client's polls would go to the upstream unrecorded (the cassette keeps
the original); and an upstream that cannot be reached or is too slow answers a gateway's
502 or 504 in the provider's envelope, as any proxy before a cloud API would.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import httpx
from starlette.types import Message, Receive, Scope, Send

from vidu_lipsync_mock.http.public_routes import PublicApi
from vidu_lipsync_mock.http.router import Router
from vidu_lipsync_mock.http.wire import error_body
from vidu_lipsync_mock.journal.exchange import Exchange, new_exchange
from vidu_lipsync_mock.journal.journal import Journal
from vidu_lipsync_mock.proxy.cassette import CassetteWriter
from vidu_lipsync_mock.server import url_for
from vidu_lipsync_mock.service.errors import ApiError, body_too_large
from vidu_lipsync_mock.state import MockState

__all__ = ["RecordingProxy"]

#: Headers that describe one connection, not the message: never forwarded either way.
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
    }
)

#: The largest JSON answer read whole (to rewrite its origin); a bigger one is refused 502.
JSON_LIMIT = 8 * 1024 * 1024


class RecordingProxy:
    """A plain ASGI app: forward, answer, record. `max_body_bytes` bounds what a client may
    send (an upload of the provider's largest file and its form fields fit). Each request
    has a connection of its own to the upstream, so the proxy holds nothing between
    requests and can be stopped at any moment."""

    def __init__(
        self,
        upstream: str,
        cassette: CassetteWriter,
        *,
        timeout: float = 60.0,
        max_body_bytes: int = 17 * 1024 * 1024,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.cassette = cassette
        self.timeout = timeout
        self.max_body_bytes = max_body_bytes
        self._journal = Journal(max_entries=256)
        self._router = Router(PublicApi(MockState()).routes())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client:
                await self._proxy(client, scope, receive, send)

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The request's body, or None once it passes `max_body_bytes`."""

        async def chunks() -> AsyncIterator[bytes]:
            while True:
                message: Message = await receive()
                if message["type"] == "http.disconnect":
                    return
                yield message.get("body", b"")
                if not message.get("more_body", False):
                    return

        return await _bounded(chunks(), self.max_body_bytes)

    async def _proxy(
        self, client: httpx.AsyncClient, scope: Scope, receive: Receive, send: Send
    ) -> None:
        started = time.perf_counter()
        wall = time.time()
        method: str = scope["method"]
        path: str = scope["path"]
        query: bytes = scope.get("query_string", b"")
        headers: list[tuple[bytes, bytes]] = list(scope["headers"])
        resolved = self._router.resolve(method, path)
        exchange = new_exchange(
            seq=self._journal.next_seq(),
            method=method,
            path=path,
            route=resolved.route,
            clock_time=wall,
            wall_time=wall,
            started=started,
            task_id=resolved.task_id,
            query=query,
            request_headers=headers,
            request_body=b"",
        )
        body = await self._read_body(receive)
        if body is None:
            await self._refuse(exchange, body_too_large(self.max_body_bytes), send, "refused")
            return
        exchange.request_body = body
        url = self.upstream + path + (f"?{query.decode('latin-1')}" if query else "")
        forwarded = [(name, value) for name, value in headers if name not in _HOP_BY_HOP]
        request = client.build_request(method, url, headers=forwarded, content=body)
        try:
            response = await client.send(request, stream=True)
        except httpx.TimeoutException:
            error = ApiError(
                504, f"Gateway timeout: the upstream did not answer within {self.timeout:g} s"
            )
            await self._refuse(exchange, error, send, "upstream_timeout")
            return
        except httpx.TransportError as failure:
            error = ApiError(
                502, f"Bad gateway: the upstream could not be reached ({type(failure).__name__})"
            )
            await self._refuse(exchange, error, send, "upstream_unreachable")
            return
        try:
            await self._answer(scope, exchange, response, send)
        finally:
            await response.aclose()

    async def _answer(
        self, scope: Scope, exchange: Exchange, response: httpx.Response, send: Send
    ) -> None:
        raw = [
            (name.lower(), value)
            for name, value in response.headers.raw
            if name.lower() not in _HOP_BY_HOP
        ]
        if b"json" in response.headers.get("content-type", "").encode("latin-1"):
            body = await _bounded(response.aiter_bytes(), JSON_LIMIT)
            if body is None:
                error = ApiError(502, f"Bad gateway: upstream answer over {JSON_LIMIT} bytes")
                await self._refuse(exchange, error, send, "upstream_too_large")
                return
            exchange.status = response.status_code
            exchange.response_headers = raw
            exchange.response_body = body
            self._record(exchange)
            shown = body.replace(self.upstream.encode(), self._own_origin(scope).encode())
            sent = [(n, v) for n, v in raw if n != b"content-encoding"]
            sent.append((b"content-length", str(len(shown)).encode()))
            await send(
                {"type": "http.response.start", "status": response.status_code, "headers": sent}
            )
            await send({"type": "http.response.body", "body": shown})
            return
        exchange.status = response.status_code
        exchange.response_headers = raw
        self._record(exchange)
        length = response.headers.get("content-length")
        sent = raw + ([(b"content-length", length.encode())] if length else [])
        await send({"type": "http.response.start", "status": response.status_code, "headers": sent})
        async for chunk in response.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    def _own_origin(self, scope: Scope) -> str:
        """The proxy's own origin, from the socket it was reached on (not from `Host`,
        which the client writes)."""
        host, port = scope.get("server") or ("127.0.0.1", 80)
        return url_for(str(host), port, scope.get("scheme", "http"))

    async def _refuse(self, exchange: Exchange, error: ApiError, send: Send, outcome: str) -> None:
        body = error_body(error)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        exchange.status = error.status
        exchange.outcome = outcome
        exchange.response_headers = headers
        exchange.response_body = body
        self._record(exchange)
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _record(self, exchange: Exchange) -> None:
        """Into the cassette, before the client has the answer (as the journal does)."""
        if exchange.route == "submit" and exchange.response_body:
            exchange.task_id = _task_id(exchange.response_body) or exchange.task_id
        journal = self._journal
        journal.record(exchange, time.perf_counter())
        for entry in journal.entries(since_seq=exchange.seq - 1):
            if entry.seq == exchange.seq:
                self.cassette.write(entry)
                return


async def _bounded(chunks: AsyncIterator[bytes], limit: int) -> bytes | None:
    """The chunks joined, or None once they pass `limit` bytes."""
    kept: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            return None
        kept.append(chunk)
    return b"".join(kept)


def _task_id(body: bytes) -> str | None:
    try:
        data = json.loads(body).get("data")
    except (ValueError, AttributeError):
        return None
    task_id = data.get("task_id") if isinstance(data, dict) else None
    return task_id if isinstance(task_id, str) else None
