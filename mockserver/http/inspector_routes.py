"""The admin routes behind the inspector (`/_mock/ui`) and the exports: HAR and metrics.

The inspector page is a static file shipped in the package (`http/inspector/`, no build
step, nothing fetched from elsewhere) that acts only through the admin API, like any other
admin client. These routes add what it, and tools beside it, need: the journal as rows
marked with their place among the attempts at one operation (`journal.attempts`) and one
exchange in full; the journal as HAR 1.2 and the metrics in Prometheus' format; the fault
kinds' declarations, from which the page builds its form; each task's timeline.

The rows and the HAR export take every filter of `/_mock/journal`, and `key` (a key's
fingerprint or redacted form), `fault` (`any`, `none` or a kind), `request_id`, `before`
and a status class (`status=4xx`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from vidu_lipsync_mock.faults.kinds import FAULT_KINDS, GROUPS
from vidu_lipsync_mock.faults.rules import ROUTES, Schedule
from vidu_lipsync_mock.http import wire
from vidu_lipsync_mock.http.connections import Connections
from vidu_lipsync_mock.http.metrics import METRICS_MEDIA_TYPE, metrics_registry, metrics_text
from vidu_lipsync_mock.journal.attempts import AttemptMark, attempt_marks
from vidu_lipsync_mock.journal.fired import fired_faults
from vidu_lipsync_mock.journal.har import HAR_MEDIA_TYPE, har_json
from vidu_lipsync_mock.journal.journal import Entry
from vidu_lipsync_mock.service.errors import ApiError, echo
from vidu_lipsync_mock.service.keys import redact
from vidu_lipsync_mock.service.tasks import TaskSnapshot, TaskStatus
from vidu_lipsync_mock.state import MockState

__all__ = ["INSPECTOR_ROUTES", "AdminOperation", "InspectorApi", "fault_kinds"]

#: The page's files, by the name it asks for, with their media types.
ASSETS: Mapping[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}


@dataclass(frozen=True)
class AdminOperation:
    """One admin endpoint, of `admin_routes.OPERATIONS` or `INSPECTOR_ROUTES`: routing and
    `/openapi.json` are both generated from these tables. `handler` names the method of
    the table's API; `media_type` is what a success answers with, and `schema` its body
    when not the admin envelope (JSON) or text."""

    path: str
    method: str
    handler: str
    summary: str
    body: Mapping[str, Any] | None = None
    #: Query parameters and their schemas, as the handler reads them.
    query: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    media_type: str = "application/json"
    schema: Mapping[str, Any] | None = None


_TEXT: Mapping[str, Any] = {"type": "string"}
_STATUS = re.compile(r"[1-5][0-9][0-9]|[1-5][xX][xX]")

#: The journal's filters, as the rows and the HAR export take them, with their schemas:
#: `status` is a number or a class (`4xx`), `key` a key or its fingerprint.
JOURNAL_QUERY: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        **dict.fromkeys(("route", "method", "task_id", "key", "fault", "request_id"), _TEXT),
        "status": {"type": "string", "pattern": f"^(?:{_STATUS.pattern})$"},
        **{key: {"type": "integer"} for key in ("since", "limit", "before")},
        "faulted": {"type": "boolean"},
    }
)

INSPECTOR_ROUTES: tuple[AdminOperation, ...] = (
    AdminOperation("/ui", "GET", "ui", "The inspector's page", media_type=ASSETS["index.html"]),
    AdminOperation(
        "/ui/{asset}", "GET", "ui_asset", "One of the page's files", media_type="text/plain"
    ),
    AdminOperation(
        "/journal.har",
        "GET",
        "journal_har",
        "The journal as HAR 1.2",
        query=JOURNAL_QUERY,
        media_type=HAR_MEDIA_TYPE,
        schema={"type": "object", "required": ["log"]},
    ),
    AdminOperation(
        "/journal/rows",
        "GET",
        "journal_rows",
        "Journal entries without headers or bodies, with their attempt marks",
        query=JOURNAL_QUERY,
    ),
    AdminOperation("/journal/{seq}", "GET", "journal_entry", "One journal entry in full"),
    AdminOperation(
        "/metrics", "GET", "metrics", "Metrics in Prometheus' text format", media_type="text/plain"
    ),
    AdminOperation("/faults/kinds", "GET", "fault_kinds", "The fault kinds' declarations"),
    AdminOperation("/tasks/{task_id}", "DELETE", "delete_task", "Forget a task"),
    AdminOperation("/timelines", "GET", "timelines", "Every task with its status changes"),
)

#: Most rows one call answers (the page pages through the rest).
MAX_ROWS = 2000

#: The page's own headers: nothing from elsewhere, no framing by another site.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; media-src *; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def _ok(data: Any) -> Response:
    return Response(wire.success_body(data), media_type="application/json")


def _integer(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, f"Invalid format: {name} must be an integer") from None


def _status_test(raw: str | None) -> Callable[[int], bool] | None:
    """`404`, or a class such as `4xx`; None when not given."""
    if raw is None:
        return None
    if not _STATUS.fullmatch(raw):
        raise ApiError(400, "Invalid format: status must be a status (404) or a class (4xx)")
    if raw[1:].lower() == "xx":
        first = int(raw[0])
        return lambda status: status // 100 == first
    wanted = int(raw)
    return lambda status: status == wanted


def _fault_test(raw: str | None) -> Callable[[str | None], bool] | None:
    if raw is None:
        return None
    if raw == "any":
        return lambda label: label is not None
    if raw == "none":
        return lambda label: label is None
    return lambda label: (
        label is not None and any(part.split(":", 1)[0] == raw for part in label.split(","))
    )


_TYPED = frozenset({"status", "since", "limit", "before", "faulted"})


def _switch(raw: str | None) -> bool | None:
    if raw is None:
        return None
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise ApiError(400, "Invalid format: faulted must be true or false")


def filtered_entries(state: MockState, query: Mapping[str, str]) -> list[Entry]:
    """The journal's entries that the query's filters keep, in the order requests began:
    those of `/_mock/journal` (route, method, status, task_id, faulted, since, limit) and
    key, fault, request_id, before, and a status class."""
    # An empty text filter is no filter; an empty number or switch is refused as malformed.
    q = {name: value for name, value in query.items() if value != "" or name in _TYPED}
    status = _status_test(q.get("status"))
    fault = _fault_test(q.get("fault"))
    since = _integer(q, "since") or 0
    before = _integer(q, "before")
    limit = _integer(q, "limit")
    faulted = _switch(q.get("faulted"))
    key, request_id = q.get("key"), q.get("request_id")
    entries = state.journal.entries(
        route=q.get("route"),
        method=q.get("method"),
        task_id=q.get("task_id"),
        faulted=faulted,
        since_seq=since,
    )
    chosen = [
        entry
        for entry in entries
        if (status is None or status(entry.status))
        and (fault is None or fault(entry.fault))
        and (key is None or key in (entry.api_key_id, entry.api_key))
        and (request_id is None or entry.request_id == request_id)
        and (before is None or entry.seq < before)
    ]
    if limit is not None:
        chosen = chosen[-limit:] if limit > 0 else []
    return chosen


def journal_row(
    entry: Entry, mark: AttemptMark | None, fired: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """One exchange as the inspector lists it: no headers, no bodies; `fired` are the
    fault trace's decisions on it (`journal.fired`), for the rule and the phase."""
    return {
        "seq": entry.seq,
        "method": entry.method,
        "path": entry.path,
        "query": entry.query,
        "route": entry.route,
        "status": entry.status,
        "duration_ms": round(entry.duration_ms, 3),
        "clock_time": entry.clock_time,
        "wall_time": entry.wall_time,
        "fault": entry.fault,
        "fault_phase": ",".join(str(decision.get("phase")) for decision in fired) or None,
        "fault_rules": [decision.get("rule") for decision in fired],
        "outcome": entry.outcome,
        "task_id": entry.task_id,
        "api_key": entry.api_key,
        "api_key_id": entry.api_key_id,
        "request_id": entry.request_id,
        "attempt": None if mark is None else mark._asdict(),
    }


def task_view(state: MockState, task: TaskSnapshot) -> dict[str, Any]:
    """A task as the inspector shows it: key redacted, the times its status changed, and
    the path of its result once it succeeded."""
    changes = [("pending", task.submitted_at), ("processing", task.started_at)]
    if task.status.terminal:
        changes.append((task.status.value, task.finished_at))
    result = None
    if task.status is TaskStatus.SUCCESS:
        result = wire.result_path(task.task_id, state.result_media(task.model_id).spec.file_name)
    return {
        "task_id": task.task_id,
        "model_id": task.model_id,
        "status": task.status.value,
        "api_key": redact(task.api_key),
        "submitted_at": task.submitted_at,
        "finished_at": task.finished_at,
        "error_message": task.error_message,
        "polls": task.polls,
        "progression": task.progression.get("kind"),
        "timeline": [{"status": s, "at": at} for s, at in changes if at is not None],
        "result_path": result,
    }


def fault_kinds() -> dict[str, Any]:
    """The fault kinds as their declarations state them, with what a rule can match and
    schedule: enough to build a form for any kind."""
    kinds = [
        {
            "name": kind.name,
            "group": kind.group,
            "doc": kind.doc,
            "changes_task": kind.changes_task,
            "params": [
                {
                    "name": name,
                    "type": param.type.__name__,
                    "doc": param.doc,
                    "default": param.default,
                    "low": param.low,
                    "high": param.high,
                    "choices": list(param.choices),
                    "accepted": param.accepted(),
                    "examples": list(param.examples),
                }
                for name, param in kind.params.items()
            ],
        }
        for kind in FAULT_KINDS.values()
    ]
    return {
        "groups": dict(GROUPS),
        "kinds": kinds,
        "routes": list(ROUTES),
        "schedules": list(Schedule.KINDS),
        "phases": ["before", "after"],
    }


def _asset(name: str) -> bytes:
    return (resources.files("vidu_lipsync_mock.http") / "inspector" / name).read_bytes()


class InspectorApi:
    """The routes above for one mock; `connections` is the server's registry (for the
    open-connections gauge)."""

    def __init__(self, state: MockState, connections: Connections | None = None) -> None:
        self.state = state
        self.registry = metrics_registry(state, connections or Connections())
        self._marked: tuple[object, Mapping[int, AttemptMark]] = (None, {})

    async def ui(self, request: Request) -> Response:
        return self._asset("index.html")

    async def ui_asset(self, request: Request) -> Response:
        name = request.path_params["asset"]
        if name not in ASSETS:
            raise ApiError(404, f"Resource not found: no inspector file '{echo(name)}'")
        return self._asset(name)

    @staticmethod
    def _asset(name: str) -> Response:
        return Response(_asset(name), media_type=ASSETS[name], headers=_PAGE_HEADERS)

    async def journal_har(self, request: Request) -> Response:
        entries = filtered_entries(self.state, request.query_params)
        origin = f"{request.url.scheme}://{request.url.netloc}"
        text = har_json(entries, origin=origin)
        disposition = {"Content-Disposition": 'inline; filename="journal.har"'}
        return Response(text, media_type=HAR_MEDIA_TYPE, headers=disposition)

    async def journal_rows(self, request: Request) -> Response:
        query = request.query_params
        given = _integer(query, "limit")
        limit = MAX_ROWS if given is None else max(0, min(given, MAX_ROWS))
        journal = self.state.journal
        # Read before the rows: every exchange up to `last_seq` is among what they were
        # chosen from, so a page asking `since` it next misses none of them.
        last = journal.last
        rows = filtered_entries(self.state, {**query, "limit": str(limit)})
        marks = self._marks() if rows else {}
        fired = fired_faults(rows, list(self.state.faults.trace)) if rows else {}
        return _ok(
            {
                "rows": [
                    journal_row(entry, marks.get(entry.seq), fired.get(entry.seq, ()))
                    for entry in rows
                ],
                "last_seq": last.seq if last is not None else 0,
                "count": len(journal),
                "dropped": journal.dropped,
            }
        )

    async def journal_entry(self, request: Request) -> Response:
        raw: str = request.path_params["seq"]
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
            raise ApiError(404, f"Resource not found: no journal entry '{echo(raw)}'")
        seq = int(raw)
        journal = self.state.journal
        found = journal.entries(since_seq=seq - 1, limit=None)
        entry = next((e for e in found if e.seq == seq), None)
        if entry is None:
            raise ApiError(404, f"Resource not found: no journal entry '{seq}'")
        mark = self._marks().get(seq)
        return _ok({**entry.as_dict(), "attempt": None if mark is None else mark._asdict()})

    def _marks(self) -> Mapping[int, AttemptMark]:
        """The attempt marks of the whole journal (the grouping needs every earlier
        attempt), worked out again only when the journal has changed: the page asks for
        rows in pages and every second."""
        journal = self.state.journal
        last = journal.last
        version = (journal, last.seq if last else 0, len(journal), journal.dropped)
        if self._marked[0] != version:
            self._marked = (version, attempt_marks(journal.entries()))
        return self._marked[1]

    async def metrics(self, request: Request) -> Response:
        return Response(metrics_text(self.registry), media_type=METRICS_MEDIA_TYPE)

    async def fault_kinds(self, request: Request) -> Response:
        return _ok(fault_kinds())

    async def timelines(self, request: Request) -> Response:
        state = self.state
        return _ok([task_view(state, task) for task in state.tasks()])

    async def delete_task(self, request: Request) -> Response:
        task_id = request.path_params["task_id"]
        self.state.delete_task(task_id)
        return _ok({"task_id": task_id, "deleted": True})
