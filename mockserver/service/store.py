"""The store of live tasks: thread-safe, bounded, and out of the garbage collector's way.

A store may hold 200,000 tasks. Kept as objects, every one of them is walked by each full
garbage collection, and CPython runs one whenever a quarter more objects have survived
since the last: measured here, 30-80 ms pauses during a run of submits, which is the whole
p99 of a benchmark. So each task is kept as an exact tuple of plain values (strings,
numbers, None). CPython stops tracking such a tuple the first time it survives a
collection, and the collector never looks at it again: with 200,000 tasks a full
collection takes 0.3 ms instead of 34 ms.

The request's parameters are in the record as a tuple of (name, value) pairs when every
value is plain, as a submit's almost always are. What cannot be a plain value lives beside
the record, keyed by task id: other parameters, a result fault, and a progression policy of
the user's own; the built-in policies are interned and a record names one by its index.
An operation turns a record into a `Task` (the working object whose methods hold the
lifecycle rules), applies the rule and flattens it back; a look at a finished task, the
common case, reads and rewrites the record alone.
"""

from __future__ import annotations

import heapq
import threading
from collections import deque
from collections.abc import Mapping
from typing import Any

from vidu_lipsync_mock.service.tasks import (
    SUCCESS,
    Outcome,
    Progression,
    Task,
    TaskSnapshot,
    TaskStatus,
    TransitionError,
)
from vidu_lipsync_mock.service.tasks import progression_view as view_of

__all__ = ["DuplicateTaskId", "TaskStore"]

Record = tuple[Any, ...]

# The fields of a record, in order.
_ID, _MODEL, _KEY, _SUBMITTED, _POLICY, _RETENTION = range(6)
_OUTCOME, _MESSAGE, _ANCHOR, _STATUS, _STARTED, _FINISHED = range(6, 12)
_POLLS, _SINCE_ANCHOR, _HIDDEN, _PARAMS = range(12, 16)

#: Parameter values that keep a record plain (a list or an object goes beside it).
_PLAIN = (str, int, float, bool, type(None))

_STATUSES: Mapping[str, TaskStatus] = {status.value: status for status in TaskStatus}
_TERMINAL = frozenset({TaskStatus.SUCCESS.value, TaskStatus.FAILED.value})

#: A record's policy index for a policy kept beside it rather than interned.
_OWN_POLICY = -1


class DuplicateTaskId(ValueError):
    """A task with this id is already in the store."""


class TaskStore:
    """Every live task, guarded by one lock, bounded in size.

    The test thread (forcing tasks, advancing time) and the server thread (submits and
    polls) touch the store at once; each operation takes the lock once and hands back an
    immutable snapshot.

    Expired records are dropped when looked up and by a sweep on every submit that only
    touches what is due: a heap keyed by the earliest each task could expire (submit time
    plus retention, since a task is kept at least that long). When the store is still full,
    the task that ended first goes (tasks driven by the clock are known to have ended from
    a heap of their scheduled ends; others when they are seen to end), else the oldest
    task. Every step costs the tasks it removes, never the size of the store.
    """

    #: Distinct built-in policies interned; past this, further ones are kept per task.
    POLICY_LIMIT = 1024

    #: Parameter dicts kept for tasks recently looked at (see `_params_of`).
    PARAMS_SHOWN_LIMIT = 4096

    def __init__(self, max_tasks: int = 200_000) -> None:
        if max_tasks < 1:
            raise ValueError("max_tasks must be at least 1")
        self.max_tasks = max_tasks
        self._lock = threading.RLock()
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
        self._expiry: list[tuple[float, str]] = []
        self._endings: list[tuple[float, str]] = []
        self._ended: deque[str] = deque()
        self._order: deque[str] = deque()
        #: Unfinished task ids per key, for the concurrency limit; built on first use (most
        #: mocks never set the limit, and a set of 200,000 ids is not free to keep).
        self._open_by_key: dict[str, set[str]] | None = None
        self.evicted_expired = 0
        self.evicted_for_space = 0

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._records

    # -- records -------------------------------------------------------------------------

    def _policy_ref(self, task_id: str, progression: Progression) -> int:
        if progression is self._last_policy:  # most tasks share the mock's default policy
            self._own_policies.pop(task_id, None)
            return self._last_index
        try:
            index = self._policy_index.get(progression)
        except TypeError:  # a policy of the user's that cannot be hashed
            index = None
        else:
            if index is None and len(self._policies) < self.POLICY_LIMIT:
                index = len(self._policies)
                self._policies.append(progression)
                self._views.append(view_of(progression))
                self._policy_index[progression] = index
            if index is not None:
                self._last_policy, self._last_index = progression, index
        if index is None:
            self._own_policies[task_id] = progression
            return _OWN_POLICY
        self._own_policies.pop(task_id, None)
        return index

    def _policy(self, record: Record) -> Progression:
        index: int = record[_POLICY]
        return self._own_policies[record[_ID]] if index == _OWN_POLICY else self._policies[index]

    def _flatten(self, task: Task) -> Record:
        """Write a task back as its record, and return the record."""
        outcome = task.outcome
        record = self._records[task.task_id] = (
            task.task_id,
            task.model_id,
            task.api_key,
            task.submitted_at,
            self._policy_ref(task.task_id, task.progression),
            task.retention_seconds,
            outcome.status._value_,  # the plain str (`.value` is a slower descriptor)
            outcome.error_message,
            task.anchor,
            task.status._value_,
            task.started_at,
            task.finished_at,
            task.polls,
            task.polls_since_anchor,
            task.hidden_polls,
            self._plain_params(task.task_id, task.params),
        )
        return record

    def _plain_params(self, task_id: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The parameters for the record, or None with them kept beside it."""
        # Flat (name, value, name, value...), not a tuple of pairs: the collector untracks
        # a tuple only once the tuples inside it are, and in no set order, so each level
        # of nesting can cost a collection more before the record is out of its way.
        flat: list[Any] = []
        for name, value in params.items():
            if not isinstance(value, _PLAIN):
                self._params[task_id] = params
                return None
            flat += (name, value)
        self._params.pop(task_id, None)
        return tuple(flat)

    def _params_of(self, record: Record) -> Mapping[str, Any]:
        """The parameters as a dict; the last few thousand made are kept, since a client
        polls the same task again and again (a small dict the collector walks in no time,
        unlike one per stored task)."""
        task_id = record[_ID]
        flat = record[_PARAMS]
        if flat is None:
            return self._params[task_id]
        shown = self._params_shown.get(task_id)
        if shown is None:
            shown = dict(zip(flat[::2], flat[1::2], strict=True))
            if len(self._params_shown) >= self.PARAMS_SHOWN_LIMIT:
                self._params_shown.clear()
            self._params_shown[task_id] = shown
        return shown

    def _task(self, record: Record) -> Task:
        task_id: str = record[_ID]
        outcome = record[_OUTCOME]
        message = record[_MESSAGE]
        ends = SUCCESS if message is None and outcome == "success" else None
        return Task(
            task_id,
            record[_MODEL],
            record[_KEY],
            self._params_of(record),
            record[_SUBMITTED],
            self._policy(record),
            record[_RETENTION],
            ends or Outcome(_STATUSES[outcome], message),
            record[_ANCHOR],
            _STATUSES[record[_STATUS]],
            record[_STARTED],
            record[_FINISHED],
            record[_POLLS],
            record[_SINCE_ANCHOR],
            record[_HIDDEN],
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
        return TaskSnapshot(  # positional: a snapshot is made on every request that looks
            task_id, record[_MODEL], _STATUSES[status], record[_SUBMITTED], record[_STARTED],
            record[_FINISHED], expires, message, record[_POLLS], record[_KEY],
            self._params_of(record) if params is None else params, view, end, record[_HIDDEN],
            self._result_faults.get(task_id),
        )  # fmt: skip

    def _expires_at(self, record: Record, now: float) -> float:
        """When a record expires, worked out from the record: what `Task.expires_at` would
        say after a refresh, without making the `Task` (a sweep may see thousands)."""
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

    def _drop(self, task_id: str) -> None:
        record = self._records.pop(task_id, None)
        if record is None:
            return
        self._params.pop(task_id, None)
        self._params_shown.pop(task_id, None)
        self._result_faults.pop(task_id, None)
        self._own_policies.pop(task_id, None)
        if self._open_by_key is not None:
            ids = self._open_by_key.get(record[_KEY])
            if ids is not None:
                ids.discard(task_id)
                if not ids:
                    del self._open_by_key[record[_KEY]]

    def _ended_now(self, task: Task, now: float) -> None:
        """Note that a task was just seen to end (clock-driven ones are also found from
        the heap of their scheduled ends, without anybody looking)."""
        self._ended.append(task.task_id)

    def _schedule(self, task: Task) -> None:
        end = task.progression.ends_at(task.anchor)
        if end is not None and not task.status.terminal:
            heapq.heappush(self._endings, (end, task.task_id))

    def _live(self, task_id: str, now: float, *, poll: bool = False) -> Task | None:
        """The task brought up to `now`, or None if it is unknown or has just expired;
        `poll` counts a poll first (not on a record that had already expired)."""
        record = self._records.get(task_id)
        if record is None:
            return None
        task = self._task(record)
        if poll and task.expires_at > now:
            task.polls += 1
            task.polls_since_anchor += 1
        was_terminal = task.status.terminal
        task.refresh(now)
        if task.expires_at <= now:
            self._drop(task_id)
            self.evicted_expired += 1
            return None
        if task.status.terminal and not was_terminal:
            self._flatten(task)
            self._ended_now(task, now)
        return task

    def _compact(self) -> None:
        """Forget the ids of tasks that are gone from the orders kept for eviction, once
        they make up most of them: eviction pops them lazily, but a store that never fills
        never evicts."""
        records = self._records
        bound = 2 * len(records) + 1024
        if len(self._order) > bound:
            self._order = deque(task_id for task_id in self._order if task_id in records)
        if len(self._ended) > bound:
            self._ended = deque(task_id for task_id in self._ended if task_id in records)
        if len(self._endings) > bound:
            self._endings = [entry for entry in self._endings if entry[1] in records]
            heapq.heapify(self._endings)

    # -- operations ----------------------------------------------------------------------

    def create(
        self,
        task_id: str,
        model_id: str,
        api_key: str,
        params: Mapping[str, Any],
        now: float,
        progression: Progression,
        retention_seconds: float,
        *,
        outcome: Outcome = SUCCESS,
        hidden_polls: int = 0,
        result_fault: Any = None,
    ) -> TaskSnapshot:
        """A task just submitted (pending, anchored now), written straight into its
        record: a submit needs no `Task` object to apply rules to."""
        with self._lock:
            records = self._records
            expiry, endings = self._expiry, self._endings
            if (
                task_id in records
                or len(records) >= self.max_tasks
                or (expiry and expiry[0][0] <= now)
                or (endings and endings[0][0] <= now)
            ):
                self._make_room(task_id, now)
            if progression is self._last_policy:  # most tasks share the default policy
                index = self._last_index
            else:
                index = self._policy_ref(task_id, progression)
            record = records[task_id] = (
                task_id, model_id, api_key, now, index, retention_seconds,
                outcome.status._value_, outcome.error_message, now, "pending", None, None, 0, 0,
                hidden_polls, self._plain_params(task_id, params),
            )  # fmt: skip
            self._file(task_id, api_key, result_fault, now + retention_seconds)
            snapshot = self._snapshot(record, params)
            end = snapshot.scheduled_end
            if end is not None:
                heapq.heappush(endings, (end, task_id))
            return snapshot

    def _make_room(self, task_id: str, now: float) -> None:
        if task_id in self._records:
            raise DuplicateTaskId(f"duplicate task id {task_id}")
        expiry, endings = self._expiry, self._endings
        if (expiry and expiry[0][0] <= now) or (endings and endings[0][0] <= now):
            self.sweep(now)
        if len(self._records) >= self.max_tasks:
            self._evict_for_space(now)

    def _file(
        self,
        task_id: str,
        api_key: str,
        result_fault: Any,
        earliest_expiry: float,
    ) -> None:
        """What goes beside a new record."""
        heapq.heappush(self._expiry, (earliest_expiry, task_id))
        if result_fault is not None:
            self._result_faults[task_id] = result_fault
        self._order.append(task_id)
        if self._open_by_key is not None:
            self._open_by_key.setdefault(api_key, set()).add(task_id)

    def observe(self, task_id: str, now: float, *, poll: bool) -> TaskSnapshot | None:
        """Look at a task as a client would; `poll=True` counts the look as a poll."""
        with self._lock:
            record = self._records.get(task_id)
            if record is None:
                return None
            if record[_STATUS] in _TERMINAL:  # nothing left to derive: the record suffices
                if record[_FINISHED] + record[_RETENTION] <= now:
                    self._drop(task_id)
                    self.evicted_expired += 1
                    return None
                if poll:
                    record = (
                        *record[:_POLLS], record[_POLLS] + 1, record[_SINCE_ANCHOR] + 1,
                        *record[_HIDDEN:],
                    )  # fmt: skip
                    self._records[task_id] = record
                return self._snapshot(record)
            task = self._live(task_id, now, poll=poll)
            if task is None:
                return None
            return self._snapshot(self._flatten(task))

    def force(
        self, task_id: str, status: TaskStatus, now: float, error_message: str | None = None
    ) -> TaskSnapshot | None:
        with self._lock:
            task = self._live(task_id, now)
            if task is None:
                return None
            was_terminal = task.status.terminal
            task.force(status, now, error_message)
            record = self._flatten(task)
            if task.status.terminal and not was_terminal:
                self._ended_now(task, now)
            return self._snapshot(record)

    def set_progression(
        self, task_id: str, progression: Progression, now: float
    ) -> TaskSnapshot | None:
        """Give an unfinished task a new policy, counted from now."""
        with self._lock:
            task = self._live(task_id, now)
            if task is None:
                return None
            if task.status.terminal:
                self._flatten(task)
                raise TransitionError(f"task {task_id} already ended; its progression is final")
            task.use_progression(progression, now)
            task.refresh(now)
            record = self._flatten(task)
            if task.status.terminal:
                self._ended_now(task, now)
            else:
                self._schedule(task)
            return self._snapshot(record)

    def unfinished_count(self, api_key: str, now: float) -> int:
        """Tasks of one key still pending or processing (for the concurrency limit)."""
        with self._lock:
            return len(self._prune_open(api_key, now))

    def _prune_open(self, api_key: str, now: float) -> set[str]:
        """The key's unfinished task ids, dropping those that ended or are gone; the index
        keeps this O(unfinished tasks of the key), not O(all tasks)."""
        if self._open_by_key is None:
            index: dict[str, set[str]] = {}
            for kept in self._records.values():
                if kept[_STATUS] not in _TERMINAL:
                    index.setdefault(kept[_KEY], set()).add(kept[_ID])
            self._open_by_key = index
        ids = self._open_by_key.get(api_key, set())
        for task_id in list(ids):
            record = self._records.get(task_id)
            if record is not None and record[_STATUS] not in _TERMINAL:
                task = self._live(task_id, now)
                if task is not None:
                    self._flatten(task)
                    if not task.status.terminal:
                        continue
            ids.discard(task_id)
        if not ids:
            self._open_by_key.pop(api_key, None)
        return ids

    def snapshots(self, now: float) -> list[TaskSnapshot]:
        with self._lock:
            self.sweep(now)
            snapshots = []
            for task_id in list(self._records):
                task = self._live(task_id, now)
                if task is not None:
                    snapshots.append(self._snapshot(self._flatten(task)))
            return snapshots

    def sweep(self, now: float) -> int:
        """Drop expired records; returns how many went."""
        gone = 0
        with self._lock:
            heap = self._expiry
            records = self._records
            while heap and heap[0][0] <= now:
                _, task_id = heapq.heappop(heap)
                record = records.get(task_id)
                if record is None:
                    continue  # already dropped (looked up after expiry, or evicted)
                expires = self._expires_at(record, now)
                if expires <= now:
                    self._drop(task_id)
                    self.evicted_expired += 1
                    gone += 1
                else:  # it finished, so it is kept longer: look again when that is due
                    heapq.heappush(heap, (expires, task_id))
            if gone:
                self._compact()  # let go of the ids of what just went
            return gone

    def _evict_for_space(self, now: float) -> None:
        """Drop one task: one that has ended (the earliest scheduled end that has passed,
        else the first seen to end), else the oldest. Pops only as far as it must."""
        records = self._records
        endings = self._endings
        while endings and endings[0][0] <= now:
            _, task_id = heapq.heappop(endings)
            record = records.get(task_id)
            if record is None:
                continue
            if record[_STATUS] not in _TERMINAL:
                task = self._live(task_id, now)
                if task is None:  # it had expired: that made the room
                    return
                self._flatten(task)
                if not task.status.terminal:
                    continue  # its policy changed since: not ended after all
            self._drop(task_id)
            self.evicted_for_space += 1
            return
        while self._ended:
            task_id = self._ended.popleft()
            record = records.get(task_id)
            if record is not None and record[_STATUS] in _TERMINAL:
                self._drop(task_id)
                self.evicted_for_space += 1
                return
        while self._order:
            task_id = self._order.popleft()
            if task_id in records:
                self._drop(task_id)
                self.evicted_for_space += 1
                return

    def clear(self) -> None:
        with self._lock:
            self._params_shown.clear()
            for table in (self._records, self._params, self._result_faults, self._own_policies):
                table.clear()
            self._open_by_key = None
            self._expiry.clear()
            self._endings.clear()
            self._ended.clear()
            self._order.clear()
