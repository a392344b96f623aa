"""httpx transports that call the mock's ASGI app in-process, with no socket.

httpx ships only an async ASGI transport; code under test is often synchronous. The sync
transport here runs each request on a private event loop. Both transports turn the mock's
`TransportFault` into the exception httpx raises for the same failure on a real socket, so
a client's error handling is exercised exactly as in server mode. `AppCaller` is the part
without that mapping, for callers that map the fault to another library's exceptions
(`lipsync_intercept` does, for httpx at the connection-pool level and for requests).
"""

from __future__ import annotations

import asyncio
import concurrent.futures

import httpx
from starlette.types import ASGIApp

from vidu_lipsync_mock.http.fault_actions import TransportFault

__all__ = [
    "AppCaller",
    "AsyncMockTransport",
    "SyncMockTransport",
    "as_httpx_error",
    "detached",
]


def as_httpx_error(fault: TransportFault, request: httpx.Request) -> httpx.TransportError:
    if fault.outcome == "reset":
        return httpx.ReadError("[Errno 104] Connection reset by peer", request=request)
    if fault.outcome == "hang":
        return httpx.ReadTimeout("timed out (mock hang fault)", request=request)
    return httpx.RemoteProtocolError(
        "peer closed connection without sending complete message body", request=request
    )


def detached(response: httpx.Response, request: httpx.Request) -> httpx.Response:
    """A read answer as a fresh response whose body can be read again, by any caller (the
    ASGI transport's own stream is spent once read)."""
    return httpx.Response(
        response.status_code,
        headers=response.headers,
        content=response.content,
        extensions={"http_version": b"HTTP/1.1"},
        request=request,
    )


class AppCaller:
    """Calls the app with an httpx request and returns the whole answer, read; a transport
    fault stays a `TransportFault` for the caller to map."""

    def __init__(self, app: ASGIApp) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def send(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self._inner.handle_async_request(request)
            await response.aread()
        except TransportFault:
            raise
        except Exception:
            # A bug inside the mock: a socket client would see the 500 envelope, so this
            # one does too; the mock keeps the traceback and the fixture fails the test.
            return httpx.Response(
                500, json={"code": 500, "message": "Internal server error"}, request=request
            )
        return response

    def send_sync(self, request: httpx.Request) -> httpx.Response:
        """`send` from synchronous code: on a private event loop, or, when this thread
        already runs one (a sync client called inside an async test), on a helper thread."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            if self._loop is None or self._loop.is_closed():
                self._loop = asyncio.new_event_loop()
            response = self._loop.run_until_complete(self.send(request))
        else:
            with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
                response = pool.submit(asyncio.run, self.send(request)).result()
        return detached(response, request)

    def close(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.close()
        self._loop = None


class AsyncMockTransport(httpx.AsyncBaseTransport):
    def __init__(self, app: ASGIApp) -> None:
        self._caller = AppCaller(app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._caller.send(request)
        except TransportFault as fault:
            raise as_httpx_error(fault, request) from None


class SyncMockTransport(httpx.BaseTransport):
    def __init__(self, app: ASGIApp) -> None:
        self._caller = AppCaller(app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return self._caller.send_sync(request)
        except TransportFault as fault:
            raise as_httpx_error(fault, request) from None

    def close(self) -> None:
        self._caller.close()
