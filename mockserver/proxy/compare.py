"""What counts as drift between the service's answer and the mock's to the same request.

Values differ by nature (ids, times, balances), so the comparison is of what a client's
code depends on: the status; the envelope's `code`; the names and JSON types of every
field, recursively (a list by its first item); the category of an error message (the
words before the colon, which is what the provider keeps stable and clients match on;
the detail after it may be reworded); and the headers that clients read, by presence and
by form.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["CLIENT_HEADERS", "Answer", "Difference", "differences"]

#: Response headers that clients read: the quota, the body's type, redirects and ranges.
CLIENT_HEADERS = (
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "retry-after",
    "content-type",
    "location",
    "accept-ranges",
    "content-range",
)

_NUMBER_HEADERS = frozenset({"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"})
_ABSENT = ("absent", "missing")
_CONTENT_RANGE = re.compile(r"bytes (\d+-\d+|\*)/(\d+|\*)")


@dataclass(frozen=True)
class Answer:
    """One answer as the comparison reads it: status, headers (lower-case names), body."""

    status: int
    headers: Mapping[str, str]
    body: str | None

    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


@dataclass(frozen=True)
class Difference:
    """One way the mock's answer differs from the service's. `where` names the exchange
    (`#3 GET /api/v1/tasks/{id}`), `aspect` what differs. `drift` False for a field or
    header only the mock has, compared with a source that names only some of its own
    (documentation): worth showing, not a failure."""

    where: str
    aspect: str
    upstream: str
    mock: str
    drift: bool = True


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _fields(path: str, upstream: Any, mock: Any) -> Iterator[tuple[str, str, str]]:
    up_type, mock_type = _json_type(upstream), _json_type(mock)
    if up_type != mock_type:
        yield f"field {path or '(body)'}", up_type, mock_type
        return
    if isinstance(upstream, dict):
        for name in sorted(upstream.keys() | mock.keys()):
            where = f"{path}.{name}" if path else name
            if name not in mock:
                yield f"field {where}", _json_type(upstream[name]), "missing"
            elif name not in upstream:
                yield f"field {where}", "missing", _json_type(mock[name])
            else:
                yield from _fields(where, upstream[name], mock[name])
    elif isinstance(upstream, list) and upstream and mock:
        yield from _fields(f"{path}[]", upstream[0], mock[0])


def _category(message: Any) -> str:
    text = str(message)
    return text.split(":", 1)[0].strip() if ":" in text else text.strip()


def _header_form(name: str, value: str) -> str:
    if name == "content-type":
        return value.split(";", 1)[0].strip().lower()
    if name in _NUMBER_HEADERS or name == "retry-after":
        return "integer" if value.strip().isdigit() else "text"
    if name == "content-range":
        return "bytes range" if _CONTENT_RANGE.fullmatch(value.strip()) else "text"
    return "present"


def _headers(upstream: Answer, mock: Answer) -> Iterator[tuple[str, str, str]]:
    for name in CLIENT_HEADERS:
        up, ours = upstream.headers.get(name), mock.headers.get(name)
        if up is None and ours is None:
            continue
        if up is None:
            yield f"header {name}", "absent", _header_form(name, ours or "")
        elif ours is None:
            yield f"header {name}", _header_form(name, up), "absent"
        elif _header_form(name, up) != _header_form(name, ours):
            yield f"header {name}", _header_form(name, up), _header_form(name, ours)


def differences(
    where: str, upstream: Answer, mock: Answer, *, complete: bool = True
) -> list[Difference]:
    """Every difference between two answers to one request. `complete` False when the
    upstream side names only some of its fields and headers (a cassette written from
    documentation): then what only the mock has is a note, not drift."""
    found: list[tuple[str, str, str]] = []
    if upstream.status != mock.status:
        found.append(("status", str(upstream.status), str(mock.status)))
    up_json, mock_json = upstream.json(), mock.json()
    if isinstance(up_json, dict) and isinstance(mock_json, dict):
        if up_json.get("code") != mock_json.get("code"):
            found.append(("envelope code", repr(up_json.get("code")), repr(mock_json.get("code"))))
        if "message" in up_json and "message" in mock_json:
            up_category, mock_category = (
                _category(up_json["message"]),
                _category(mock_json["message"]),
            )
            if up_category != mock_category:
                found.append(("message category", up_category, mock_category))
        found.extend(_fields("", up_json, mock_json))
    elif (up_json is None) != (mock_json is None):
        shown = (
            "JSON" if up_json is not None else "not JSON",
            "JSON" if mock_json is not None else "not JSON",
        )
        found.append(("body", *shown))
    found.extend(_headers(upstream, mock))
    return [
        Difference(where, aspect, up, ours, drift=complete or up not in _ABSENT)
        for aspect, up, ours in found
    ]
