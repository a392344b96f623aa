"""The public route table and its resolution: every route, 404 against 405 with `Allow`,
trailing slashes, the names rules and the journal use, and the memory of resolutions
(bounded, and each app's own)."""

from __future__ import annotations

import pytest

from vidu_lipsync_mock.http.app import create_app
from vidu_lipsync_mock.http.messages import Incoming, Reply
from vidu_lipsync_mock.http.public_routes import PublicApi
from vidu_lipsync_mock.http.router import UNROUTED, PublicRoute, Router
from vidu_lipsync_mock.state import MockState

READ = ("GET", "HEAD")


@pytest.fixture(scope="module")
def api() -> PublicApi:
    return PublicApi(MockState())


@pytest.fixture
def router(api: PublicApi) -> Router:
    return Router(api.routes())


@pytest.mark.parametrize(
    ("method", "path", "route", "handler", "params", "task_id"),
    [
        ("GET", "/api/v1/tasks/task-1", "poll", "poll", ("task-1",), "task-1"),
        ("HEAD", "/api/v1/tasks/task-1", "poll", "poll", ("task-1",), "task-1"),
        ("POST", "/api/v1/vidu/lip-sync/async", "submit", "submit", ("vidu", "lip-sync"), None),
        ("POST", "/api/v1/vidu/lip-sync", "submit", "submit", ("vidu", "lip-sync"), None),
        ("GET", "/files/task-1/result.mp4", "download", "result_file", ("task-1", "result.mp4"), "task-1"),
        ("HEAD", "/files/task-1/x.bin", "download", "result_file", ("task-1", "x.bin"), "task-1"),
        ("GET", "/media/input-video.mp4", "sample", "sample_file", ("input-video.mp4",), None),
        ("GET", "/openapi.json", "openapi", "openapi", (), None),
    ],
)  # fmt: skip
def test_every_route_resolves_to_its_handler(
    router: Router,
    api: PublicApi,
    method: str,
    path: str,
    route: str,
    handler: str,
    params: tuple[str, ...],
    task_id: str | None,
) -> None:
    resolved = router.resolve(method, path)
    assert resolved.handler == getattr(api, handler)
    assert (resolved.route, resolved.params, resolved.task_id) == (route, params, task_id)
    assert resolved.allow == ()
    assert (resolved.method, resolved.path) == (method, path)


@pytest.mark.parametrize(
    ("method", "path", "allow", "route"),
    [
        ("POST", "/api/v1/tasks/task-1", ("GET", "HEAD"), "poll"),
        ("DELETE", "/api/v1/tasks/task-1", ("GET", "HEAD"), "poll"),
        ("GET", "/api/v1/vidu/lip-sync/async", ("POST",), UNROUTED),  # only a POST submits
        ("PUT", "/api/v1/vidu/lip-sync", ("POST",), UNROUTED),
        ("POST", "/files/task-1/result.mp4", ("GET", "HEAD"), "download"),
        ("PATCH", "/media/input-video.mp4", ("GET", "HEAD"), "sample"),
        ("POST", "/openapi.json", ("GET", "HEAD"), "openapi"),
    ],
)
def test_a_known_path_with_another_method_is_a_405_allowing_that_routes_methods(
    router: Router, method: str, path: str, allow: tuple[str, ...], route: str
) -> None:
    resolved = router.resolve(method, path)
    assert resolved.handler is None
    assert resolved.allow == allow
    assert resolved.route == route


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/", UNROUTED),
        ("", UNROUTED),
        ("api/v1/tasks/task-1", UNROUTED),
        ("/api/v1/tasks", UNROUTED),
        ("/api/v1/tasks/", UNROUTED),
        ("/api/v1/tasks/task-1/", UNROUTED),  # a trailing slash is another path
        ("/api/v1/tasks/task-1/async", UNROUTED),  # `tasks` is never a provider
        ("/api/v1/tasks/x/y", UNROUTED),
        ("/api/v1/vidu/lip-sync/", UNROUTED),
        ("/api/v1/vidu/lip-sync/async/", UNROUTED),
        ("/api/v1/vidu/lip-sync/sync", UNROUTED),
        ("/api/v1//lip-sync", UNROUTED),
        ("/api/v2/vidu/lip-sync", UNROUTED),
        ("//api/v1/vidu/lip-sync", UNROUTED),
        ("/files/task-1", UNROUTED),
        ("/files/task-1/", UNROUTED),
        ("/files/task-1/result.mp4/", UNROUTED),
        ("/openapi.json/", UNROUTED),
        ("/media/", "sample"),  # anything under /media/ asks for a sample
        ("/media/a/b", "sample"),
        ("/mediax/a", UNROUTED),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_path_no_route_has_is_a_404(router: Router, method: str, path: str, route: str) -> None:
    resolved = router.resolve(method, path)
    assert resolved.handler is None
    assert resolved.allow == ()
    assert resolved.route == route
    assert (resolved.params, resolved.task_id) == ((), None)


def test_resolutions_are_remembered_per_method_and_path(router: Router) -> None:
    first = router.resolve("GET", "/api/v1/tasks/task-1")
    assert router.resolve("GET", "/api/v1/tasks/task-1") is first
    assert router.resolve("HEAD", "/api/v1/tasks/task-1") is not first


def test_the_memory_of_resolutions_is_bounded(router: Router) -> None:
    router.KNOWN_LIMIT = 16
    for i in range(100):
        router.resolve("GET", f"/api/v1/tasks/task-{i}")
        assert len(router._known) <= 16
    assert router.resolve("GET", "/api/v1/tasks/task-99").task_id == "task-99"


def test_two_apps_never_share_their_memory_of_resolutions() -> None:
    first, second = create_app(MockState()), create_app(MockState())
    first.public.router.resolve("GET", "/api/v1/tasks/task-1")
    assert first.public.router._known
    assert not second.public.router._known
    resolved = second.public.router.resolve("GET", "/api/v1/tasks/task-1")
    # each app's handlers are bound to its own state
    assert getattr(resolved.handler, "__self__", None) is not None
    assert resolved.handler.__self__.state is second.state.mock  # type: ignore[union-attr]


def _reply(request: Incoming) -> Reply:
    return Reply(b"")


def test_a_fixed_segment_is_never_taken_by_another_routes_placeholder() -> None:
    router = Router(
        [
            PublicRoute("/v1/users/me", READ, "me", _reply),
            PublicRoute("/v1/users/{user}", READ, "user", _reply),
            PublicRoute("/v1/{kind}/{name}/{part}", READ, "part", _reply),
        ]
    )
    assert router.resolve("GET", "/v1/users/me").route == "me"
    assert router.resolve("GET", "/v1/users/alice").params == ("alice",)
    assert router.resolve("GET", "/v1/teams/a/b").params == ("teams", "a", "b")
    assert router.resolve("GET", "/v1/users/a/b").route == UNROUTED


def test_a_template_must_start_with_a_fixed_segment() -> None:
    with pytest.raises(ValueError, match="fixed segment"):
        Router([PublicRoute("/{anything}", READ, "any", _reply)])
    with pytest.raises(ValueError, match="fixed segment"):
        Router([PublicRoute("relative/path", READ, "any", _reply)])


@pytest.mark.parametrize(
    "path", ["/api/v1/nobody/nothing", "/api/v1/nobody/nothing/async", "/api/v1/vidu/other"]
)
def test_another_method_on_a_model_path_no_model_has_is_a_404(router: Router, path: str) -> None:
    resolved = router.resolve("GET", path)
    assert resolved.handler is None
    assert resolved.allow == ()  # a 404: the path does not exist
    assert router.resolve("POST", path).handler is not None  # the submit answers its 404


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/api/v1/team/balance", ("GET", "HEAD")),
        ("GET", "/api/v1/media/files", ("POST",)),
        ("GET", "/api/v1/media/files/file-1", ("DELETE",)),
        ("DELETE", "/api/v1/models", ("GET", "HEAD")),
        ("POST", "/uploads/tok/a.png", ("GET", "HEAD")),
    ],
)
def test_the_service_paths_are_literal_and_405_with_their_methods(
    router: Router, method: str, path: str, allow: tuple[str, ...]
) -> None:
    assert router.resolve(method, path).allow == allow
