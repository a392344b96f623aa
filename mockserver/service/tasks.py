"""Tasks: their statuses, how they progress, and the lifecycle rules.

A task's status is never pushed by a background thread: it is *derived* from the clock (or
from the number of polls) whenever somebody looks, and the first time a later status is
seen it is written down with the time it was reached. That keeps three promises at once:
virtual time works (advance the clock, the status follows), a status never moves backwards,
and `end_time` does not drift between two polls.
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import Enum
from types import MappingProxyType
from typing import Any, NamedTuple

__all__ = [
    "ByClock",
    "ByPolls",
    "Manual",
    "Outcome",
    "Progression",
    "Task",
    "TaskSnapshot",
    "TaskStatus",
    "TransitionError",
    "default_failure_message",
    "progression_from_name",
    "progression_view",
]


class TaskStatus(str, Enum):
    PENDING = "pending"
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self is _SUCCESS or self is _FAILED

    @property
    def rank(self) -> int:
        """Order along the lifecycle; both terminal states share the last rank."""
        return {"pending": 0, "processing": 1}.get(self.value, 2)

    @classmethod
    def parse(cls, value: TaskStatus | str, where: str) -> TaskStatus:
        """A status word, or a `ValueError` that names the ones `where` takes."""
        for status in cls:
            if status == value:
                return status
        words = ", ".join(repr(s.value) for s in cls)
        raise ValueError(
            f"{value!r} is not a valid TaskStatus: {where} takes {words} (a task starts "
            "'pending', the provider's queued state, and ends 'success' or 'failed')"
        )


_SUCCESS, _FAILED = TaskStatus.SUCCESS, TaskStatus.FAILED


class TransitionError(ValueError):
    """A requested status change that the lifecycle does not allow."""


@dataclass(frozen=True)
class Outcome:
    """How a task ends once its progression lets it end."""

    status: TaskStatus = TaskStatus.SUCCESS
    error_message: str | None = None

    def __post_init__(self) -> None:
        if not self.status.terminal:
            raise ValueError(f"an outcome must be terminal, not {self.status.value!r}")


SUCCESS = Outcome()


class Progression(ABC):
    """When a task reaches `processing` and when it reaches its outcome.

    `reached` answers with the time each stage was reached, or None if it has not been:
    the store writes the first answer down, so a policy needs no memory of its own.
    """

    name: str = "abstract"

    @abstractmethod
    def reached(self, anchor: float, polls: int, now: float) -> tuple[float | None, float | None]:
        """(time processing began, time the task ended), each None while not yet reached."""

    def describe(self) -> dict[str, Any]:
        """Plain data for the admin API and the journal: the policy's name and its fields."""
        return {"kind": self.name, **vars(self)}

    def ends_at(self, anchor: float) -> float | None:
        """When the task will end if left alone, if time alone decides that."""
        return None


@dataclass(frozen=True)
class ByClock(Progression):
    """The default: pending for a while, processing for a while, then done."""

    pending_seconds: float = 1.0
    processing_seconds: float = 2.0
    name = "clock"

    def __post_init__(self) -> None:
        if self.pending_seconds < 0 or self.processing_seconds < 0:
            raise ValueError("lifecycle timings must not be negative")

    def reached(self, anchor: float, polls: int, now: float) -> tuple[float | None, float | None]:
        started = anchor + self.pending_seconds
        ended = started + self.processing_seconds
        return (
            started if started <= now else None,
            ended if ended <= now and math.isfinite(ended) else None,
        )

    def ends_at(self, anchor: float) -> float | None:
        end = anchor + self.pending_seconds + self.processing_seconds
        return end if math.isfinite(end) else None


@dataclass(frozen=True)
class ByPolls(Progression):
    """moto's state-manager style: the Nth poll moves the task on, whatever the time."""

    processing_on: int = 2
    terminal_on: int = 4
    name = "polls"

    def __post_init__(self) -> None:
        if not 1 <= self.processing_on <= self.terminal_on:
            raise ValueError("need 1 <= processing_on <= terminal_on")

    def reached(self, anchor: float, polls: int, now: float) -> tuple[float | None, float | None]:
        return (
            now if polls >= self.processing_on else None,
            now if polls >= self.terminal_on else None,
        )


@dataclass(frozen=True)
class Manual(Progression):
    """Nothing happens until the test pushes the task."""

    name = "manual"

    def reached(self, anchor: float, polls: int, now: float) -> tuple[float | None, float | None]:
        return (None, None)


def progression_view(progression: Progression) -> Mapping[str, Any]:
    """`describe()` as a read-only mapping, made once per distinct policy: most tasks share
    the default one, and every snapshot carries it."""
    try:
        return _shared_view(progression)
    except TypeError:  # a policy of the user's that cannot be hashed
        return MappingProxyType(progression.describe())


@functools.lru_cache(maxsize=1024)
def _shared_view(progression: Progression) -> Mapping[str, Any]:
    return MappingProxyType(progression.describe())


_POLICIES: Mapping[str, type[ByClock | ByPolls | Manual]] = {
    policy.name: policy for policy in (ByClock, ByPolls, Manual)
}


def progression_from_name(kind: str, **options: Any) -> Progression:
    """Build a policy from configuration or admin-API words; a `ValueError` names what
    each one takes."""
    policy = _POLICIES.get(kind)
    if policy is None:
        raise ValueError(f"unknown progression {kind!r}: expected 'clock', 'polls' or 'manual'")
    takes = [f.name for f in fields(policy)]
    unknown = sorted(set(options) - set(takes))
    if unknown:
        accepted = ", ".join(takes) or "no options"
        raise ValueError(f"the {kind} progression takes {accepted}; not {', '.join(unknown)}")
    return policy(**options)


class TaskSnapshot(NamedTuple):
    """A consistent, immutable view of one task at one moment, safe to hand across threads
    (a named tuple: one is made on every poll, and a tuple is the cheapest to build)."""

    task_id: str
    model_id: str
    status: TaskStatus
    submitted_at: float
    started_at: float | None
    finished_at: float | None
    expires_at: float
    error_message: str | None
    polls: int
    api_key: str
    params: Mapping[str, Any]
    progression: Mapping[str, Any]
    scheduled_end: float | None
    hidden_polls: int = 0
    result_fault: Any = None

    @property
    def hidden(self) -> bool:
        """Still invisible to polls (an eventual-consistency fault): the poll answers 404."""
        return self.polls <= self.hidden_polls

    @property
    def duration_ms(self) -> int | None:
        finished = self.finished_at
        return None if finished is None else round((finished - self.submitted_at) * 1000)

    @property
    def result_expires_at(self) -> float | None:
        return self.expires_at if self.status is TaskStatus.SUCCESS else None


@dataclass(eq=False, slots=True)
class Task:
    """A task as the lifecycle rules work on it: the store keeps flat records (`records`),
    makes one of these only to apply a rule, and hands out `TaskSnapshot`s."""

    task_id: str
    model_id: str
    api_key: str
    params: Mapping[str, Any]
    submitted_at: float
    progression: Progression
    retention_seconds: float
    outcome: Outcome = SUCCESS
    anchor: float = field(default=math.nan)
    status: TaskStatus = TaskStatus.PENDING
    started_at: float | None = None
    finished_at: float | None = None
    polls: int = 0
    polls_since_anchor: int = 0
    hidden_polls: int = 0
    result_fault: Any = None

    def __post_init__(self) -> None:
        if self.anchor != self.anchor:  # NaN: not given
            self.anchor = self.submitted_at

    def use_progression(self, progression: Progression, now: float) -> None:
        """Follow a new policy, counted from now."""
        self.progression = progression
        self.anchor = now
        self.polls_since_anchor = 0

    @property
    def expires_at(self) -> float:
        """Records are kept for the retention period after the task ends (or, if it never
        ends, after it was submitted), which also bounds memory for stuck tasks."""
        end = self.submitted_at if self.finished_at is None else self.finished_at
        return end + self.retention_seconds

    def refresh(self, now: float) -> None:
        if self.status.terminal:
            return
        started, ended = self.progression.reached(self.anchor, self.polls_since_anchor, now)
        if self.status is TaskStatus.PENDING and (started is not None or ended is not None):
            self.status = TaskStatus.PROCESSING
            self.started_at = started if started is not None else ended
        if ended is not None:
            self.status = self.outcome.status
            self.finished_at = max(ended, self.started_at or ended)

    def force(self, status: TaskStatus, now: float, error_message: str | None) -> None:
        if self.status.terminal:
            raise TransitionError(
                f"task {self.task_id} already ended as {self.status.value}; it cannot change"
            )
        if status.rank < self.status.rank or status is self.status:
            raise TransitionError(
                f"task {self.task_id} is {self.status.value}; it cannot move to {status.value}"
            )
        if status is TaskStatus.PROCESSING:
            self.status = status
            self.started_at = now
            return
        if self.started_at is None:
            self.started_at = now
        self.outcome = SUCCESS
        if status is TaskStatus.FAILED:
            self.outcome = Outcome(status, error_message or default_failure_message())
        self.status = status
        self.finished_at = now


def default_failure_message() -> str:
    return "Task failed: the model could not process the input"
