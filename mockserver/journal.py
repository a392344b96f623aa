"""The journal: every request the mock answered, and how.

Tests and the retry-policy auditor judge a client from this record, so it must be complete
under concurrency: entries are appended under a lock with a sequence number taken at the
same moment. It is bounded (oldest entries go first, counted in `dropped`) so a soak run
cannot grow it without limit.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .auth import key_fingerprint

__all__ = ["Entry", "Journal"]


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


class Journal:
    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._entries: deque[Entry] = deque(maxlen=max_entries)
        self._lock = threading.Lock()
        self._seq = 0
        self.dropped = 0

    def next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def record(self, entry: Entry) -> None:
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
        key_id = None if api_key is None else key_fingerprint(api_key)
        with self._lock:
            items = sorted(self._entries, key=lambda e: e.seq)
        chosen = [
            e
            for e in items
            if (route is None or e.route == route)
            and (method is None or e.method == method.upper())
            and (status is None or e.status == status)
            and (task_id is None or e.task_id == task_id)
            and (key_id is None or e.api_key_id == key_id)
            and (faulted is None or (e.fault is not None) == faulted)
            and e.seq > since_seq
        ]
        if limit is not None:
            chosen = chosen[-limit:] if limit > 0 else []
        return chosen

    @property
    def last(self) -> Entry | None:
        with self._lock:
            return max(self._entries, key=lambda e: e.seq) if self._entries else None

    def count(self, **filters: Any) -> int:
        return len(self.entries(**filters))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.dropped = 0

    def to_jsonl(self, **filters: Any) -> str:
        return "".join(
            json.dumps(e.as_dict(), separators=(",", ":")) + "\n" for e in self.entries(**filters)
        )
