"""`create_app(state)`: the ASGI application around one `MockState`.

A plain ASGI callable with two parts: the public app (`public_app.PublicApp`) serves the
provider's routes, hot and few; a Starlette app serves the admin API under `/_mock`, and
the lifespan and any other kind of connection. Every way a request can go wrong ends as the
provider's envelope (`messages.error_reply`): errors raised by the core (`ApiError`), the
routers' own 404/405, and any bug of ours (500, recorded on the state so the test that
triggered it can fail loudly instead of passing on a 500).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Message, Receive, Scope, Send

from vidu_lipsync_mock.http.admin_guard import AdminGuard
from vidu_lipsync_mock.http.admin_routes import ADMIN_PREFIX, AdminApi
from vidu_lipsync_mock.http.connections import Connections
from vidu_lipsync_mock.http.direct import AnswerBatch
from vidu_lipsync_mock.http.messages import Reply, crash_reply, error_reply, send_reply
from vidu_lipsync_mock.http.public_app import Answer, PublicApp
from vidu_lipsync_mock.http.router import route_path
from vidu_lipsync_mock.journal.request_ids import REQUEST_ID, request_id
from vidu_lipsync_mock.service.errors import ApiError, method_not_allowed, route_not_found
from vidu_lipsync_mock.state import MockState

__all__ = ["AppState", "MockApp", "create_app"]


@dataclass(frozen=True)
class AppState:
    """What the runner and tests reach through `app.state`: the mock, and the registry of
    live connections a real server fills so that transport faults can break sockets."""

    mock: MockState
    connections: Connections


def _response(reply: Reply) -> Response:
    """A reply as Starlette sends it, with exactly the reply's headers."""
    response = Response(reply.body, reply.status)
    response.raw_headers = reply.wire_headers()
    return response


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on this path: Starlette names only the first route
    that matched the path, and several routes share a path here (the admin API)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE and isinstance(route, Route) and route.methods:
            methods |= route.methods
    return sorted(methods)


async def _on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _response(error_reply(exc))


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    method, path = request.method, request.url.path
    if exc.status_code == 404:
        error = route_not_found(method, path)
    elif exc.status_code == 405:
        error = method_not_allowed(method, path, _allowed_methods(request))
    else:
        error = ApiError(exc.status_code, f"Request failed: {exc.detail}")
    return _response(error_reply(error))


class _LiteralFirst(Route):
    """An admin route whose path template yields to a literal path, as OpenAPI has it:
    `/_mock/faults/trace` is only the trace, never `/_mock/faults/{rule_id}` with
    `rule_id` "trace", so its `Allow` names only what the document declares for it."""

    def __init__(self, route: Route, literal: set[str]) -> None:
        super().__init__(route.path, route.endpoint, methods=route.methods, name=route.name)
        self.shadowed = frozenset(
            p for p in literal if p != route.path and route.path_regex.match(p)
        )

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if self.shadowed and route_path(scope["path"], scope.get("root_path", "")) in self.shadowed:
            return Match.NONE, {}
        return super().matches(scope)


def _literal_first(routes: list[Route]) -> list[Route]:
    literal = {route.path for route in routes if "{" not in route.path}
    return [route if "{" not in route.path else _LiteralFirst(route, literal) for route in routes]


def _admin_app(state: MockState, connections: Connections) -> Starlette:
    async def on_crash(request: Request, exc: Exception) -> Response:
        return _response(crash_reply(state, request.method, request.url.path, exc))

    admin = Starlette(
        routes=_literal_first(AdminApi(state, connections).routes()),
        exception_handlers={
            ApiError: _on_api_error,
            HTTPException: _on_http_exception,
            Exception: on_crash,
        },
    )
    # A trailing slash is a different path to the provider; Starlette's default 307 would
    # make a client send a paid POST twice.
    admin.router.redirect_slashes = False
    return admin


class MockApp:
    """Every HTTP request outside `/_mock` goes straight to the public app, past any
    Starlette machinery (it renders its own errors); the rest goes to Starlette, once
    the admin guard (`admin_guard`) has let it through."""

    def __init__(self, state: MockState, connections: Connections) -> None:
        #: Admin answers' request numbers (the journal numbers only the provider's API).
        self._admin_seq = itertools.count(1)
        self.state = AppState(state, connections)
        self.public = PublicApp(state, connections)
        self.admin = _admin_app(state, connections)
        self.guard = AdminGuard(state, ADMIN_PREFIX + "/health")
        #: The direct answers of a turn of the event loop, written (and, with a state
        #: file, committed) together at its end (`direct.AnswerBatch`).
        self.answer_batch = AnswerBatch(state.durability)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            root_path = scope.get("root_path")
            local_path = route_path(path, root_path) if root_path else path
            if not local_path.startswith(ADMIN_PREFIX):
                await self.public.serve(scope, receive, send, local_path)
                return
            send = self._with_request_id(scope, send)
            refusal = self.guard.refusal(scope, local_path)
            if refusal is not None:
                reply = error_reply(refusal)
                await send_reply(send, reply, reply.wire_headers())
                return
        await self.admin(scope, receive, send)

    def answer_at_once(self, scope: Scope, body: bytes) -> Answer | None:
        """A whole public request's answer, for the server to write itself (`direct`):
        None for the admin API, which goes through ASGI."""
        if scope["path"].startswith(ADMIN_PREFIX):
            return None
        durability = self.state.mock.durability
        if not durability.enabled:
            return self.public.answer_at_once(scope, body)
        durability.defer_commits()  # committed by `answer_batch` before the answer goes out
        try:
            return self.public.answer_at_once(scope, body)
        finally:
            durability.stop_deferring()

    def _with_request_id(self, scope: Scope, send: Send) -> Send:
        """`send`, adding an `X-Request-Id` to an admin answer as the public app adds one
        to each of its own: the client's when plain, else `req-…-admin-N`."""
        client = next((value for name, value in scope["headers"] if name == REQUEST_ID), None)
        prefix = self.state.mock.journal.id_prefix + b"admin-"
        header = (REQUEST_ID, request_id(client, next(self._admin_seq), prefix))

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        return sending


def create_app(state: MockState, connections: Connections | None = None) -> MockApp:
    """The app for one state. `connections` is the registry a real server fills, so that
    transport faults can break sockets; `app.state.connections` hands it to the runner."""
    return MockApp(state, connections or Connections())
