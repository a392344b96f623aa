"""The journal: every request the mock answered, and how.

Tests and the retry-policy auditor judge a client from this record, so it must be complete
under concurrency: each request takes its sequence number when it arrives, and its entry
is appended, and the oldest dropped, under one lock, so that no entry is lost, none is
dropped twice, and `dropped` counts exactly what left. Taking the lock costs a write about
a hundred instructions, the price of a proof rather than an argument about the GIL.

It is bounded in entries (`max_entries`) and in bytes (`max_bytes`): the oldest entries
go first, counted in `dropped`, so a soak run cannot grow it without limit. Writes trim in
batches, once a sixteenth over a bound, and every read trims first, so what is read is
always within the bounds while a write pays for trimming (and for folding what leaves into
the metrics' counts) once per batch rather than once per request. What one entry
keeps is bounded too: at most `BODY_LIMIT` bytes of each body, `HEADERS_LIMIT` of request
headers, `LINE_LIMIT` of path and of query; an entry names the parts it cut. An entry is
stored as the edge had it (a plain row, `entry.ROW_FIELDS`) and decoded and redacted into
an `Entry` only when read (`entry.entry_of`).
"""

from __future__ import annotations

import itertools
import json
import operator
import threading
import weakref
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

from vidu_lipsync_mock.journal.entry import (
    COST,
    FAULT,
    METHOD,
    ROUTE,
    SEQ,
    STATUS,
    TASK_ID,
    Entry,
    Row,
    entry_of,
    row_api_key,
)
from vidu_lipsync_mock.journal.exchange import Exchange
from vidu_lipsync_mock.journal.request_ids import id_prefix
from vidu_lipsync_mock.journal.tally import Tally
from vidu_lipsync_mock.service.keys import bearer_token

__all__ = [
    "BODY_LIMIT",
    "DEFAULT_MAX_BYTES",
    "ENTRY_OVERHEAD",
    "HEADERS_LIMIT",
    "LINE_LIMIT",
    "Entry",
    "Journal",
    "bearer_token",
]

#: How much of a request or response body an entry keeps.
BODY_LIMIT = 64 * 1024
#: How many bytes of request headers (names and values) an entry keeps.
HEADERS_LIMIT = 16 * 1024
#: How much of a header value an entry keeps once its headers are over `HEADERS_LIMIT`.
HEADER_VALUE_LIMIT = 1024
#: How many characters of the path, and of the query string, an entry keeps.
LINE_LIMIT = 8 * 1024
#: What an entry costs beyond its bodies, request headers, path and query, as the byte
#: budget counts it: the row, its numbers and short strings, the answer's headers.
ENTRY_OVERHEAD = 512
#: The default byte budget of the whole journal.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024

#: Header lists kept for sharing between entries (see `Journal._headers`), of requests
#: and of answers; each table is forgotten whole past this many, and only request header
#: lists up to `SHARED_BYTES` long are shared.
SHARED_LIMIT = 1024
SHARED_BYTES = 2048

_chained = itertools.chain.from_iterable


def _bounded_headers(headers: tuple[tuple[bytes, bytes], ...]) -> tuple[tuple[bytes, bytes], ...]:
    """Request headers over `HEADERS_LIMIT`, cut to it: the first `authorization` first
    (the key the entry names), then the others in order, each value at most
    `HEADER_VALUE_LIMIT` bytes, while they fit."""
    first_key = next((pair for pair in headers if pair[0] == b"authorization"), None)
    ordered = (
        headers if first_key is None else (first_key, *(p for p in headers if p is not first_key))
    )
    kept: list[tuple[bytes, bytes]] = []
    room = HEADERS_LIMIT
    for name, value in ordered:
        pair = (name[:HEADER_VALUE_LIMIT], value[:HEADER_VALUE_LIMIT])
        cost = len(pair[0]) + len(pair[1])
        if cost > room:
            break
        kept.append(pair)
        room -= cost
    return tuple(kept)


class Journal:
    """The bounded record of exchanges: `record` writes one, `entries` reads them back."""

    def __init__(
        self,
        max_entries: int = 10_000,
        max_bytes: int = DEFAULT_MAX_BYTES,
        *,
        seed: int | None = None,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        #: A write trims only past these, a sixteenth over the bounds, and then in one
        #: batch (the metrics fold what goes per batch, not per request); every read
        #: trims first, so no reader sees more than the bounds.
        self._trim_at = max_entries + max(1, max_entries // 16)
        self._trim_bytes_at = max_bytes + max_bytes // 16
        #: What new `X-Request-Id`s start with (`journal.request_ids`): from `seed` if any.
        self.id_prefix = id_prefix(seed)
        #: What the bounds pushed out, folded for the metrics (`journal.tally`).
        self.pushed_out = Tally()
        self._rows: deque[Row] = deque()
        self._bytes = 0
        self._dropped = 0
        self._lock = threading.RLock()  # re-entrant: a finalizer may write while it is held
        self._seq = itertools.count(1)
        #: Entries already decoded and still held by a reader: reading twice while the
        #: first result is alive gives the same objects, and the journal itself holds none.
        self._shown: weakref.WeakValueDictionary[int, Entry] = weakref.WeakValueDictionary()
        self._shared: dict[tuple[tuple[bytes, bytes], ...], tuple[Any, int, bool]] = {}
        self._answers: dict[tuple[bytes, ...], Any] = {}

    def next_seq(self) -> int:
        """The next request's number: taken when it arrives, so entries sort in the order
        requests began even though they are written when each ends."""
        return next(self._seq)  # atomic: itertools.count is one C call under the GIL

    def _headers(self, headers: tuple[tuple[bytes, bytes], ...]) -> tuple[Any, int, bool]:
        """A header list as an entry keeps it, what an entry with it costs before its
        bodies, path and query (its bytes plus `ENTRY_OVERHEAD`), and whether it was cut.
        Most requests carry the same lists, so short ones are shared between entries."""
        size = sum(map(len, _chained(headers)))
        if size > HEADERS_LIMIT:  # never shared: a key must not hold the whole list
            bounded = _bounded_headers(headers)
            return bounded, ENTRY_OVERHEAD + sum(map(len, _chained(bounded))), True
        kept = (headers, ENTRY_OVERHEAD + size, False)
        if size <= SHARED_BYTES:
            shared = self._shared
            if len(shared) >= SHARED_LIMIT:
                shared.clear()
            shared[headers] = kept
        return kept

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
        `Exchange` to fill in as the request plays out."""
        headers = tuple(request_headers)
        kept = self._shared.get(headers) or self._headers(headers)
        kept_headers, fixed_cost, cut_headers = kept
        # The answer's headers are the mock's own, short and bounded: shared, not measured
        # (`ENTRY_OVERHEAD` counts them). Kept flat (name, value, name, value, ...): a
        # tuple of bytes leaves the garbage collector's sight at its first collection,
        # and so does the row that holds it, while a tuple of pairs often stays tracked
        # (the collector may see it before its pairs) and keeps 10,000 rows on every
        # collection's walk, a pause of milliseconds under load.
        answers = self._answers
        if len(answers) >= SHARED_LIMIT:
            answers.clear()
        answer = tuple(_chained(response_headers))
        answer = answers.setdefault(answer, answer)
        cost = fixed_cost + len(path) + len(query) + len(request_body)
        if response_body is not None:
            cost += len(response_body)
        cut = None
        if cost > LINE_LIMIT or cut_headers:  # something may be over its limit
            truncated = ["request_headers"] if cut_headers else []
            sizes = (len(request_body), 0 if response_body is None else len(response_body))
            if sizes[0] > BODY_LIMIT:
                request_body = request_body[:BODY_LIMIT]
                truncated.append("request_body")
            if response_body is not None and sizes[1] > BODY_LIMIT:
                response_body = response_body[:BODY_LIMIT]
                truncated.append("response_body")
            if len(path) > LINE_LIMIT:
                path = path[:LINE_LIMIT]
                truncated.append("path")
            if len(query) > LINE_LIMIT:
                query = query[:LINE_LIMIT]
                truncated.append("query")
            if truncated:
                cut = (*sizes, tuple(truncated))
                cost = fixed_cost + len(path) + len(query)
                cost += len(request_body) + len(response_body or b"")
        row = (
            seq, method, path, route, status, clock_time, wall_time, duration_ms, task_id,
            fault, outcome, query, kept_headers, request_body, answer, response_body, cut, cost,
        )  # fmt: skip
        with self._lock:
            rows = self._rows
            rows.append(row)
            self._bytes += cost
            if len(rows) > self._trim_at or self._bytes > self._trim_bytes_at:
                self._trim()

    def _trim(self) -> None:
        """Drop the oldest rows until both bounds hold (the newest is always kept); the
        caller holds the lock."""
        rows = self._rows
        gone = []
        while len(rows) > self.max_entries or (self._bytes > self.max_bytes and len(rows) > 1):
            row = rows.popleft()
            self._bytes -= row[COST]
            gone.append(row)
        self._dropped += len(gone)
        self.pushed_out.fold(gone)

    def _stored(self) -> list[Row]:
        """The stored rows, in the order they were written, within the bounds."""
        with self._lock:
            self._trim()
            return list(self._rows)

    @property
    def dropped(self) -> int:
        """How many entries the bounds have pushed out since the journal was last cleared."""
        with self._lock:
            self._trim()
            return self._dropped

    @property
    def bytes(self) -> int:
        """What the stored entries count against `max_bytes`."""
        with self._lock:
            self._trim()
            return self._bytes

    def tally(self) -> Tally:
        """Every request since the journal was last cleared, counted (`journal.tally`):
        what the bounds pushed out and what the journal still holds."""
        with self._lock:
            self._trim()
            rows = list(self._rows)
            total = self.pushed_out.copy()
        total.fold(rows)
        return total

    def footprint(self) -> tuple[int, int]:
        """How many entries the journal holds, and the bytes they count against
        `max_bytes`."""
        with self._lock:
            self._trim()
            return len(self._rows), self._bytes

    def __len__(self) -> int:
        with self._lock:
            self._trim()
            return len(self._rows)

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
            if (route is None or row[ROUTE] == route)
            and (wanted_method is None or row[METHOD] == wanted_method)
            and (status is None or row[STATUS] == status)
            and (task_id is None or row[TASK_ID] == task_id)
            and (api_key is None or row_api_key(row) == api_key)
            and (faulted is None or (row[FAULT] is not None) == faulted)
            and row[SEQ] > since_seq
        ]
        if limit is not None:
            chosen = chosen[-limit:] if limit > 0 else []
        return self._shown_entries(chosen)

    def _shown_entries(self, rows: Sequence[Row]) -> list[Entry]:
        """The `Entry` of each row: the one a reader still holds, else decoded now."""
        shown = self._shown
        entries = []
        for row in rows:
            entry = shown.get(row[SEQ])
            if entry is None:
                made = entry_of(row, self.id_prefix)
                with self._lock:
                    entry = shown.setdefault(row[SEQ], made)
            entries.append(entry)
        return entries

    @property
    def last(self) -> Entry | None:
        rows = self._stored()
        return self._shown_entries([max(rows, key=_by_seq)])[0] if rows else None

    def count(self, **filters: Any) -> int:
        return len(self.entries(**filters))

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()
            self._shown.clear()
            self._bytes = 0
            self._dropped = 0
            self.pushed_out = Tally()

    def to_jsonl(self, **filters: Any) -> str:
        return "".join(
            json.dumps(e.as_dict(), separators=(",", ":")) + "\n" for e in self.entries(**filters)
        )


_by_seq = operator.itemgetter(SEQ)
