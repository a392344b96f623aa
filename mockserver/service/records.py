"""A task as the store keeps it: one flat tuple of plain values, and the conversions.

The store may hold 200,000 tasks. A tuple of plain values (strings, numbers, None) is
untracked by CPython's garbage collector after its first collection, so the store costs a
full collection almost nothing (docs/performance.md has the numbers). What cannot be a
plain value lives beside the record, keyed by task id: parameters that are not plain, a
result fault, and a progression policy of the user's own (built-in policies are interned
and a record names one by its index). `TaskRecords` turns a record into a `Task` (the
object the lifecycle rules work on), writes a task back, and makes the `TaskSnapshot`
every operation hands out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vidu_lipsync_mock.service.tasks import (
    SUCCESS,
    Outcome,
    Progression,
    Task,
    TaskSnapshot,
    TaskStatus,
)
from vidu_lipsync_mock.service.tasks import progression_view as view_of

__all__ = ["Record", "TaskRecords"]

Record = tuple[Any, ...]

# The fields of a record, in order.
_ID, _MODEL, _KEY, _SUBMITTED, _POLICY, _RETENTION = range(6)
_OUTCOME, _MESSAGE, _ANCHOR, _STATUS, _STARTED, _FINISHED = range(6, 12)
_POLLS, _SINCE_ANCHOR, _HIDDEN, _PARAMS = range(12, 16)  # _PARAMS: see `_plain_params`

#: Parameter values that keep a record plain (a list or an object goes beside it).
_PLAIN = (str, int, float, bool, type(None))

_STATUSES: Mapping[str, TaskStatus] = {status.value: status for status in TaskStatus}
_TERMINAL = frozenset({TaskStatus.SUCCESS.value, TaskStatus.FAILED.value})

#: A record's policy index for a policy kept beside it rather than interned.
_OWN_POLICY = -1

_new = tuple.__new__  # `TaskSnapshot(...)` runs a Python `__new__`; this is one C call


class TaskRecords:
    """The records by task id, what is kept beside them, and the interned policies."""

    #: Distinct built-in policies interned; past this, further ones are kept per task.
    POLICY_LIMIT = 1024

    #: Parameter dicts kept for tasks recently looked at (see `_params_of`).
    PARAMS_SHOWN_LIMIT = 4096

    def __init__(self) -> None:
        self._records: dict[str, Record] = {}
        self._params: dict[str, Mapping[str, Any]] = {}  # only those that are not plain
        self._params_shown: dict[str, dict[str, Any]] = {}
        self._result_faults: dict[str, Any] = {}
        self._own_policies: dict[str, Progression] = {}
        self._policies: list[Progression] = []
        self._views: list[Mapping[str, Any]] = []
        self._policy_index: dict[Progression, int] = {}
        self._last_policy: Progression | None = None
        self._last_index = _OWN_POLICY

    def _policy_ref(self, task_id: str, progression: Progression) -> int:
        """The record's index of a policy, interning it (or keeping it beside the record)."""
        if progression is self._last_policy:  # most tasks share the mock's default policy
            index = self._last_index
        else:
            try:
                index = self._policy_index.get(progression, _OWN_POLICY)
                if index == _OWN_POLICY and len(self._policies) < self.POLICY_LIMIT:
                    index = self._policy_index[progression] = len(self._policies)
                    self._policies.append(progression)
                    self._views.append(view_of(progression))
            except TypeError:  # a policy of the user's that cannot be hashed
                index = _OWN_POLICY
            if index != _OWN_POLICY:
                self._last_policy, self._last_index = progression, index
        if index == _OWN_POLICY:
            self._own_policies[task_id] = progression
        else:
            self._own_policies.pop(task_id, None)
        return index

    def _policy(self, record: Record) -> Progression:
        index: int = record[_POLICY]
        return self._own_policies[record[_ID]] if index == _OWN_POLICY else self._policies[index]

    def _flatten(self, task: Task) -> Record:
        """Write a task back as its record, and return the record."""
        outcome = task.outcome
        record = self._records[task.task_id] = (
            task.task_id, task.model_id, task.api_key, task.submitted_at,
            self._policy_ref(task.task_id, task.progression), task.retention_seconds,
            outcome.status._value_, outcome.error_message,  # `.value` is a slower descriptor
            task.anchor, task.status._value_, task.started_at, task.finished_at,
            task.polls, task.polls_since_anchor, task.hidden_polls,
            *self._plain_params(task.task_id, task.params),
        )  # fmt: skip
        return record

    def _plain_params(self, task_id: str, params: Mapping[str, Any]) -> tuple[Any, ...]:
        """The end of a record: True and the parameters (name, value, name, value...), or
        False with them kept beside it. In the record itself, not a tuple of their own:
        the collector often examines a record before a tuple it holds (so a record holding
        one stays tracked until a second collection, and one in ten reaches the oldest
        generation still tracked, where every full collection walks it); a record of plain
        values is untracked the first time it is seen."""
        flat: list[Any] = [True]
        for name, value in params.items():
            if not isinstance(value, _PLAIN):
                self._params[task_id] = params
                return (False,)
            flat += (name, value)
        self._params.pop(task_id, None)
        return tuple(flat)

    def _params_of(self, record: Record) -> Mapping[str, Any]:
        """The parameters as a dict; the last few thousand made are kept, since a client
        polls the same task again and again."""
        task_id = record[_ID]
        if not record[_PARAMS]:
            return self._params[task_id]
        shown = self._params_shown.get(task_id)
        if shown is None:
            flat = record[_PARAMS + 1 :]
            shown = dict(zip(flat[::2], flat[1::2], strict=True))
            if len(self._params_shown) >= self.PARAMS_SHOWN_LIMIT:
                self._params_shown.clear()
            self._params_shown[task_id] = shown
        return shown

    def _task(self, record: Record) -> Task:
        """The `Task` a record stands for (positional: a keyword call costs twice as much,
        and a poll of an unfinished task makes one)."""
        task_id: str = record[_ID]
        outcome, message = record[_OUTCOME], record[_MESSAGE]
        ends = SUCCESS if message is None and outcome == "success" else None
        return Task(
            task_id, record[_MODEL], record[_KEY], self._params_of(record), record[_SUBMITTED],
            self._policy(record), record[_RETENTION], ends or Outcome(_STATUSES[outcome], message),
            record[_ANCHOR], _STATUSES[record[_STATUS]], record[_STARTED], record[_FINISHED],
            record[_POLLS], record[_SINCE_ANCHOR], record[_HIDDEN],
            self._result_faults.get(task_id),
        )  # fmt: skip

    def _snapshot(self, record: Record, params: Mapping[str, Any] | None = None) -> TaskSnapshot:
        """The one place a `TaskSnapshot` is made: every operation hands out what its
        record says (`params`, when the caller holds them already, saves a lookup)."""
        task_id: str = record[_ID]
        index: int = record[_POLICY]
        policy = self._policies[index] if index != _OWN_POLICY else self._own_policies[task_id]
        view = self._views[index] if index != _OWN_POLICY else view_of(policy)
        status: str = record[_STATUS]
        if status in _TERMINAL:
            expires, message, end = record[_FINISHED] + record[_RETENTION], record[_MESSAGE], None
        else:  # kept from its submit until it ends; no message before its outcome
            expires, message = record[_SUBMITTED] + record[_RETENTION], None
            end = policy.ends_at(record[_ANCHOR])
        return _new(TaskSnapshot, (  # a snapshot is made on every request that looks: one C call
            task_id, record[_MODEL], _STATUSES[status], record[_SUBMITTED], record[_STARTED],
            record[_FINISHED], expires, message, record[_POLLS], record[_KEY],
            self._params_of(record) if params is None else params, view, end, record[_HIDDEN],
            self._result_faults.get(task_id),
        ))  # fmt: skip

    def _expires_at(self, record: Record, now: float) -> float:
        """When a record expires: what `Task.expires_at` would say after a refresh,
        without making the `Task` (a sweep may see thousands)."""
        finished: float | None = record[_FINISHED]
        if record[_STATUS] not in _TERMINAL:
            end = self._policy(record).ends_at(record[_ANCHOR])
            if end is None:  # no schedule to read: ask the policy, through the task
                task = self._task(record)
                task.refresh(now)
                return task.expires_at
            if end <= now:
                finished = max(end, record[_STARTED] or end)  # as `Task.refresh` sets it
        base: float = record[_SUBMITTED] if finished is None else finished
        retention: float = record[_RETENTION]
        return base + retention

    def _forget(self, task_id: str) -> Record | None:
        """Remove a record and what is kept beside it; the record, or None if unknown."""
        record = self._records.pop(task_id, None)
        if record is not None:
            for table in (self._params, self._params_shown, self._result_faults):
                table.pop(task_id, None)
            self._own_policies.pop(task_id, None)
        return record

    def track_tables(self) -> None:
        """Have the collector track the record table even while it is empty (a dict is
        tracked only once it holds a container), so that a `gc.freeze()` now moves it out
        of every later collection's walk: it grows to `max_tasks` records, all plain and
        untracked, yet a full collection of a tracked table visits each one, 11 ms at
        200,000 tasks. It takes part in no cycle, so freezing it loses nothing."""
        self._records[""] = ([],)  # a tracked value: the table is tracked from now on
        del self._records[""]

    def _clear_records(self) -> None:
        for table in (self._records, self._params, self._params_shown, self._result_faults):
            table.clear()
        self._own_policies.clear()
