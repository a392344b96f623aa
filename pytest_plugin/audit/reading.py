"""Journal entries read under one audit policy: which failed and how, what the server
asked for, which task a submit created, and the words a finding uses for each."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from email.utils import parsedate_to_datetime

from vidu_lipsync_mock.journal.journal import Entry

from .policy import AuditPolicy

__all__ = ["Reader", "header", "listed", "seconds", "seqs"]


def header(entry: Entry, name: str) -> str | None:
    wanted = name.lower()
    for key, value in entry.response_headers.items():
        if key.lower() == wanted:
            return value
    return None


def seconds(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return f"{text} s"


class Reader:
    """Classifies entries under one policy and words them for messages."""

    def __init__(self, entries: Sequence[Entry], policy: AuditPolicy) -> None:
        self.entries = entries
        self.policy = policy
        self.origin = min((e.clock_time for e in entries), default=0.0)

    def at(self, entry: Entry) -> str:
        return f"t=+{seconds(entry.clock_time - self.origin)}"

    def answer(self, entry: Entry) -> str:
        outcome = entry.outcome
        if outcome == "reset" or (entry.status == 0 and outcome not in self.policy.broken_outcomes):
            return "no response: connection reset"
        if outcome == "hang":
            return "no response: the server hung"
        if outcome == "closed_after_headers":
            return f"{entry.status} headers, then the connection closed"
        if outcome == "closed_mid_body":
            return f"{entry.status}, connection closed mid-body"
        if outcome in self.policy.broken_outcomes:
            return f"{entry.status} with a {outcome.replace('_', ' ')} body"
        return str(entry.status)

    def describe(self, entry: Entry) -> str:
        return (
            f"#{entry.seq} {entry.method} {entry.path} at {self.at(entry)} ({self.answer(entry)})"
        )

    def short(self, entry: Entry) -> str:
        return f"#{entry.seq} at {self.at(entry)} ({self.answer(entry)})"

    def broken(self, entry: Entry) -> bool:
        return entry.status == 0 or entry.outcome in self.policy.broken_outcomes

    def retryable(self, entry: Entry) -> bool:
        return self.broken(entry) or entry.status in self.policy.retryable_statuses

    def fatal(self, entry: Entry) -> bool:
        return not self.broken(entry) and entry.status in self.policy.non_retryable_statuses

    def ok(self, entry: Entry) -> bool:
        return not self.broken(entry) and 200 <= entry.status < 400

    def ambiguous_submit(self, entry: Entry) -> bool:
        return entry.route == "submit" and (self.broken(entry) or entry.status >= 500)

    def task_status(self, entry: Entry) -> str | None:
        """`data.status` of a poll the client could read, else None."""
        if not self.ok(entry):
            return None
        document = entry.json()
        if not isinstance(document, dict):
            return None
        data = document.get("data")
        status = data.get("status") if isinstance(data, dict) else None
        return status if isinstance(status, str) else None

    def terminal(self, entry: Entry) -> bool:
        status = self.task_status(entry)
        return status is not None and status.lower() in self.policy.terminal_statuses

    @staticmethod
    def created_task(entry: Entry) -> str | None:
        """The id of the task a submit created, as far as the journal shows, whatever the
        client saw.

        Falls back to the first JSON document of the recorded body: when a fault replaces
        an answer after the service handled it, the journal keeps the real answer in front
        of the one the client got (and leaves `task_id` unset).
        """
        if entry.route != "submit":
            return None
        if entry.task_id:
            return entry.task_id
        if not entry.response_body:
            return None
        try:
            document, _ = json.JSONDecoder().raw_decode(entry.response_body.lstrip())
        except ValueError:
            return None
        data = document.get("data") if isinstance(document, dict) else None
        task_id = data.get("task_id") if isinstance(data, dict) else None
        return task_id if isinstance(task_id, str) and task_id else None

    def created(self, entry: Entry) -> bool:
        """Whether a submit created a task, even when its id was lost with the body.

        A body mangled in transit (truncated, malformed, empty) is recorded with the
        status the service itself answered, so a 2xx there means the task exists.
        """
        if entry.route != "submit":
            return False
        if self.created_task(entry) is not None:
            return True
        return entry.outcome in self.policy.broken_outcomes and 200 <= entry.status < 300

    def wait_until(self, entry: Entry) -> tuple[float, str] | None:
        """The clock time before which the server asked not to be asked again, and why."""
        retry_after = header(entry, "retry-after")
        if retry_after is not None:
            text = retry_after.strip()
            try:
                seconds = float(text)
            except ValueError:
                seconds = math.nan
            if math.isfinite(seconds):
                return entry.clock_time + max(seconds, 0.0), f"Retry-After: {text}"
            try:
                when = parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                when = None
            if when is not None and when.tzinfo is not None:
                return when.timestamp(), f"Retry-After: {text}"
        if entry.status == 429:
            reset = header(entry, "x-ratelimit-reset")
            if reset is not None:
                try:
                    moment = float(reset.strip())
                except ValueError:
                    return None
                if math.isfinite(moment):
                    return moment, f"X-RateLimit-Reset: {reset.strip()}"
        return None


def seqs(entries: Iterable[Entry]) -> tuple[int, ...]:
    return tuple(sorted({e.seq for e in entries}))


def listed(items: Sequence[str]) -> str:
    return "; ".join(items)
