"""The public routes in one table: the edge dispatches on it, answers 404 and 405 from it,
and names requests by it for fault rules and the journal.

The paths are few and fixed, so matching is done on path segments rather than with a
regular expression per route: one `split` decides every request, and a path can match at
most one route, which makes the 405's `Allow` list exactly that route's methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["ROUTES", "PublicRoute", "Resolved", "resolve", "route_path"]


@dataclass(frozen=True)
class PublicRoute:
    """`name` is the handler's; `kind` is what rules and the journal call the request."""

    name: str
    template: str
    methods: tuple[str, ...]
    kind: str


POLL = PublicRoute("poll", "/api/v1/tasks/{task_id}", ("GET", "HEAD"), "poll")
SUBMIT = PublicRoute("submit", "/api/v1/{provider}/{model}/async", ("POST",), "submit")
SUBMIT_CLI = PublicRoute("submit_cli", "/api/v1/{provider}/{model}", ("POST",), "submit")
DOWNLOAD = PublicRoute("download", "/files/{task_id}/{filename}", ("GET", "HEAD"), "download")
SAMPLE = PublicRoute("sample", "/media/{name}", ("GET", "HEAD"), "sample")
OPENAPI = PublicRoute("openapi", "/openapi.json", ("GET", "HEAD"), "openapi")

ROUTES: tuple[PublicRoute, ...] = (POLL, SUBMIT, SUBMIT_CLI, DOWNLOAD, SAMPLE, OPENAPI)


class Resolved(NamedTuple):
    """What a path and method come to.

    `route` is the route whose path matched (None: no route has this path, a 404) and
    `allowed` whether it serves this method (if not, a 405). `kind` names the request for
    rules and the journal; `task_id` is the id in the path of a poll or a download.
    `method` and `path` are the request's own, as first seen: the journal keeps these
    shared copies rather than one pair of strings per request.
    """

    route: PublicRoute | None
    params: tuple[str, ...]
    allowed: bool
    kind: str
    task_id: str | None
    method: str = ""
    path: str = ""


def _match(path: str) -> tuple[PublicRoute, tuple[str, ...]] | None:
    parts = path.split("/")
    count = len(parts)
    if parts[0] or count < 2:
        return None
    head = parts[1]
    if head == "api":
        if count < 5 or parts[2] != "v1" or not parts[3] or not parts[4]:
            return None
        if parts[3] == "tasks":
            # `tasks` is never a provider, so a POST here is a wrong method, not a submit.
            return (POLL, (parts[4],)) if count == 5 else None
        if count == 5:
            return SUBMIT_CLI, (parts[3], parts[4])
        if count == 6 and parts[5] == "async":
            return SUBMIT, (parts[3], parts[4])
        return None
    if head == "files":
        if count == 4 and parts[2] and parts[3]:
            return DOWNLOAD, (parts[2], parts[3])
        return None
    if head == "media":
        return (SAMPLE, (parts[2],)) if count == 3 and parts[2] else None
    if head == "openapi.json" and count == 2:
        return OPENAPI, ()
    return None


#: Resolutions remembered (a client polls the same path many times, and submits to one);
#: dropped whole when it grows past this.
_KNOWN_LIMIT = 4096
_known: dict[tuple[str, str], Resolved] = {}


def resolve(method: str, path: str) -> Resolved:
    key = (method, path)
    known = _known.get(key)
    if known is None:
        known = _resolve(method, path)
        if len(_known) >= _KNOWN_LIMIT:
            _known.clear()
        _known[key] = known
    return known


def _resolve(method: str, path: str) -> Resolved:
    found = _match(path)
    if found is None:
        # A sample path that is not a file is still a request for a sample.
        kind = "sample" if path.startswith("/media/") else "other"
        return Resolved(None, (), False, kind, None, method, path)
    route, params = found
    allowed = method in route.methods
    kind = route.kind
    if kind == "submit" and not allowed:
        kind = "other"  # only a POST to a model path is a submit
    task_id = params[0] if kind in ("poll", "download") else None
    return Resolved(route, params, allowed, kind, task_id, method, path)


def route_path(path: str, root_path: str) -> str:
    """The path the routes see when the app is mounted under `root_path` (as Starlette
    computes it)."""
    if not root_path or not path.startswith(root_path):
        return path
    if path == root_path:
        return ""
    return path[len(root_path) :] if path[len(root_path)] == "/" else path
