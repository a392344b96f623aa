"""The journal as HAR 1.2: the one HAR writer, for the export and the failure report.

`GET /_mock/journal.har` and the pytest plugin's `--lipsync-har-dir` both write what a
browser's developer tools open (HAR 1.2, http://www.softwareishard.com/blog/har-12-spec/),
so a failed run can be looked at with the tools a developer already has. It is written
from journal entries, so it shows what the journal shows and nothing more: keys redacted
(`Bearer abcd…wxyz`), bodies as bounded as the journal keeps them (JSON answers, never the
video), each answer's `X-Request-Id`.

What the journal knows that HAR has no field for goes into fields whose names start with
an underscore, as the format allows: the sequence number, the route, the mock's (virtual)
clock time, the fault and what the connection did (`_outcome`), the task, and the
exchange's place among the attempts at one operation (`journal.attempts`, the grouping the
retry-policy auditor judges). Times are the host's (`startedDateTime` from the entry's
`wall_time`); a request with no answer has status 0, as browsers show one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from http import HTTPStatus
from importlib import metadata
from typing import Any
from urllib.parse import parse_qsl

from vidu_lipsync_mock.journal.attempts import attempt_marks
from vidu_lipsync_mock.journal.journal import Entry

__all__ = ["HAR_MEDIA_TYPE", "har_json", "har_log"]

#: The media type the export is served with.
HAR_MEDIA_TYPE = "application/json"

_PAGE_ID = "journal"


def _version() -> str:
    try:
        return metadata.version("vidu-lipsync-mock")
    except metadata.PackageNotFoundError:
        return "0"


def _iso(timestamp: float) -> str:
    """An ISO 8601 time with milliseconds and the UTC offset, as HAR wants it."""
    moment = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds")


def _pairs(items: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in items]


#: Each status's reason phrase (`statusText`); a status with none has "".
_PHRASES = {status.value: status.phrase for status in HTTPStatus}


def _request(entry: Entry, origin: str) -> dict[str, Any]:
    headers = entry.request_headers
    host = headers.get("host") or "localhost"
    url = f"{origin or 'http://' + host}{entry.path}" + (f"?{entry.query}" if entry.query else "")
    request: dict[str, Any] = {
        "method": entry.method,
        "url": url,
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": _pairs(headers.items()),
        "queryString": _pairs(parse_qsl(entry.query, keep_blank_values=True)),
        "headersSize": -1,
        "bodySize": _declared_size(headers, len((entry.request_body or "").encode())),
    }
    if entry.request_body:
        request["postData"] = {
            "mimeType": headers.get("content-type", ""),
            "text": entry.request_body,
        }
    return request


def _declared_size(headers: Mapping[str, str], kept: int) -> int:
    declared = headers.get("content-length", "")
    return int(declared) if declared.isdigit() else kept


def _response(entry: Entry) -> dict[str, Any]:
    answered = entry.status != 0
    headers = list(entry.response_headers.items())
    if answered:
        headers.append(("x-request-id", entry.request_id))
    text = entry.response_body
    content: dict[str, Any] = {
        "size": _declared_size(entry.response_headers, len((text or "").encode())),
        "mimeType": entry.response_headers.get("content-type", "x-unknown"),
    }
    if text is not None:
        content["text"] = text
    elif answered and entry.route == "download":
        content["comment"] = "the video is not kept in the journal"
    return {
        "status": entry.status,
        "statusText": _PHRASES.get(entry.status, ""),
        "httpVersion": "HTTP/1.1" if answered else "",
        "cookies": [],
        "headers": _pairs(headers),
        "content": content,
        "redirectURL": entry.response_headers.get("location", ""),
        "headersSize": -1,
        "bodySize": content["size"] if answered else -1,
    }


def _entry(entry: Entry, origin: str, marks: Mapping[int, Any]) -> dict[str, Any]:
    duration = max(entry.duration_ms, 0.0)
    har: dict[str, Any] = {
        "pageref": _PAGE_ID,
        "startedDateTime": _iso(entry.wall_time),
        "time": duration,
        "request": _request(entry, origin),
        "response": _response(entry),
        "cache": {},
        "timings": {
            "blocked": -1,
            "dns": -1,
            "connect": -1,
            "ssl": -1,
            "send": 0,
            "wait": duration,
            "receive": 0,
        },
        "_seq": entry.seq,
        "_route": entry.route,
        "_clockTime": entry.clock_time,
        "_requestId": entry.request_id,
        "_outcome": entry.outcome,
    }
    if entry.fault:
        har["_fault"] = entry.fault
    if entry.task_id:
        har["_taskId"] = entry.task_id
    if entry.api_key_id:
        har["_apiKeyId"] = entry.api_key_id
    mark = marks.get(entry.seq)
    if mark is not None:
        har["_attempt"] = {
            "first": mark.first,
            "number": mark.number,
            "of": mark.attempts,
            "retry": mark.retries,
        }
    return har


def har_log(
    entries: Iterable[Entry], *, title: str = "vidu-lipsync-mock journal", origin: str = ""
) -> dict[str, Any]:
    """A HAR 1.2 document of these entries, in the order requests began, on one page
    (none when there is no entry).

    `origin` (`http://127.0.0.1:8000`) prefixes each path in the URLs; empty, each
    request's own `Host` header is used, with `http`."""
    ordered = sorted(entries, key=lambda e: e.seq)
    marks = attempt_marks(ordered)
    pages = [
        {
            "startedDateTime": _iso(entry.wall_time),
            "id": _PAGE_ID,
            "title": title,
            "pageTimings": {"onContentLoad": -1, "onLoad": -1},
        }
        for entry in ordered[:1]  # no exchange, no page
    ]
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "vidu-lipsync-mock", "version": _version()},
            "pages": pages,
            "entries": [_entry(entry, origin.rstrip("/"), marks) for entry in ordered],
        }
    }


def har_json(entries: Iterable[Entry], **options: Any) -> str:
    """`har_log` as JSON text (`title`, `origin` as there)."""
    return json.dumps(har_log(entries, **options), ensure_ascii=False, separators=(",", ":"))
