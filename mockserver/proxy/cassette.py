"""Cassettes: the exchanges a recording proxy heard, in the journal's own record.

A cassette is a JSON-lines file: a first line that describes it (`{"cassette": 1, ...}`),
then one exchange a line in the shape of `Entry.as_dict()`, so what reads a journal export
reads a cassette. Cassettes are committed and shared, so nothing in one may work as a
credential: the journal already redacts keys, and here every query parameter that signs
or authorises is removed from the request and from every URL in an answer, because a
signed link works for anyone until it expires.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from vidu_lipsync_mock.journal.journal import Entry
from vidu_lipsync_mock.journal.redaction import redacted_text

__all__ = ["CassetteError", "CassetteInfo", "CassetteWriter", "read_cassette"]

FORMAT = 1

#: Query parameter names that sign or authorise a request (AWS, GCS, OSS, CDN tokens...).
_SIGNING_NAME = re.compile(
    r"(?i)(sig|signature|token|key|expires|credential|policy|auth|security|x-amz-|x-goog-|x-oss-)"
)

_ENTRY_FIELDS = {f.name: f for f in dataclasses.fields(Entry)}


class CassetteError(ValueError):
    """A cassette that cannot be read, with the line that is wrong."""


@dataclass(frozen=True)
class CassetteInfo:
    """The first line of a cassette. `complete` says whether each exchange keeps every
    field and header the upstream sent (a recording) or only those its source names (a
    cassette written from documentation): only then is something the mock adds a drift."""

    source: str
    complete: bool = True
    upstream: str | None = None

    def line(self) -> str:
        return json.dumps({"cassette": FORMAT, **dataclasses.asdict(self)}) + "\n"


def strip_signed_query(query: str) -> str:
    """The query string without its signing parameters."""
    if not query:
        return query
    kept = parse_qsl(query, keep_blank_values=True)
    return urlencode([(name, value) for name, value in kept if not _SIGNING_NAME.search(name)])


def _unsigned(value: Any) -> Any:
    """A JSON value with the signing query parameters taken out of every URL in it."""
    if isinstance(value, dict):
        return {name: _unsigned(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_unsigned(item) for item in value]
    if isinstance(value, str) and value.startswith(("http://", "https://")) and "?" in value:
        parts = urlsplit(value)
        return urlunsplit(parts._replace(query=strip_signed_query(parts.query)))
    return value


def _unsigned_body(body: str | None) -> str | None:
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        return body
    return body if parsed is None else json.dumps(_unsigned(parsed), separators=(",", ":"))


def without_credentials(entry: Entry) -> Entry:
    """The entry as a cassette keeps it. The journal has redacted every key a request
    carried (its headers, query, body and path); this takes the signing parameters out of
    the query and of every URL in a body, and a key out of the answer's headers."""
    return dataclasses.replace(
        entry,
        query=strip_signed_query(entry.query),
        request_body=_unsigned_body(entry.request_body),
        response_headers={
            name: redacted_text(value) for name, value in entry.response_headers.items()
        },
        response_body=_unsigned_body(entry.response_body),
    )


class CassetteWriter:
    """Appends exchanges to a cassette, one flushed line each, so a proxy that is killed
    keeps every exchange it had answered. Safe to call from several threads."""

    def __init__(self, path: Path, info: CassetteInfo) -> None:
        self.path = path
        self._lock = threading.Lock()
        fresh = not path.exists() or path.stat().st_size == 0
        if not fresh:
            read_cassette(path)  # refuse to append to something that is not a cassette
        self._file: IO[str] = path.open("a", encoding="utf-8")
        if fresh:
            self._file.write(info.line())
            self._file.flush()

    def write(self, entry: Entry) -> None:
        line = json.dumps(without_credentials(entry).as_dict(), separators=(",", ":")) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


def _entry_from(data: Any, number: int) -> Entry:
    if not isinstance(data, dict):
        raise CassetteError(f"line {number}: an exchange must be a JSON object")
    unknown = sorted(set(data) - set(_ENTRY_FIELDS))
    if unknown:
        raise CassetteError(f"line {number}: unknown field(s) {', '.join(unknown)[:200]}")
    for required in ("seq", "method", "path", "status"):
        if required not in data:
            raise CassetteError(f"line {number}: missing field {required!r}")
    values = {"route": "", "clock_time": 0.0, "wall_time": 0.0, "duration_ms": 0.0, **data}
    try:
        entry = Entry(**values)
    except TypeError as error:
        raise CassetteError(f"line {number}: {error}") from None
    if not isinstance(entry.status, int) or not isinstance(entry.method, str):
        raise CassetteError(f"line {number}: 'status' must be a number, 'method' a string")
    return entry


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open(encoding="utf-8") as file:
            for number, line in enumerate(file, start=1):
                if line.strip():
                    yield number, line
    except (OSError, UnicodeDecodeError) as error:
        raise CassetteError(f"{path}: cannot be read ({error})") from None


def read_cassette(path: Path) -> tuple[CassetteInfo, list[Entry]]:
    """The cassette's description and its exchanges, in the order they were recorded."""
    info: CassetteInfo | None = None
    entries: list[Entry] = []
    for number, line in _lines(path):
        try:
            data = json.loads(line)
        except ValueError:
            raise CassetteError(f"{path}: line {number} is not JSON") from None
        if info is None:
            if not isinstance(data, dict) or data.get("cassette") != FORMAT:
                raise CassetteError(
                    f"{path}: line {number} is not a cassette header "
                    f'({{"cassette": {FORMAT}, "source": ...}}): not a cassette of this version'
                )
            unknown = sorted(set(data) - {"cassette", "source", "complete", "upstream"})
            if unknown:
                raise CassetteError(f"{path}: line {number}: unknown header field(s) {unknown}")
            info = CassetteInfo(
                source=str(data.get("source", "")),
                complete=bool(data.get("complete", True)),
                upstream=data.get("upstream"),
            )
            continue
        entries.append(_entry_from(data, number))
    if info is None:
        raise CassetteError(f"{path}: empty, not a cassette")
    return info, entries
