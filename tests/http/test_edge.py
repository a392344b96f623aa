"""The app at the ASGI level, driven with a fake `receive` and `send`: how much of a body is
read, a client that goes away mid-body, a crash in a handler, what goes to Starlette (the
admin API, the lifespan) and what to the public app."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.http.app import MockApp

Message = dict[str, Any]
SUBMIT = "/api/v1/vidu/lip-sync/async"
LIMIT = 1024


def scope(
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]] | None = None,
    root_path: str = "",
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": root_path,
        "headers": headers or [(b"host", b"mock.test")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


class Exchange:
    """One ASGI call: what the app asked for and what it sent."""

    def __init__(self, incoming: Callable[[int], Message]) -> None:
        self.incoming = incoming
        self.received = 0
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        self.received += 1
        return self.incoming(self.received)

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    def run(self, app: MockApp, asgi_scope: dict[str, Any]) -> Exchange:
        asyncio.run(app(asgi_scope, self.receive, self.send))
        return self

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])

    def json(self) -> Any:
        return json.loads(b"".join(m.get("body", b"") for m in self.sent[1:]))


def whole(body: bytes) -> Callable[[int], Message]:
    return lambda n: {"type": "http.request", "body": body, "more_body": False}


@pytest.fixture
def mock() -> LipSyncMock:
    # The scopes below name the mock `mock.test`, a name it answers to only once allowed.
    return LipSyncMock(
        clock="manual", max_body_bytes=LIMIT, rate_limit=0, allowed_hosts=["mock.test"]
    )


def auth(mock: LipSyncMock, *extra: tuple[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    return [
        (b"host", b"mock.test"),
        (b"authorization", mock.auth_headers["Authorization"].encode()),
        *extra,
    ]


# --- reading the body -------------------------------------------------------------------------


def test_a_long_body_is_read_only_past_the_limit_then_refused(mock: LipSyncMock) -> None:
    chunk = b"x" * 100  # 100 kB in all, if the app were to read it all
    long = Exchange(lambda n: {"type": "http.request", "body": chunk, "more_body": n < 1000})
    headers = auth(mock, (b"content-type", b"application/json"))
    long.run(mock.app, scope("POST", SUBMIT, headers))
    assert long.status == 413
    assert long.received == LIMIT // len(chunk) + 1  # just enough to see it is too large
    (entry,) = mock.journal.entries()
    assert (entry.route, entry.status) == ("submit", 413)


def test_a_body_declared_too_large_is_never_read(mock: LipSyncMock) -> None:
    declared = Exchange(whole(b"{}"))
    headers = auth(mock, (b"content-type", b"application/json"), (b"content-length", b"1025"))
    declared.run(mock.app, scope("POST", SUBMIT, headers))
    assert declared.received == 0
    assert declared.status == 413
    assert declared.json()["message"] == f"Request too large: request body exceeds {LIMIT} bytes"


def test_a_get_without_a_body_is_not_asked_for_one(mock: LipSyncMock) -> None:
    get = Exchange(whole(b"")).run(mock.app, scope("GET", "/openapi.json"))
    assert get.status == 200
    assert get.received == 0


def test_a_client_that_hangs_up_mid_body_is_journaled_as_disconnected(mock: LipSyncMock) -> None:
    def hang_up(n: int) -> Message:
        if n == 1:
            return {"type": "http.request", "body": b'{"video_url": ', "more_body": True}
        return {"type": "http.disconnect"}

    gone = Exchange(hang_up).run(mock.app, scope("POST", SUBMIT, auth(mock)))
    assert gone.sent == []
    (entry,) = mock.journal.entries()
    assert (entry.route, entry.status, entry.outcome) == ("submit", 0, "client_disconnected")
    assert mock.tasks() == []


# --- crashes ----------------------------------------------------------------------------------


def test_a_crash_in_a_handler_is_a_500_envelope_recorded_and_re_raised(
    mock: LipSyncMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(task_id: str) -> None:
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(mock, "poll", broken)
    crash = Exchange(whole(b""))
    with pytest.raises(RuntimeError, match="a bug of ours"):
        crash.run(mock.app, scope("GET", "/api/v1/tasks/task-1", auth(mock)))
    assert crash.status == 500
    assert crash.json() == {"code": 500, "message": "Internal server error"}
    (recorded,) = mock.crashes
    assert (recorded.method, recorded.path) == ("GET", "/api/v1/tasks/task-1")
    assert "RuntimeError: a bug of ours" in recorded.traceback
    (entry,) = mock.journal.entries()
    assert (entry.route, entry.status) == ("poll", 500)


# --- what goes where --------------------------------------------------------------------------


def test_the_admin_prefix_goes_to_starlette_and_is_not_journaled(mock: LipSyncMock) -> None:
    health = Exchange(whole(b"")).run(mock.app, scope("GET", "/_mock/health"))
    assert health.status == 200
    assert health.json()["data"]["status"] == "ok"
    missing = Exchange(whole(b"")).run(mock.app, scope("GET", "/_mock/nothing"))
    assert missing.status == 404
    assert missing.json() == {
        "code": 404,
        "message": "Resource not found: no endpoint for GET /_mock/nothing",
    }
    wrong = Exchange(whole(b"")).run(mock.app, scope("PATCH", "/_mock/faults"))
    assert wrong.status == 405
    assert wrong.headers[b"allow"] == b"DELETE, GET, HEAD, POST"
    assert mock.journal.entries() == []


def test_public_refusals_are_the_same_envelopes(mock: LipSyncMock) -> None:
    missing = Exchange(whole(b"")).run(mock.app, scope("GET", "/nothing"))
    assert (missing.status, missing.json()["message"]) == (
        404,
        "Resource not found: no endpoint for GET /nothing",
    )
    wrong = Exchange(whole(b"")).run(mock.app, scope("DELETE", "/api/v1/tasks/task-1"))
    assert wrong.status == 405
    assert wrong.headers[b"allow"] == b"GET, HEAD"
    assert wrong.headers[b"content-type"] == b"application/json"
    assert [e.status for e in mock.journal.entries()] == [404, 405]


def test_under_a_root_path_the_routes_see_the_path_below_it(mock: LipSyncMock) -> None:
    poll = Exchange(whole(b"")).run(
        mock.app, scope("GET", "/mock/api/v1/tasks/task-1", auth(mock), root_path="/mock")
    )
    assert poll.status == 404
    assert poll.json()["message"].startswith("Resource not found: task 'task-1'")
    admin = Exchange(whole(b"")).run(
        mock.app, scope("GET", "/mock/_mock/health", root_path="/mock")
    )
    assert admin.status == 200
    (entry,) = mock.journal.entries()
    assert (entry.route, entry.path) == ("poll", "/mock/api/v1/tasks/task-1")


def test_the_lifespan_goes_to_starlette(mock: LipSyncMock) -> None:
    events = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    lifespan = Exchange(lambda n: next(events))
    lifespan.run(mock.app, {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}})
    assert [m["type"] for m in lifespan.sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]


def test_app_state_hands_the_mock_and_its_connections_to_the_runner(mock: LipSyncMock) -> None:
    assert mock.app.state.mock is mock
    assert len(mock.app.state.connections) == 0


# --- the journal holds an exchange before its answer goes out ---------------------------------


class JournalAtFirstByte(Exchange):
    """Notes what the journal held when the app began to answer."""

    def __init__(self, incoming: Callable[[int], Message], mock: LipSyncMock) -> None:
        super().__init__(incoming)
        self.mock = mock
        self.journaled: list[tuple[str, int]] | None = None

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start" and self.journaled is None:
            self.journaled = [(e.route, e.status) for e in self.mock.journal.entries()]
        await super().send(message)


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        pytest.param(None, 200, id="plain"),
        pytest.param({"status": 500, "phase": "after"}, 500, id="error-after"),
        pytest.param({"status": 503}, 503, id="error-before"),
    ],
)
def test_the_journal_holds_the_exchange_before_the_client_has_its_answer(
    mock: LipSyncMock, fault: dict[str, Any] | None, status: int
) -> None:
    if fault is not None:
        mock.add_fault("error", route="submit", **fault)
    body = json.dumps({"video_url": "https://example.com/v.mp4"}).encode()
    call = JournalAtFirstByte(whole(body), mock)
    call.run(mock.app, scope("POST", SUBMIT, auth(mock, (b"content-type", b"application/json"))))
    assert call.status == status
    assert call.journaled == [("submit", status)]


def test_a_refused_fault_header_is_journaled_before_its_400(mock: LipSyncMock) -> None:
    call = JournalAtFirstByte(whole(b""), mock)
    call.run(mock.app, scope("GET", "/api/v1/tasks/task-1", auth(mock, (b"x-mock-fault", b"nope"))))
    assert call.status == 400
    assert call.journaled == [("poll", 400)]
