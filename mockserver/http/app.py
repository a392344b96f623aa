"""`create_app(state)`: the Starlette application around one `MockState`.

The edge (`edge.Edge`, plain ASGI) serves the provider's routes; Starlette's router
serves the admin API beside it. Every way a request can go wrong ends here as the
provider's envelope: errors raised by the core (`ApiError`), the router's own 404/405, and
any bug of ours (500, recorded on the state so the test that triggered it can fail loudly
instead of passing on a 500).
"""

from __future__ import annotations

import traceback
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from vidu_lipsync_mock.http import wire
from vidu_lipsync_mock.http.admin_routes import ADMIN_PREFIX, AdminApi
from vidu_lipsync_mock.http.connections import Connections
from vidu_lipsync_mock.http.edge import Edge
from vidu_lipsync_mock.http.router import route_path
from vidu_lipsync_mock.service.errors import (
    ApiError,
    internal_error,
    method_not_allowed,
    route_not_found,
)
from vidu_lipsync_mock.state import MockState

__all__ = ["MockApp", "create_app"]


def _render(error: ApiError) -> Response:
    return Response(
        wire.error_body(error),
        status_code=error.status,
        media_type="application/json",
        headers=error.headers,
    )


async def _on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _render(exc)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on this path: Starlette names only the first route
    that matched the path, and several routes share a path here (the admin API)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE and isinstance(route, Route) and route.methods:
            methods |= route.methods
    return sorted(methods)


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    method, path = request.method, request.url.path
    if exc.status_code == 404:
        return _render(route_not_found(method, path))
    if exc.status_code == 405:
        return _render(method_not_allowed(method, path, _allowed_methods(request)))
    return _render(ApiError(exc.status_code, f"Request failed: {exc.detail}"))


class MockApp(Starlette):
    """Starlette for the admin API; every other HTTP request goes straight to the edge,
    past Starlette's middleware and exception layers (the edge renders its own errors)."""

    def __init__(self, state: MockState, connections: Connections, **options: Any) -> None:
        super().__init__(**options)
        self.edge = Edge(state, connections)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            root_path = scope.get("root_path")
            local_path = route_path(path, root_path) if root_path else path
            if not local_path.startswith(ADMIN_PREFIX):
                await self.edge(scope, receive, send, local_path)
                return
        await super().__call__(scope, receive, send)


def create_app(state: MockState, connections: Connections | None = None) -> Starlette:
    """The app for one state. `connections` is the registry a real server fills, so that
    transport faults can break sockets; `app.state.connections` hands it to the runner."""
    connections = connections or Connections()

    async def on_crash(request: Request, exc: Exception) -> Response:
        state.record_crash(
            request.method, request.url.path, "".join(traceback.format_exception(exc))
        )
        return _render(internal_error())

    app = MockApp(
        state,
        connections,
        routes=AdminApi(state).routes(),
        exception_handlers={
            ApiError: _on_api_error,
            HTTPException: _on_http_exception,
            Exception: on_crash,
        },
    )
    # A trailing slash is a different path to the provider; Starlette's default 307 would
    # make a client send a paid POST twice.
    app.router.redirect_slashes = False
    app.state.mock = state
    app.state.connections = connections
    return app
