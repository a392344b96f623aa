"""One exchange, from the request's arrival to its journal entry.

The edge learns what happened to a request at different moments: the request's own values
when it arrives, the status and headers when the route (or a fault) answers, what the
connection did when a fault breaks it. `Exchange` holds all of it under one set of names,
built with keywords and filled in as the request plays out, and `Journal.record` writes
it, once, whichever way the request went: answered, faulted, refused, or abandoned by
the client. Readers never see it: they get the journal's `Entry`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

__all__ = ["Answer", "Exchange", "new_exchange"]


class Answer(Protocol):
    """What the journal reads of a reply (the edge's `Reply` is one)."""

    @property
    def status(self) -> int: ...

    @property
    def task_id(self) -> str | None: ...


class Exchange:
    """A request and what became of it, as the edge has the values: nothing decoded.

    Headers are `(name, value)` byte pairs in wire order, names in lower case as ASGI
    gives them; the API key stays in them, raw, and only the journal decodes (and
    redacts) it. `started` is the host's performance counter when the request arrived (the
    journal's `duration_ms` counts from it). `status` 0 means the client got no status line;
    `outcome` says what the connection did instead of a plain response. `response_body`
    is the part of the answer the journal keeps (JSON, not video). `recorded` is set by
    the journal, which writes an exchange only once. Made by `new_exchange`.
    """

    __slots__ = (
        "clock_time",
        "fault",
        "method",
        "outcome",
        "path",
        "query",
        "recorded",
        "request_body",
        "request_headers",
        "response_body",
        "response_headers",
        "route",
        "seq",
        "started",
        "status",
        "task_id",
        "wall_time",
    )

    seq: int
    method: str
    path: str
    route: str
    clock_time: float
    wall_time: float
    started: float
    task_id: str | None
    query: bytes
    request_headers: Sequence[tuple[bytes, bytes]]
    request_body: bytes
    status: int
    outcome: str
    fault: str | None
    response_headers: list[tuple[bytes, bytes]]
    response_body: bytes | None
    recorded: bool

    def answered(
        self, reply: Answer, headers: list[tuple[bytes, bytes]], kept: bytes | None
    ) -> None:
        """The route answered (or a fault answered for it) with this reply, these headers
        on the wire, and `kept` the part of its body the journal keeps."""
        self.status = reply.status
        self.response_headers = headers
        self.response_body = kept
        if self.route == "submit" and reply.task_id is not None:
            # The task exists (and is charged) even if a fault then loses the answer.
            self.task_id = reply.task_id


_new = object.__new__


def new_exchange(
    *,
    seq: int,
    method: str,
    path: str,
    route: str,
    clock_time: float,
    wall_time: float,
    started: float,
    task_id: str | None,
    query: bytes,
    request_headers: Sequence[tuple[bytes, bytes]],
    request_body: bytes,
    status: int = 0,
    response_headers: list[tuple[bytes, bytes]] | None = None,
    response_body: bytes | None = None,
    outcome: str = "response",
    fault: str | None = None,
) -> Exchange:
    """An exchange, from keywords: the request's values, and its outcome when known.

    A function rather than `Exchange.__init__`: one is made per request, and a function
    takes keywords more cheaply than a class call (those of a plain answer first)."""
    self: Exchange = _new(Exchange)
    self.seq = seq
    self.method = method
    self.path = path
    self.route = route
    self.clock_time = clock_time
    self.wall_time = wall_time
    self.started = started
    self.task_id = task_id
    self.query = query
    self.request_headers = request_headers
    self.request_body = request_body
    self.status = status
    self.outcome = outcome
    self.fault = fault
    self.response_headers = [] if response_headers is None else response_headers
    self.response_body = response_body
    self.recorded = False
    return self
