"""The journal: every request the mock answered, and how.

Tests and the retry-policy auditor judge a client from this record, so it must be complete
under concurrency: each request takes its sequence number when it arrives and its entry is
appended when it ends (one C call, atomic under the GIL). It is bounded (oldest entries go
first, counted in `dropped`) so a soak run cannot grow it without limit; the oldest are
trimmed under a lock in batches, so the write itself takes no lock.

Writing happens on every request and reading rarely, so an exchange is kept as the edge
had it, as a plain tuple the garbage collector stops tracking (headers as tuples of pairs),
and decoded and redacted into an `Entry` only when somebody reads it: `Journal.record`
makes that tuple, `_entry` reads it back.
"""

from __future__ import annotations

import itertools
import json
import operator
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from vidu_lipsync_mock.journal.exchange import Exchange
from vidu_lipsync_mock.service.keys import bearer_token, key_fingerprint, redact

__all__ = ["BODY_LIMIT", "Entry", "Journal", "bearer_token"]

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
        return _parsed(self.response_body)

    def request_json(self) -> Any:
        return _parsed(self.request_body)


def _parsed(body: str | None) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


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


#: Distinct header lists kept for sharing (see `Journal.record`); forgotten whole past this.
SHARED_LIMIT = 4096

#: The stored tuple, in order (see `Journal.record`): seq, method, path, route, status,
#: clock_time, wall_time, duration_ms, task_id, fault, outcome, query, request_headers,
#: request_body, response_headers, response_body.
_SEQ, _METHOD, _ROUTE, _STATUS, _TASK_ID, _FAULT, _REQUEST_HEADERS = 0, 1, 3, 4, 8, 9, 12


def _api_key(row: tuple[Any, ...]) -> str | None:
    """The key a stored request carried: its first `authorization` header's token."""
    for name, value in row[_REQUEST_HEADERS]:
        if name == b"authorization":
            return bearer_token(value.decode("latin-1"))
    return None


def _entry(row: tuple[Any, ...]) -> Entry:
    """The `Entry` a stored tuple stands for: decoded, the key redacted, bodies cut."""
    (
        seq, method, path, route, status, clock_time, wall_time, duration_ms, task_id, fault,
        outcome, query, request_headers, request_body, response_headers, response_body,
    ) = row  # fmt: skip
    key = _api_key(row)
    return Entry(
        seq=seq,
        method=method,
        path=path,
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
        query=query.decode("latin-1"),
        request_headers=_redacted_headers(request_headers),
        request_body=_text(request_body),
        response_headers={
            name.decode("latin-1"): value.decode("latin-1") for name, value in response_headers
        },
        response_body=_text(response_body),
    )


class Journal:
    """The bounded record of exchanges: `record` writes one, `entries` reads them back."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._entries: deque[tuple[Any, ...]] = deque()
        #: Past this many stored tuples the oldest are trimmed to `max_entries`; readers
        #: trim first, so they never see more than `max_entries`.
        self._trim_at = max_entries + max(1, max_entries // 16)
        self._trimmed = 0
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._shown: dict[int, Entry] = {}
        self._shared: dict[Any, Any] = {}

    def next_seq(self) -> int:
        """The next request's number: taken when it arrives, so entries sort in the order
        requests began even though they are written when each ends."""
        return next(self._seq)  # atomic: itertools.count is one C call under the GIL

    def record(self, exchange: Exchange, ended: float) -> None:
        """Keep one exchange, once (later calls for the same exchange do nothing).

        `ended` is the host's performance counter when it ended (the journal reads no
        clock)."""
        if exchange.recorded:
            return
        exchange.recorded = True
        self.write(
            seq=exchange.seq, method=exchange.method, path=exchange.path, route=exchange.route,
            status=exchange.status, clock_time=exchange.clock_time,
            wall_time=exchange.wall_time, duration_ms=(ended - exchange.started) * 1000,
            task_id=exchange.task_id, query=exchange.query,
            request_headers=exchange.request_headers, request_body=exchange.request_body,
            response_headers=exchange.response_headers, response_body=exchange.response_body,
            outcome=exchange.outcome, fault=exchange.fault,
        )  # fmt: skip

    def write(
        self,
        *,
        seq: int,
        method: str,
        path: str,
        route: str,
        status: int,
        clock_time: float,
        wall_time: float,
        duration_ms: float,
        task_id: str | None,
        query: bytes,
        request_headers: Sequence[tuple[bytes, bytes]],
        request_body: bytes,
        response_headers: Sequence[tuple[bytes, bytes]],
        response_body: bytes | None,
        outcome: str = "response",
        fault: str | None = None,
    ) -> None:
        """Keep one exchange given as its values, as `Exchange` names them: what `record`
        writes, and what the public app writes for a plain answer, which needs no
        `Exchange` to fill in as the request plays out. Most requests carry the same header
        lists, so entries share one copy."""
        shared = self._shared
        if len(shared) >= SHARED_LIMIT:
            shared.clear()
        request_headers = tuple(request_headers)
        request_headers = shared.setdefault(request_headers, request_headers)
        response_headers = tuple(response_headers)
        response_headers = shared.setdefault(response_headers, response_headers)
        row = (
            seq, method, path, route, status, clock_time, wall_time, duration_ms, task_id,
            fault, outcome, query, request_headers, request_body, response_headers,
            response_body,
        )  # fmt: skip
        entries = self._entries
        entries.append(row)
        if len(entries) > self._trim_at:
            with self._lock:
                self._trim()

    def _trim(self) -> None:
        """Drop the oldest stored tuples beyond `max_entries`; the caller holds the lock.
        Only this removes single tuples, and appends only add, so each pop succeeds."""
        excess = len(self._entries) - self.max_entries
        for _ in range(excess):
            self._entries.popleft()
        if excess > 0:
            self._trimmed += excess

    def _stored(self) -> list[tuple[Any, ...]]:
        """The newest `max_entries` stored tuples, in the order they were written. Writers
        may append while the lock is held, so the copy (one C call) is cut to the bound."""
        with self._lock:
            self._trim()
            return list(self._entries)[-self.max_entries :]

    @property
    def dropped(self) -> int:
        """How many entries the bound has pushed out since the journal was last cleared."""
        with self._lock:
            return self._trimmed + max(0, len(self._entries) - self.max_entries)

    def __len__(self) -> int:
        return min(len(self._entries), self.max_entries)

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
        rows = sorted(self._stored(), key=_by_seq)
        chosen = [
            row
            for row in rows
            if (route is None or row[_ROUTE] == route)
            and (wanted_method is None or row[_METHOD] == wanted_method)
            and (status is None or row[_STATUS] == status)
            and (task_id is None or row[_TASK_ID] == task_id)
            and (api_key is None or _api_key(row) == api_key)
            and (faulted is None or (row[_FAULT] is not None) == faulted)
            and row[_SEQ] > since_seq
        ]
        if limit is not None:
            chosen = chosen[-limit:] if limit > 0 else []
        return [self._shown_entry(row) for row in chosen]

    def _shown_entry(self, row: tuple[Any, ...]) -> Entry:
        """The `Entry` for a stored tuple, made once: reading the journal twice gives the
        same objects, and the decoding is not paid again."""
        shown = self._shown
        seq = row[_SEQ]
        entry = shown.get(seq)
        if entry is None:
            entry = _entry(row)
            with self._lock:
                if len(shown) >= 2 * self.max_entries:  # forget what has left the journal
                    # Iterated in C: writers append without the lock, and a Python
                    # loop over the deque could see one and fail.
                    kept = set(map(_by_seq, self._entries))
                    for old in [s for s in shown if s not in kept]:
                        del shown[old]
                shown[seq] = entry
        return entry

    @property
    def last(self) -> Entry | None:
        rows = self._stored()
        return self._shown_entry(max(rows, key=_by_seq)) if rows else None

    def count(self, **filters: Any) -> int:
        return len(self.entries(**filters))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._shown.clear()
            self._trimmed = 0

    def to_jsonl(self, **filters: Any) -> str:
        return "".join(
            json.dumps(e.as_dict(), separators=(",", ":")) + "\n" for e in self.entries(**filters)
        )


_by_seq = operator.itemgetter(_SEQ)
