"""Fixtures for the robustness tests (concurrency, faults, fuzzing, schema-driven testing).

The root `tests/conftest.py` gives `make_mock` (a manual-clock `LipSyncMock`, stopped and
crash-checked at teardown) and `contract` (the served OpenAPI document as a checker). This
file adds:

* `scale`: how much load the concurrency tests generate, from `LIPSYNC_ROBUSTNESS_SCALE`
  (default 1: a few thousand tasks in well under 30 s on two cores; 10 for a longer run).
* `live`: `live(**settings)` starts a manual-clock mock with rate limiting off on a real
  loopback socket and returns it (its base URL is `mock.url`).
* `asgi`: `asgi(mock)` is a synchronous client of that mock's ASGI app (no socket) that
  sends bodies and headers exactly as given, and turns a crash into the 500 a socket
  client would see (the crash stays in `mock.crashes`); closed at teardown.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock

SCALE_VARIABLE = "LIPSYNC_ROBUSTNESS_SCALE"


@pytest.fixture(scope="session")
def scale() -> float:
    raw = os.environ.get(SCALE_VARIABLE, "1")
    try:
        value = float(raw)
    except ValueError:
        raise pytest.UsageError(f"{SCALE_VARIABLE} must be a number, not {raw!r}") from None
    if not value > 0:
        raise pytest.UsageError(f"{SCALE_VARIABLE} must be positive, not {raw!r}")
    return value


@pytest.fixture
def live(make_mock: Callable[..., LipSyncMock]) -> Callable[..., LipSyncMock]:
    """`live(**settings)`: a started mock (manual clock, `rate_limit=0` unless overridden,
    and a journal large enough to keep every request of a load test: the invariants compare
    all of it with what the clients saw)."""

    def start(**settings: Any) -> LipSyncMock:
        settings.setdefault("rate_limit", 0)
        settings.setdefault("journal_max_entries", 1_000_000)
        mock = make_mock(**settings)
        mock.start(host="127.0.0.1")
        return mock

    return start


class SyncASGI:
    """One event loop and one `httpx.AsyncClient` over `ASGITransport`, used synchronously."""

    def __init__(self, mock: LipSyncMock) -> None:
        self.mock = mock
        self._loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=mock.app, raise_app_exceptions=False)
        self.http = httpx.AsyncClient(transport=transport, base_url="http://testserver")

    def request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | list[tuple[bytes, bytes]] | None = None,
    ) -> httpx.Response:
        call = self.http.request(method, path, content=content, headers=headers)
        return self._loop.run_until_complete(call)

    def close(self) -> None:
        try:
            self._loop.run_until_complete(self.http.aclose())
        finally:
            self._loop.close()


@pytest.fixture
def asgi() -> Iterator[Callable[[LipSyncMock], SyncASGI]]:
    made: list[SyncASGI] = []

    def make(mock: LipSyncMock) -> SyncASGI:
        client = SyncASGI(mock)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
