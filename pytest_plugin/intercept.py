"""`lipsync_intercept`: the code under test calls `https://api.modellix.ai` as it does in
production, and the in-process mock answers — no change to the client, no socket.

Code under test usually has the provider's origin built in and opens its own clients.
This fixture patches the HTTP libraries where their own mocking libraries do: respx at
httpx's connection pools (every `httpx.Client` and `httpx.AsyncClient` with the default
transport, whatever its base URL, timeouts or retries) and responses at requests'
adapters. A request to an intercepted origin (the provider's, the mock's
`public_base_url`, any listed in the marker's `intercept_origins`) goes to the mock's ASGI
app through `transport.AppCaller`, so it is journaled, faulted and timed like any other,
and the URLs the mock hands out (`get_result.url`, result videos, uploads) lead back to the
same origin, and so into the mock. A transport fault becomes the exception the library
raises for the same failure on a real socket (httpcore's, which httpx maps to its own, and
requests' `ConnectionError`/`ReadTimeout`/`ChunkedEncodingError`).

Any other URL is refused with `RefusedRequest` naming it (tests must not reach the
internet), or let through with `intercept_passthrough=True`. The mock's admin paths are
not the provider's: on an intercepted origin they answer the provider's 404. Both are
listed by strict mode (`strict.UNEXPECTED_KEY`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack
from types import MappingProxyType
from urllib.parse import urlsplit

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.http.admin_routes import ADMIN_PREFIX
from vidu_lipsync_mock.service.errors import route_not_found

from .fixtures import test_seed
from .settings import resolve_settings
from .strict import UNEXPECTED_KEY
from .transport import AppCaller, detached

__all__ = ["DEFAULT_PORTS", "PROVIDER_ORIGIN", "Interceptor", "RefusedRequest", "lipsync_intercept"]

#: Where the provider's API lives (see the service notes): what clients have built in.
PROVIDER_ORIGIN = "https://api.modellix.ai"

DEFAULT_PORTS: Mapping[str, int] = MappingProxyType({"http": 80, "https": 443})


class RefusedRequest(AssertionError):
    """A request under `lipsync_intercept` to a host that is not intercepted.

    An `AssertionError`, not a network error: code under test that retries or swallows
    connection errors must not hide that the test tried to reach the internet.
    """


def origin_of(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL, the port filled in for http and https."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise pytest.UsageError(f"lipsync_intercept: {url!r} is not an http(s) origin")
    return scheme, parts.hostname.lower(), parts.port or DEFAULT_PORTS[scheme]


class Interceptor:
    """Routes requests to the intercepted origins into one mock while it is active (a
    context manager); `unexpected` lists what it refused or could not route."""

    def __init__(
        self, mock: LipSyncMock, *, origins: Iterable[str] = (), passthrough: bool = False
    ) -> None:
        self.mock = mock
        wanted = [PROVIDER_ORIGIN, *origins]
        if mock.config.public_base_url:
            wanted.append(mock.config.public_base_url)
        self.origins = frozenset(origin_of(origin) for origin in wanted)
        self.passthrough = passthrough
        self.unexpected: list[str] = []
        self._caller = AppCaller(mock.app)
        self._stack = ExitStack()

    def intercepts(self, url: str) -> bool:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or DEFAULT_PORTS.get(scheme, 0)
        return (scheme, (parts.hostname or "").lower(), port) in self.origins

    def refusal(self, method: str, url: str) -> RefusedRequest:
        """Note a request to a host that is not intercepted; the error to raise for it."""
        self.unexpected.append(f"{method} {url} -> refused (not an intercepted origin)")
        return RefusedRequest(
            f"lipsync_intercept refused {method} {url}: tests must not reach the internet. "
            f"Intercepted: {', '.join(sorted(self.shown_origins()))}; add the origin with "
            "@pytest.mark.lipsync(intercept_origins=[...]) or let other hosts through with "
            "intercept_passthrough=True (--lipsync-intercept-passthrough)"
        )

    def shown_origins(self) -> list[str]:
        return [
            f"{scheme}://{host}" + ("" if port == DEFAULT_PORTS[scheme] else f":{port}")
            for scheme, host, port in self.origins
        ]

    def _admin_answer(self, request: httpx.Request) -> httpx.Response | None:
        """The provider's 404 for the mock's own admin paths, which it does not have."""
        if not request.url.path.startswith(ADMIN_PREFIX):
            return None
        error = route_not_found(request.method, request.url.path)
        self.unexpected.append(f"{request.method} {request.url} -> {error.status} (admin path)")
        return httpx.Response(
            error.status, json={"code": error.status, "message": error.message}, request=request
        )

    def answer(self, request: httpx.Request) -> httpx.Response:
        """The mock's answer, from synchronous code (raises `TransportFault`)."""
        return self._admin_answer(request) or self._caller.send_sync(request)

    async def answer_async(self, request: httpx.Request) -> httpx.Response:
        """The mock's answer, from a coroutine (raises `TransportFault`)."""
        admin = self._admin_answer(request)
        if admin is not None:
            return admin
        return detached(await self._caller.send(request), request)

    def __enter__(self) -> Interceptor:
        from .intercept_clients import patch_httpx, patch_requests

        try:
            self._stack.enter_context(patch_httpx(self))
            self._stack.enter_context(patch_requests(self))
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()
        self._caller.close()


@pytest.fixture
def lipsync_intercept(
    request: pytest.FixtureRequest, lipsync_mock: LipSyncMock
) -> Iterator[LipSyncMock]:
    """`lipsync_mock`, with every httpx and requests call to `https://api.modellix.ai` (and
    the URLs the mock hands out) answered by it in-process: the code under test keeps its
    production configuration. Needs the `intercept` extra (respx, responses)."""
    settings = resolve_settings(request, seed=test_seed(request.config, request.node.nodeid))
    interceptor = Interceptor(
        lipsync_mock,
        origins=settings.intercept_origins,
        passthrough=settings.intercept_passthrough,
    )
    with interceptor:
        yield lipsync_mock
    request.node.stash.setdefault(UNEXPECTED_KEY, []).extend(interceptor.unexpected)
