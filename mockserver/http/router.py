"""The public routes' table and what resolves a request against it.

Each route declares its path template, its methods, the name fault rules and the journal
give its requests, and its handler; `Router` answers every request from that table alone:
the handler to run, or the 404 or 405 (with `Allow` exactly the matched route's methods).

Templates are matched on path segments, not with a regular expression per route: one
`split`, then the few routes with as many segments and the same first one. A fixed segment
claims its place: `/api/v1/tasks/…` is a task path, so `tasks` never fills `{provider}` of
another route, and a path matches at most one route.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from vidu_lipsync_mock.http.messages import Incoming, Reply

__all__ = ["UNROUTED", "Handler", "PublicRoute", "Resolved", "Router", "route_path"]

Handler = Callable[[Incoming], Reply]

#: What rules and the journal call a request no route serves.
UNROUTED = "other"


@dataclass(frozen=True)
class PublicRoute:
    """One public endpoint.

    `path` is its template (a `{task_id}` names the task the request is about); `route` is
    what fault rules and the journal call its requests, `refused_as` a request with a
    method it does not serve (default: `route`). `owns_prefix` names after it every path
    under its fixed leading segments (`/media/a/b` is still a request for a sample).
    `exists` says whether what the parameters name exists, for a template that matches
    more paths than exist: another method on a path that does not exist is a 404, not 405.
    """

    path: str
    methods: tuple[str, ...]
    route: str
    handler: Handler = field(compare=False)
    refused_as: str | None = None
    owns_prefix: bool = False
    exists: Callable[[tuple[str, ...]], bool] | None = field(default=None, compare=False)

    @property
    def segments(self) -> list[str]:
        return self.path.split("/")

    @property
    def prefix(self) -> str:
        """The fixed start of the template, up to its first placeholder."""
        return self.path.split("{", 1)[0]


class Resolved(NamedTuple):
    """What a method and path come to.

    `handler` is None when the request is refused: `allow` is then empty for a 404 or the
    matched route's methods, sorted, for a 405. `route` names the request for rules and the
    journal; `task_id` is the one in its path, if any. `method` and `path` are the first
    seen copies, which the journal shares rather than keep a pair per request.
    """

    handler: Handler | None
    params: tuple[str, ...]
    allow: tuple[str, ...]
    route: str
    task_id: str | None
    method: str
    path: str


class _Target(NamedTuple):
    """What a matched template leads to, worked out once: its route, which parameter is
    the task's id, the `Allow` list and the name of a request the route refuses."""

    route: PublicRoute
    task_param: int | None
    allow: tuple[str, ...]
    refused_as: str


#: A template compiled for matching, a plain tuple unpacked in one step (every path seen
#: for the first time is matched, and a named tuple's fields are slower to read): what
#: picks the fixed segments after the first out of a split path, what they must be, what
#: picks the placeholders' values (a bare value when the next item is true), the values a
#: placeholder may not take (another route's fixed segment there), and the target. The
#: pickers are `itemgetter`s, one C call each.
_Pattern = tuple[
    Callable[[list[str]], object] | None,
    object,
    Callable[[list[str]], Any] | None,
    bool,
    tuple[tuple[int, frozenset[str]], ...],
    _Target,
]


def _is_placeholder(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


def _compile(route: PublicRoute, table: Iterable[PublicRoute]) -> _Pattern:
    segments = route.segments
    if segments[0] or len(segments) < 2 or _is_placeholder(segments[1]):
        raise ValueError(f"a route's path starts with a fixed segment: {route.path!r}")
    fixed = tuple(i for i, s in enumerate(segments) if i > 1 and not _is_placeholder(s))
    params = tuple(i for i, s in enumerate(segments) if _is_placeholder(s))
    reserved = []
    for index in params:
        claimed = frozenset(
            other.segments[index]
            for other in table
            if other is not route
            and len(other.segments) > index
            and not _is_placeholder(other.segments[index])
            and all(
                a == b or _is_placeholder(a) or _is_placeholder(b)
                for a, b in zip(segments[:index], other.segments[:index], strict=True)
            )
        )
        if claimed:
            reserved.append((index, claimed))
    names = [segments[i][1:-1] for i in params]
    target = _Target(
        route=route,
        task_param=names.index("task_id") if "task_id" in names else None,
        allow=tuple(sorted(route.methods)),
        refused_as=route.route if route.refused_as is None else route.refused_as,
    )
    pick_fixed = operator.itemgetter(*fixed) if fixed else None
    pick_params = operator.itemgetter(*params) if params else None
    want = pick_fixed(segments) if pick_fixed is not None else None
    return pick_fixed, want, pick_params, len(params) == 1, tuple(reserved), target


class Router:
    """Resolves requests against one table of routes, remembering its answers: a client
    polls the same path many times and submits to one. Each app has its own."""

    #: Resolutions remembered; the memory is dropped whole when it grows past this.
    KNOWN_LIMIT = 4096

    def __init__(self, routes: Iterable[PublicRoute]) -> None:
        self.routes = tuple(routes)
        #: Patterns by (segment count, first segment): the only ones a path can match.
        self._shapes: dict[tuple[int, str], list[_Pattern]] = {}
        for route in self.routes:
            segments = route.segments
            shape = self._shapes.setdefault((len(segments), segments[1]), [])
            shape.append(_compile(route, self.routes))
        self._owners = tuple((r.prefix, r.route) for r in self.routes if r.owns_prefix)
        self._known: dict[tuple[str, str], Resolved] = {}

    def resolve(self, method: str, path: str) -> Resolved:
        key = (method, path)
        known = self._known.get(key)
        if known is None:
            known = self._resolve(method, path)
            if len(self._known) >= self.KNOWN_LIMIT:
                self._known.clear()
            self._known[key] = known
        return known

    def _match(self, path: str) -> tuple[_Target, tuple[str, ...]] | None:
        parts = path.split("/")
        if parts[0] or len(parts) < 2:
            return None
        for fixed, want, take, one_param, reserved, target in self._shapes.get(
            (len(parts), parts[1]), ()
        ):
            if fixed is not None and fixed(parts) != want:
                continue
            params = () if take is None else (take(parts),) if one_param else take(parts)
            if "" in params:
                continue
            for index, words in reserved:
                if parts[index] in words:
                    break
            else:
                return target, params
        return None

    def _resolve(self, method: str, path: str) -> Resolved:
        found = self._match(path)
        if found is None:
            owners = (owner for prefix, owner in self._owners if path.startswith(prefix))
            return Resolved(None, (), (), next(owners, UNROUTED), None, method, path)
        target, params = found
        route = target.route
        task_id = None if target.task_param is None else params[target.task_param]
        if method in route.methods:
            return Resolved(route.handler, params, (), route.route, task_id, method, path)
        if route.exists is not None and not route.exists(params):
            return Resolved(None, params, (), target.refused_as, task_id, method, path)
        return Resolved(None, params, target.allow, target.refused_as, task_id, method, path)


def route_path(path: str, root_path: str) -> str:
    """The path the routes see when the app is mounted under `root_path` (as Starlette
    computes it)."""
    if not root_path or not path.startswith(root_path):
        return path
    if path == root_path:
        return ""
    return path[len(root_path) :] if path[len(root_path)] == "/" else path
