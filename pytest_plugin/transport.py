"""httpx transports that call the mock's ASGI app in-process, with no socket.

httpx ships only an async ASGI transport; code under test is often synchronous. The sync
transport here runs each request on a private event loop. Both transports turn the mock's
`TransportFault` into the exception httpx raises for the same failure on a real socket, so
a client's error handling is exercised exactly as in server mode.
"""

from __future__ import annotations

import asyncio

import httpx
from starlette.types import ASGIApp

from vidu_lipsync_mock.http.fault_actions import TransportFault

__all__ = ["AsyncMockTransport", "SyncMockTransport", "as_httpx_error"]


def as_httpx_error(fault: TransportFault, request: httpx.Request) -> httpx.TransportError:
    if fault.outcome == "reset":
        return httpx.ReadError("[Errno 104] Connection reset by peer", request=request)
    if fault.outcome == "hang":
        return httpx.ReadTimeout("timed out (mock hang fault)", request=request)
    return httpx.RemoteProtocolError(
        "peer closed connection without sending complete message body", request=request
    )


class AsyncMockTransport(httpx.AsyncBaseTransport):
    def __init__(self, app: ASGIApp) -> None:
        self._inner = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self._inner.handle_async_request(request)
            await response.aread()
        except TransportFault as fault:
            raise as_httpx_error(fault, request) from None
        except Exception:
            # A bug inside the mock: a socket client would see the 500 envelope, so this
            # one does too; the mock keeps the traceback and the fixture fails the test.
            return httpx.Response(
                500, json={"code": 500, "message": "Internal server error"}, request=request
            )
        return response


class SyncMockTransport(httpx.BaseTransport):
    def __init__(self, app: ASGIApp) -> None:
        self._inner = AsyncMockTransport(app)
        self._loop: asyncio.AbstractEventLoop | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        response = self._loop.run_until_complete(self._inner.handle_async_request(request))
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=response.content,
            extensions={"http_version": b"HTTP/1.1"},
            request=request,
        )

    def close(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.close()
        self._loop = None
