"""A journal entry as readers see it, and the stored row it is decoded from.

Writing happens on every request and reading rarely, so the journal keeps each exchange
as the edge had it, as a plain tuple (a `Row`) the garbage collector stops tracking, and
decodes and redacts it into an `Entry` only when somebody reads it. `ROW_FIELDS` names the
row's slots in order; `entry_of` reads one back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from vidu_lipsync_mock.journal.redaction import redacted_headers, redacted_query, redacted_text
from vidu_lipsync_mock.journal.request_ids import request_id_of
from vidu_lipsync_mock.service.keys import bearer_token, key_fingerprint, redact

__all__ = ["ROW_FIELDS", "Entry", "Row", "entry_of", "row_api_key"]

Row = tuple[Any, ...]

#: A row's slots, in order. `response_headers` is flat: name, value, name, value, ...
#: `cut` is None, or (request body bytes, response body bytes,
#: the parts cut) when some part was longer than the journal keeps; `cost` is the bytes
#: the row counts against the journal's byte budget.
ROW_FIELDS = (
    "seq", "method", "path", "route", "status", "clock_time", "wall_time", "duration_ms",
    "task_id", "fault", "outcome", "query", "request_headers", "request_body",
    "response_headers", "response_body", "cut", "cost",
)  # fmt: skip

SEQ, METHOD, ROUTE, STATUS, TASK_ID, FAULT = 0, 1, 3, 4, 8, 9
REQUEST_HEADERS, REQUEST_BODY, RESPONSE_BODY, CUT, COST = 12, 13, 15, 16, 17


@dataclass(frozen=True)
class Entry:
    """One request and its answer. `clock_time` is the mock's (virtual) clock;
    `wall_time` is the host's real clock, so both "what the client chose to wait" and
    "how long the test really took" can be read back. `request_body_bytes` and
    `response_body_bytes` are the bodies' sizes as sent, `truncated` names the parts the
    journal kept only the start of (`request_body`, `response_body`, `request_headers`,
    `path`, `query`)."""

    seq: int
    method: str
    path: str
    route: str
    status: int
    clock_time: float
    wall_time: float
    duration_ms: float
    api_key: str | None = None
    api_key_id: str | None = None
    task_id: str | None = None
    fault: str | None = None
    outcome: str = "response"
    query: str = ""
    request_headers: Mapping[str, str] = field(default_factory=dict)
    request_body: str | None = None
    response_headers: Mapping[str, str] = field(default_factory=dict)
    response_body: str | None = None
    request_body_bytes: int = 0
    response_body_bytes: int = 0
    truncated: tuple[str, ...] = ()
    #: The `X-Request-Id` the answer carried (`journal.request_ids`); the route's own
    #: headers are in `response_headers`.
    request_id: str = ""

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["request_headers"] = dict(self.request_headers)
        data["response_headers"] = dict(self.response_headers)
        data["truncated"] = list(self.truncated)
        return data

    def json(self) -> Any:
        """The response body parsed as JSON, or None."""
        return _parsed(self.response_body)

    def request_json(self) -> Any:
        return _parsed(self.request_body)


def _parsed(body: str | None) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _text(body: bytes | None) -> str | None:
    if not body:
        return None
    return redacted_text(body.decode("utf-8", errors="replace"))


def row_api_key(row: Row) -> str | None:
    """The key a stored request carried: its first `authorization` header's token."""
    for name, value in row[REQUEST_HEADERS]:
        if name == b"authorization":
            return bearer_token(value.decode("latin-1"))
    return None


def entry_of(row: Row, prefix: bytes) -> Entry:
    """The `Entry` a stored row stands for: decoded, every key redacted; `prefix` is the
    journal's for the request ids it made."""
    (
        seq, method, path, route, status, clock_time, wall_time, duration_ms, task_id, fault,
        outcome, query, request_headers, request_body, response_headers, response_body, cut,
        _cost,
    ) = row  # fmt: skip
    key = row_api_key(row)
    if cut is None:
        request_size, response_size = len(request_body), len(response_body or b"")
        truncated: tuple[str, ...] = ()
    else:
        request_size, response_size, truncated = cut
    return Entry(
        seq=seq,
        method=method,
        path=redacted_text(path),
        route=route,
        status=status,
        clock_time=clock_time,
        wall_time=wall_time,
        duration_ms=duration_ms,
        api_key=redact(key) if key else None,
        api_key_id=key_fingerprint(key) if key else None,
        task_id=task_id,
        fault=fault,
        outcome=outcome,
        query=redacted_query(query.decode("latin-1")),
        request_headers=redacted_headers(request_headers),
        request_body=_text(request_body),
        response_headers={
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in zip(response_headers[::2], response_headers[1::2], strict=True)
        },
        response_body=_text(response_body),
        request_body_bytes=request_size,
        response_body_bytes=response_size,
        truncated=truncated,
        request_id=request_id_of(request_headers, seq, prefix),
    )
