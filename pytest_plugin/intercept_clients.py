"""Where `lipsync_intercept` hooks into each HTTP library, and how a transport fault looks
in each.

httpx: a respx router patched in at httpcore's connection pools (respx's default), whose
handlers answer intercepted requests themselves, let others through (respx's
`PassThrough`) or refuse them. Faults are raised as httpcore's exceptions, which httpx's
transport maps to its own with the client's request attached, as for a real socket.

requests: a `responses.RequestsMock` with one callback per method for the intercepted
origins, and either a passthrough for everything else or a callback that refuses it.
Faults become the exceptions requests raises when a socket is reset, times out or is cut.

respx and responses come with the `intercept` extra; without them the fixture fails with
the command that installs them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import httpcore
import httpx
import pytest

from vidu_lipsync_mock.http.fault_actions import TransportFault

if TYPE_CHECKING:
    from requests import PreparedRequest

    from .intercept import Interceptor

__all__ = ["as_httpcore_error", "as_requests_error", "patch_httpx", "patch_requests"]

_EXTRA = "pip install 'vidu-lipsync-mock[intercept]'"

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _missing(library: str) -> NoReturn:
    pytest.fail(
        f"lipsync_intercept needs {library} (the `intercept` extra): {_EXTRA}", pytrace=False
    )


def as_httpcore_error(fault: TransportFault) -> Exception:
    """The httpcore exception for what the socket would have done; httpx maps it."""
    if fault.outcome == "reset":
        return httpcore.ReadError("[Errno 104] Connection reset by peer")
    if fault.outcome == "hang":
        return httpcore.ReadTimeout("The read operation timed out (mock hang fault)")
    return httpcore.RemoteProtocolError(
        "peer closed connection without sending complete message body"
    )


@contextmanager
def patch_httpx(interceptor: Interceptor) -> Iterator[None]:
    try:
        import respx
        from respx.models import PassThrough
    except ImportError:
        _missing("respx")

    class Router(respx.MockRouter):
        def _refuse_or_pass(self, request: httpx.Request) -> None:
            if interceptor.passthrough:
                self.record(request)
                raise PassThrough("not intercepted", request=request, origin=None)  # type: ignore[arg-type]
            raise interceptor.refusal(request.method, str(request.url))

        def handler(self, request: httpx.Request) -> httpx.Response:
            if not interceptor.intercepts(str(request.url)):
                self._refuse_or_pass(request)
            try:
                response = interceptor.answer(request)
            except TransportFault as fault:
                raise as_httpcore_error(fault) from None
            self.record(request, response=response)
            return response

        async def async_handler(self, request: httpx.Request) -> httpx.Response:
            if not interceptor.intercepts(str(request.url)):
                self._refuse_or_pass(request)
            try:
                response = await interceptor.answer_async(request)
            except TransportFault as fault:
                raise as_httpcore_error(fault) from None
            self.record(request, response=response)
            return response

    with Router(assert_all_called=False, assert_all_mocked=False):
        yield


def as_requests_error(fault: TransportFault, request: PreparedRequest) -> Exception:
    """The exception requests raises for what the socket would have done."""
    from requests.exceptions import ChunkedEncodingError, ReadTimeout
    from requests.exceptions import ConnectionError as RequestsConnectionError
    from urllib3.exceptions import ProtocolError

    if fault.outcome == "reset":
        reset = ConnectionResetError(104, "Connection reset by peer")
        return RequestsConnectionError(ProtocolError("Connection aborted.", reset), request=request)
    if fault.outcome == "hang":
        return ReadTimeout("Read timed out. (mock hang fault)", request=request)
    return ChunkedEncodingError(
        ProtocolError("Connection broken: peer closed connection mid-answer"), request=request
    )


def _body(request: PreparedRequest) -> bytes:
    body: Any = request.body
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, bytes):
        return body
    if hasattr(body, "read"):
        data = body.read()
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)
    return b"".join(chunk.encode("utf-8") if isinstance(chunk, str) else chunk for chunk in body)


def _origins_pattern(interceptor: Interceptor) -> str:
    """A regular expression for the start of a URL on an intercepted origin."""
    from .intercept import DEFAULT_PORTS

    alternatives = []
    for scheme, host, port in sorted(interceptor.origins):
        port_part = f"(?::{port})?" if port == DEFAULT_PORTS[scheme] else f":{port}"
        alternatives.append(f"{re.escape(scheme)}://{re.escape(host)}{port_part}")
    return f"(?i:{'|'.join(alternatives)})(?=[/?#]|$)"


@contextmanager
def patch_requests(interceptor: Interceptor) -> Iterator[None]:
    try:
        import responses
    except ImportError:
        _missing("responses")

    def answer(request: PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        method = request.method or "GET"
        outgoing = httpx.Request(
            method, str(request.url), headers=list(request.headers.items()), content=_body(request)
        )
        try:
            response = interceptor.answer(outgoing)
        except TransportFault as fault:
            raise as_requests_error(fault, request) from None
        # Repeated header names arrive joined with ", ", as requests shows them anyway.
        return response.status_code, dict(response.headers), response.content

    def refuse(request: PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        raise interceptor.refusal(request.method or "GET", str(request.url))

    mine = _origins_pattern(interceptor)
    mock = responses.RequestsMock(assert_all_requests_are_fired=False)
    for method in _METHODS:
        mock.add_callback(method, re.compile(mine), callback=answer, content_type=None)
        if not interceptor.passthrough:
            # Everything else: a pattern that cannot overlap the origins' (responses drops
            # an already-called match when two patterns match one URL).
            mock.add_callback(method, re.compile(f"(?!{mine})"), callback=refuse)
    if interceptor.passthrough:
        mock.add_passthru(re.compile(".*"))
    with mock:
        yield
