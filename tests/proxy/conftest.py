"""Fixtures for the recording proxy and the drift check: an upstream (a second mock, or one
that answers differently on purpose) on a loopback port, and a recording proxy in front of
it writing a cassette in the test's temporary folder."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.proxy.cassette import CassetteInfo, CassetteWriter
from vidu_lipsync_mock.proxy.record import RecordingProxy
from vidu_lipsync_mock.server import ServerThread


class Reworded:
    """An upstream that has drifted from the mock: polls lose `data.model_id`, an unknown
    task is 400 instead of 404, and a refused key says `Unauthorized` instead of
    `Authentication failed`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def keep(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            else:
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, keep)
        status, body = start["status"], b"".join(chunks)
        document = json.loads(body) if body.startswith(b"{") else None
        if isinstance(document, dict):
            if status == 200 and scope["path"].startswith("/api/v1/tasks/"):
                document["data"].pop("model_id", None)
            elif status == 404 and scope["path"].startswith("/api/v1/tasks/"):
                status = document["code"] = 400
            elif status == 401:
                document["message"] = "Unauthorized: the key is not valid"
            body = json.dumps(document).encode()
        headers = [(n, v) for n, v in start["headers"] if n != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
def reworded() -> Callable[[ASGIApp], ASGIApp]:
    """Wrap an app as an upstream that has drifted (`Reworded`); a fixture, since test
    modules cannot import a conftest by name when several directories have one."""
    return Reworded


@pytest.fixture
def upstream() -> Iterator[LipSyncMock]:
    """A second mock, serving on its own port: the "real service" of these tests."""
    mock = LipSyncMock(clock="manual")
    mock.start()
    yield mock
    mock.stop()


@pytest.fixture
def serve_app() -> Iterator[Callable[[ASGIApp], str]]:
    """Serve any ASGI app on a loopback port for the test; returns its URL."""
    servers: list[ServerThread] = []

    def serve(app: ASGIApp) -> str:
        server = ServerThread(app)
        servers.append(server)
        return server.start()

    yield serve
    for server in servers:
        server.stop()


@pytest.fixture
def record(
    tmp_path: Path, serve_app: Callable[[ASGIApp], str]
) -> Iterator[Callable[[str], tuple[str, Path]]]:
    """Start a recording proxy in front of an upstream URL: (the proxy's URL, cassette)."""
    writers: list[CassetteWriter] = []

    def start(upstream_url: str, **options: Any) -> tuple[str, Path]:
        cassette = tmp_path / f"cassette-{len(writers)}.jsonl"
        writer = CassetteWriter(cassette, CassetteInfo(source="recording", upstream=upstream_url))
        writers.append(writer)
        return serve_app(RecordingProxy(upstream_url, writer, **options)), cassette

    yield start
    for writer in writers:
        writer.close()
