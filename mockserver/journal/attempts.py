"""How the journal's exchanges group into the operations a client performed, and their
attempts.

A client that retries sends the same request again, and the journal records each try as
an exchange of its own. Judging the client's retries (the auditor), explaining a failed
test (the failure report) and showing a run (an inspector) all need the tries grouped back
into the one operation they served; this module is the one definition of that grouping,
so they cannot disagree about what a retry is.

* The **same request** means the same API key, method, path, query and body (bodies
  compared as parsed JSON, so key order and spacing do not matter).
* An **operation** is every exchange of one same request on the provider's routes
  (submit, poll, download), in the order they began: its **attempts**. A refusal on
  another path is the client's mistake, not one of its operations.
* A **failure** is what the caller says it is (the auditor's policy decides which answers
  are worth retrying); by default, an attempt after which the client had no usable
  answer (`unusable`).
* A **retry** is an attempt that follows a failed attempt of the same operation; a
  **failure run** is a maximal run of failed attempts, with the attempt that followed it.
* The **polls of a task** are every poll of one task id, whoever sent them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from itertools import pairwise
from typing import NamedTuple

from vidu_lipsync_mock.journal.journal import Entry

__all__ = [
    "BROKEN_OUTCOMES",
    "OPERATION_ROUTES",
    "AttemptMark",
    "Operation",
    "RequestIdentity",
    "attempt_marks",
    "operations",
    "polls_by_task",
    "request_identity",
    "request_name",
    "unusable",
]

#: The routes whose exchanges form operations.
OPERATION_ROUTES = frozenset({"submit", "poll", "download"})

#: Outcomes after which the client did not get a usable answer: the connection broke, or
#: the body could not be read (`slow_body` arrives whole, only late).
BROKEN_OUTCOMES = frozenset(
    {
        "reset",
        "hang",
        "closed_after_headers",
        "closed_mid_body",
        "truncated_json",
        "malformed_json",
        "empty_body",
    }
)

#: API key (redacted as the journal shows it), method, path, query, canonical body.
RequestIdentity = tuple[str | None, str, str, str, str]

Failed = Callable[[Entry], bool]


def unusable(entry: Entry, broken_outcomes: Collection[str] = BROKEN_OUTCOMES) -> bool:
    """Whether the client had no usable answer: no status line, a broken connection or
    body, or a status outside 2xx and 3xx."""
    if entry.status == 0 or entry.outcome in broken_outcomes:
        return True
    return not 200 <= entry.status < 400


def _canonical_body(entry: Entry) -> str:
    parsed = entry.request_json()
    if parsed is not None:
        return json.dumps(parsed, sort_keys=True, separators=(",", ":"))
    return entry.request_body or ""


def request_identity(entry: Entry) -> RequestIdentity:
    """What makes two exchanges the same request."""
    return (entry.api_key, entry.method, entry.path, entry.query, _canonical_body(entry))


def request_name(entry: Entry) -> str:
    """The request as a person names it: `GET /api/v1/tasks/…?query`."""
    where = f"{entry.path}?{entry.query}" if entry.query else entry.path
    return f"{entry.method} {where}"


@dataclass(frozen=True)
class Operation:
    """One same request and every attempt at it, in the order they began."""

    identity: RequestIdentity
    attempts: tuple[Entry, ...]

    @property
    def route(self) -> str:
        return self.attempts[0].route

    @property
    def name(self) -> str:
        return request_name(self.attempts[0])

    def retries(self, failed: Failed = unusable) -> list[Entry]:
        """The attempts that follow a failed one."""
        return [after for before, after in pairwise(self.attempts) if failed(before)]

    def failure_runs(self, failed: Failed = unusable) -> list[list[Entry]]:
        """Maximal runs of failed attempts, each with the attempt that followed (if any)."""
        runs: list[list[Entry]] = []
        run: list[Entry] = []
        for entry in self.attempts:
            if failed(entry):
                run.append(entry)
                continue
            if run:
                runs.append([*run, entry])
                run = []
        if run:
            runs.append(run)
        return runs


def operations(entries: Iterable[Entry]) -> list[Operation]:
    """The operations among these entries, in the order each began."""
    groups: dict[RequestIdentity, list[Entry]] = defaultdict(list)
    for entry in sorted(entries, key=lambda e: e.seq):
        if entry.route in OPERATION_ROUTES:
            groups[request_identity(entry)].append(entry)
    return [Operation(identity, tuple(group)) for identity, group in groups.items()]


def polls_by_task(entries: Iterable[Entry]) -> dict[str, list[Entry]]:
    """Every poll of each task id, in the order they began."""
    polls: dict[str, list[Entry]] = defaultdict(list)
    for entry in sorted(entries, key=lambda e: e.seq):
        if entry.route == "poll" and entry.task_id:
            polls[entry.task_id].append(entry)
    return dict(polls)


class AttemptMark(NamedTuple):
    """Where one exchange stands in its operation: its attempt `number` of `attempts`,
    the seq of the operation's `first` attempt, and whether it `retries` a failed one."""

    first: int
    number: int
    attempts: int
    retries: bool


def attempt_marks(entries: Iterable[Entry], failed: Failed = unusable) -> dict[int, AttemptMark]:
    """Each operation's exchanges by seq, marked with their place in it: what the failure
    report, the HAR export and the inspector show of the grouping."""
    marks: dict[int, AttemptMark] = {}
    for operation in operations(entries):
        attempts = operation.attempts
        first = attempts[0].seq
        retried = {entry.seq for entry in operation.retries(failed)}
        for number, entry in enumerate(attempts, 1):
            marks[entry.seq] = AttemptMark(first, number, len(attempts), entry.seq in retried)
    return marks
