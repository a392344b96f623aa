"""Fixtures for the fault-injection tests.

The root `tests/conftest.py` already gives `make_mock` (a manual-clock `LipSyncMock`,
stopped and crash-checked at teardown) and `make_client` (a synchronous client over
`httpx.ASGITransport`). This file adds what the fault tests share:

* `serve(**settings)`: a mock on a real loopback socket, as a `Served` (mock + base URL).
* `api(target)`: a small in-process client that speaks the provider's API for one mock.
* `admin(target)`: the same for the admin HTTP API under `/_mock`.
* `expect_error`: checks the provider's error envelope exactly.
* `real_call`: one request with `httpx` or `requests` (parametrised by the test), closed
  whatever happens, so transport faults can be observed as the client library raises them.

Helpers are reached through fixtures, because `tests/` is not a package.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import requests

from vidu_lipsync_mock import LipSyncMock

SUBMIT_PATH = "/api/v1/vidu/lip-sync/async"
BODY: dict[str, str] = {
    "video_url": "https://example.com/presenter.mp4",
    "audio_url": "https://example.com/voiceover.mp3",
}
#: A fixed clock reading (2030-03-17), whole minute, for tests that compare two mocks.
T0 = 1_900_000_020.0


def envelope_of(status: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The provider's error envelope: JSON, exactly `code` and `message`, code == status."""
    content_type = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    assert content_type.startswith("application/json"), (status, content_type, body[:200])
    value = json.loads(body)
    assert isinstance(value, dict), value
    assert set(value) == {"code", "message"}, value
    assert type(value["code"]) is int, value
    assert value["code"] == status, (status, value)
    assert isinstance(value["message"], str), value
    assert value["message"], value
    return value


@pytest.fixture
def expect_error() -> Callable[..., str]:
    """`expect_error(response, status, message=None)` for an httpx or requests response
    (or anything with `.status_code`, `.headers`, `.content`); returns the message."""

    def check(response: Any, status: int, message: str | None = None) -> str:
        assert response.status_code == status, (response.status_code, response.content[:300])
        value = envelope_of(status, response.headers, response.content)
        if message is not None:
            assert value["message"] == message
        text: str = value["message"]
        return text

    return check


@dataclass
class Served:
    mock: LipSyncMock
    base: str

    def url(self, path: str) -> str:
        return self.base + path

    @property
    def submit_url(self) -> str:
        return self.base + SUBMIT_PATH

    def task_url(self, task_id: str) -> str:
        return f"{self.base}/api/v1/tasks/{task_id}"

    def submit(self, body: Mapping[str, Any] | None = None) -> str:
        """Submit a valid task with a fresh httpx client; its task id."""
        with httpx.Client(timeout=5) as http:
            response = http.post(
                self.submit_url, json=dict(body or BODY), headers=self.mock.auth_headers
            )
        assert response.status_code == 200, response.text
        task_id: str = response.json()["data"]["task_id"]
        return task_id


@pytest.fixture(scope="module")
def _module_server() -> Iterator[Served]:
    mock = LipSyncMock(clock="manual", seed=7)
    base = mock.start(host="127.0.0.1")
    try:
        yield Served(mock, base)
    finally:
        mock.stop()


@pytest.fixture
def shared_server(_module_server: Served) -> Iterator[Served]:
    """One real server per test module (starting and stopping one costs ~0.2 s), reset to a
    new mock's state for each test and crash-checked after it. Tests whose requests outlive
    them on the server (a drip still running after the client gave up) use `serve` instead,
    so nothing they leave behind lands in the next test's journal."""
    mock = _module_server.mock
    mock.reset()
    yield _module_server
    crashes = list(mock.crashes)
    assert not crashes, "the mock crashed (client saw a 500):\n" + "\n".join(
        f"{c.method} {c.path}\n{c.traceback}" for c in crashes
    )


@pytest.fixture
def serve(make_mock: Callable[..., LipSyncMock]) -> Callable[..., Served]:
    """`serve(**settings)`: a manual-clock mock on 127.0.0.1 (stopped by `make_mock`)."""

    def start(**settings: Any) -> Served:
        mock = make_mock(**settings)
        return Served(mock, mock.start(host="127.0.0.1"))

    return start


class Api:
    """The provider's API of one in-process mock, for tests that need no socket."""

    def __init__(self, mock: LipSyncMock, http: Any) -> None:
        self.mock = mock
        self.http = http

    def submit_raw(
        self,
        body: Mapping[str, Any] | None = None,
        *,
        key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        return self.http.post(
            SUBMIT_PATH, json=dict(BODY if body is None else body), headers=self._h(key, headers)
        )

    def submit(
        self,
        body: Mapping[str, Any] | None = None,
        *,
        key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        response = self.submit_raw(body, key=key, headers=headers)
        assert response.status_code == 200, response.text
        task_id: str = response.json()["data"]["task_id"]
        return task_id

    def poll(
        self, task_id: str, *, key: str | None = None, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        return self.http.get(f"/api/v1/tasks/{task_id}", headers=self._h(key, headers))

    def data(self, task_id: str) -> dict[str, Any]:
        response = self.poll(task_id)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(url, **kwargs)

    def _h(self, key: str | None, headers: Mapping[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.mock.api_key}", **(headers or {})}


@pytest.fixture
def api(make_client: Callable[..., Any]) -> Callable[[LipSyncMock], Api]:
    """`api(mock)`: an in-process client of the provider's API for that mock."""
    return lambda target: Api(target, make_client(target=target))


class Admin:
    """The admin HTTP API of one in-process mock; `call` returns `data` of a 200."""

    def __init__(self, http: Any) -> None:
        self.http = http

    def raw(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, "/_mock" + path, **kwargs)

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        if body is not None:
            kwargs["json"] = body
        response = self.raw(method, path, **kwargs)
        assert response.status_code == 200, (method, path, response.status_code, response.text)
        document = response.json()
        assert (document["code"], document["message"]) == (0, "success"), document
        return document["data"]


@pytest.fixture
def admin(make_client: Callable[..., Any]) -> Callable[[LipSyncMock], Admin]:
    """`admin(mock)`: the admin HTTP API of that mock, in-process."""
    return lambda target: Admin(make_client(target=target))


@dataclass
class Reply:
    status_code: int
    headers: dict[str, str]
    content: bytes
    elapsed: float


LIBRARIES = ("httpx", "requests")


@pytest.fixture(params=LIBRARIES)
def lib(request: pytest.FixtureRequest) -> str:
    """The real HTTP client library a test runs with."""
    name: str = request.param
    return name


@pytest.fixture
def real_call(lib: str) -> Callable[..., Reply]:
    """`real_call(method, url, headers=..., json=..., timeout=...)` with the library of
    `lib`, in a fresh client or session (closed afterwards, even when it raises)."""

    def call(
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        timeout: float = 5.0,
    ) -> Reply:
        started = time.perf_counter()
        if lib == "httpx":
            with httpx.Client(timeout=timeout) as http:
                r = http.request(method, url, headers=dict(headers or {}), json=json)
                return Reply(
                    r.status_code, dict(r.headers), r.content, time.perf_counter() - started
                )
        with (
            requests.Session() as session,
            session.request(
                method, url, headers=dict(headers or {}), json=json, timeout=timeout
            ) as rr,
        ):
            return Reply(
                rr.status_code,
                {k.lower(): v for k, v in rr.headers.items()},
                rr.content,
                time.perf_counter() - started,
            )

    return call
