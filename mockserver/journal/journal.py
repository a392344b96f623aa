"""The journal: every request the mock answered, and how.

Tests and the retry-policy auditor judge a client from this record, so it must be complete
under concurrency: each request takes its sequence number when it arrives and its entry is
appended under a lock when it ends. It is bounded (oldest entries go first, counted in
`dropped`) so a soak run cannot grow it without limit.
"""

from __future__ import annotations

import itertools
import json
import operator
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

from vidu_lipsync_mock.service.keys import key_fingerprint, redact

__all__ = ["BODY_LIMIT", "Entry", "Journal", "RawEntry", "bearer_token"]

#: How much of a request or response body an entry shows.
BODY_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Entry:
    """One request and its answer. `clock_time` is the mock's (virtual) clock;
    `wall_time` is the host's real clock, so both "what the client chose to wait" and
    "how long the test really took" can be read back."""

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

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["request_headers"] = dict(self.request_headers)
        data["response_headers"] = dict(self.response_headers)
        return data

    def json(self) -> Any:
        """The response body parsed as JSON, or None."""
        if not self.response_body:
            return None
        try:
            return json.loads(self.response_body)
        except ValueError:
            return None

    def request_json(self) -> Any:
        if not self.request_body:
            return None
        try:
            return json.loads(self.request_body)
        except ValueError:
            return None


class RawEntry(NamedTuple):
    """The fields of an entry as the edge writes it: the request's own values, nothing
    decoded.

    Writing happens on every request and reading rarely, so the decoding, redaction and
    copying an `Entry` needs is done when somebody reads it. `authorization` is the raw
    header value, which never leaves this module unredacted. The journal keeps a plain
    tuple in this order, with headers as tuples of `(name, value)` pairs: a plain tuple of
    plain values is one the garbage collector stops tracking, so a full journal adds
    nothing to a collection's pause (a named tuple, a list or a dict would).
    """

    seq: int
    method: str
    path: str
    route: str
    status: int
    clock_time: float
    wall_time: float
    duration_ms: float
    authorization: bytes | None
    task_id: str | None
    fault: str | None
    outcome: str
    query: bytes
    request_headers: Sequence[tuple[bytes, bytes]]
    request_body: bytes
    response_headers: Sequence[tuple[bytes, bytes]]
    response_body: bytes | None

    @property
    def api_key(self) -> str | None:
        value = self.authorization
        return None if value is None else bearer_token(value.decode("latin-1"))

    def entry(self) -> Entry:
        key = self.api_key
        return Entry(
            seq=self.seq,
            method=self.method,
            path=self.path,
            route=self.route,
            status=self.status,
            clock_time=self.clock_time,
            wall_time=self.wall_time,
            duration_ms=self.duration_ms,
            api_key=redact(key) if key else None,
            api_key_id=key_fingerprint(key) if key else None,
            task_id=self.task_id,
            fault=self.fault,
            outcome=self.outcome,
            query=self.query.decode("latin-1"),
            request_headers=_redacted_headers(self.request_headers),
            request_body=_text(self.request_body),
            response_headers={
                name.decode("latin-1"): value.decode("latin-1")
                for name, value in self.response_headers
            },
            response_body=_text(self.response_body),
        )


def bearer_token(value: str | None) -> str | None:
    """The token of a `Bearer` authorization value, or None."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _redacted_headers(headers: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    shown: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        if name == "authorization":
            token = bearer_token(value)
            value = f"Bearer {redact(token)}" if token else "***"
        shown[name] = value
    return shown


def _text(body: bytes | None) -> str | None:
    if not body:
        return None
    return body[:BODY_LIMIT].decode("utf-8", errors="replace")


class Journal:
    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._entries: deque[tuple[Any, ...]] = deque(maxlen=max_entries)
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._shown: dict[int, Entry] = {}
        self._shared: dict[Any, Any] = {}
        self.dropped = 0

    #: Distinct header lists and keys kept for sharing (see `record`); dropped
    #: whole past this.
    SHARED_LIMIT = 4096

    def next_seq(self) -> int:
        """The next request's number: taken when it arrives, so entries sort in the order
        requests began even though they are written when each ends."""
        return next(self._seq)  # atomic: itertools.count is one C call under the GIL

    def record(
        self,
        seq: int,
        method: str,
        path: str,
        route: str,
        status: int,
        clock_time: float,
        wall_time: float,
        duration_ms: float,
        authorization: bytes | None,
        task_id: str | None,
        fault: str | None,
        outcome: str,
        query: bytes,
        request_headers: Sequence[tuple[bytes, bytes]],
        request_body: bytes,
        response_headers: Sequence[tuple[bytes, bytes]],
        response_body: bytes | None,
    ) -> None:
        """Keep one exchange, the values as the edge has them (the fields of `RawEntry`).

        The same header lists and the same key come with most requests; each entry holds
        one shared copy of them, so it is a few objects instead of some thirty, and a full
        journal costs less memory and far fewer cache misses when its oldest entries are
        freed."""
        shared = self._shared
        if len(shared) >= self.SHARED_LIMIT:
            shared.clear()
        if authorization is not None:
            authorization = shared.setdefault(authorization, authorization)
        request_headers = tuple(request_headers)
        request_headers = shared.setdefault(request_headers, request_headers)
        response_headers = tuple(response_headers)
        response_headers = shared.setdefault(response_headers, response_headers)
        entry = (
            seq, method, path, route, status, clock_time, wall_time, duration_ms, authorization,
            task_id, fault, outcome, query, request_headers, request_body, response_headers,
            response_body,
        )  # fmt: skip
        with self._lock:
            if len(self._entries) == self.max_entries:
                self.dropped += 1
            self._entries.append(entry)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries())

    def entries(
        self,
        *,
        route: str | None = None,
        method: str | None = None,
        status: int | None = None,
        task_id: str | None = None,
        api_key: str | None = None,
        faulted: bool | None = None,
        since_seq: int = 0,
        limit: int | None = None,
    ) -> list[Entry]:
        """Entries in the order requests began, filtered; `limit` keeps the last N."""
        wanted_method = None if method is None else method.upper()
        with self._lock:
            items = [RawEntry._make(e) for e in sorted(self._entries, key=_by_seq)]
        chosen = [
            e
            for e in items
            if (route is None or e.route == route)
            and (wanted_method is None or e.method == wanted_method)
            and (status is None or e.status == status)
            and (task_id is None or e.task_id == task_id)
            and (api_key is None or e.api_key == api_key)
            and (faulted is None or (e.fault is not None) == faulted)
            and e.seq > since_seq
        ]
        if limit is not None:
            chosen = chosen[-limit:] if limit > 0 else []
        return [self._shown_entry(e) for e in chosen]

    def _shown_entry(self, raw: RawEntry) -> Entry:
        """The `Entry` for a record, made once: reading the journal twice gives the same
        objects, and the decoding is not paid again."""
        shown = self._shown
        entry = shown.get(raw.seq)
        if entry is None:
            entry = raw.entry()
            with self._lock:
                if len(shown) >= 2 * self.max_entries:  # forget what has left the journal
                    kept = {e[0] for e in self._entries}
                    for seq in [s for s in shown if s not in kept]:
                        del shown[seq]
                shown[raw.seq] = entry
        return entry

    @property
    def last(self) -> Entry | None:
        with self._lock:
            newest = max(self._entries, key=_by_seq) if self._entries else None
        return None if newest is None else self._shown_entry(RawEntry._make(newest))

    def count(self, **filters: Any) -> int:
        return len(self.entries(**filters))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._shown.clear()
            self.dropped = 0

    def to_jsonl(self, **filters: Any) -> str:
        return "".join(
            json.dumps(e.as_dict(), separators=(",", ":")) + "\n" for e in self.entries(**filters)
        )


_by_seq = operator.itemgetter(0)
