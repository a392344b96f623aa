"""The store of live tasks: thread-safe, bounded, and quick to evict.

The test thread (forcing tasks, advancing time) and the server thread (submits and polls)
touch the store at once, and a long run must not grow without bound; the records
themselves, and why they are flat tuples, are in `records`.
"""

from __future__ import annotations

import heapq
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from vidu_lipsync_mock.service.records import (
    _FINISHED,
    _HIDDEN,
    _ID,
    _KEY,
    _POLLS,
    _RETENTION,
    _SINCE_ANCHOR,
    _STATUS,
    _TERMINAL,
    TaskRecords,
)
from vidu_lipsync_mock.service.tasks import (
    SUCCESS,
    Outcome,
    Progression,
    Task,
    TaskSnapshot,
    TaskStatus,
    TransitionError,
)

#: A record's status once its task succeeded (what an evicted task's hold is settled by).
_SUCCEEDED = TaskStatus.SUCCESS.value

__all__ = ["DuplicateTaskId", "EndGate", "TaskStore"]

#: Asked, under the store's lock, when a task is about to end: None lets it end as planned,
#: an `Outcome` ends it that way instead, "wait" keeps it processing for now (its real
#: result is still being built: `media.results`). It must answer at once.
EndGate = Callable[[str], Outcome | Literal["wait"] | None]


class DuplicateTaskId(ValueError):
    """A task with this id is already in the store."""


class TaskStore(TaskRecords):
    """Every live task, guarded by one lock, bounded in size; each operation takes the lock
    once and hands back an immutable snapshot.

    Expired records are dropped when looked up and by a sweep on every submit that only
    touches what is due: a heap keyed by the earliest each task could expire (submit time
    plus retention). When the store is still full, the task that ended first goes (tasks
    driven by the clock are known to have ended from a heap of their scheduled ends; others
    when they are seen to end), else the oldest task. Every step costs the tasks it removes,
    never the size of the store.
    """

    def __init__(self, max_tasks: int = 200_000) -> None:
        if max_tasks < 1:
            raise ValueError("max_tasks must be at least 1")
        super().__init__()
        self.max_tasks = max_tasks
        self._lock = threading.RLock()
        self._expiry: list[tuple[float, str]] = []
        self._endings: list[tuple[float, str]] = []
        self._ended: deque[str] = deque()
        self._order: deque[str] = deque()
        #: Unfinished task ids per key, for the concurrency limit; built on first use.
        self._open_by_key: dict[str, set[str]] | None = None
        self.evicted_expired = 0
        self.evicted_for_space = 0
        self.end_gate: EndGate | None = None
        #: Told (outside the store's lock) of each task dropped to make room, and whether
        #: it had succeeded, so what it held is settled at once (`Accounts.conclude`).
        self.on_dropped: Callable[[str, bool], None] | None = None

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._records

    def _drop(self, task_id: str) -> None:
        record = self._forget(task_id)
        if record is not None and self._open_by_key is not None:
            ids = self._open_by_key.get(record[_KEY])
            if ids is not None:
                ids.discard(task_id)
                if not ids:
                    del self._open_by_key[record[_KEY]]

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
        self._refresh(task, now)
        if task.expires_at <= now:
            self._drop(task_id)
            self.evicted_expired += 1
            return None
        if task.status.terminal and not was_terminal:
            self._flatten(task)
            self._ended.append(task_id)
        return task

    def _refresh(self, task: Task, now: float) -> None:
        """`Task.refresh`, and the `end_gate`'s word on a task that just ended."""
        was_terminal = task.status.terminal
        task.refresh(now)
        gate = self.end_gate
        if gate is None or was_terminal or not task.status.terminal:
            return
        decided = gate(task.task_id)
        if decided == "wait":
            task.status, task.finished_at = TaskStatus.PROCESSING, None
        elif decided is not None:
            task.outcome, task.status = decided, decided.status

    def _has_ended(self, task_id: str, now: float) -> bool | None:
        """Whether a task has ended by `now`, written down if so; None if it is unknown or
        has just expired."""
        record = self._records.get(task_id)
        if record is None or record[_STATUS] in _TERMINAL:
            return None if record is None else True
        task = self._live(task_id, now)
        if task is None:
            return None
        self._flatten(task)
        return task.status.terminal

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
        dropped: list[tuple[str, bool]] = []
        with self._lock:
            records = self._records
            expiry, endings = self._expiry, self._endings
            if (
                task_id in records
                or len(records) >= self.max_tasks
                or (expiry and expiry[0][0] <= now)
                or (endings and endings[0][0] <= now)
            ):
                self._make_room(task_id, now, dropped)
            if progression is self._last_policy:  # most tasks share the default policy
                index = self._last_index
            else:
                index = self._policy_ref(task_id, progression)
            record = records[task_id] = (
                task_id, model_id, api_key, now, index, retention_seconds,
                outcome.status._value_, outcome.error_message, now, "pending", None, None, 0, 0,
                hidden_polls, *self._plain_params(task_id, params),
            )  # fmt: skip
            heapq.heappush(expiry, (now + retention_seconds, task_id))
            if result_fault is not None:
                self._result_faults[task_id] = result_fault
            self._order.append(task_id)
            if self._open_by_key is not None:
                self._open_by_key.setdefault(api_key, set()).add(task_id)
            snapshot = self._snapshot(record, params)
            end = snapshot.scheduled_end
            if end is not None:
                heapq.heappush(endings, (end, task_id))
        if dropped and self.on_dropped is not None:
            for gone, succeeded in dropped:
                self.on_dropped(gone, succeeded)
        return snapshot

    def _make_room(self, task_id: str, now: float, dropped: list[tuple[str, bool]]) -> None:
        if task_id in self._records:
            raise DuplicateTaskId(f"duplicate task id {task_id}")
        expiry, endings = self._expiry, self._endings
        if (expiry and expiry[0][0] <= now) or (endings and endings[0][0] <= now):
            self.sweep(now)
        if len(self._records) >= self.max_tasks:
            self._evict_for_space(now, dropped)

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
            return None if task is None else self._snapshot(self._flatten(task))

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
                self._ended.append(task_id)
            return self._snapshot(record)

    def delete(self, task_id: str) -> bool:
        """Forget one task now; False if it is unknown."""
        with self._lock:
            if task_id not in self._records:
                return False
            self._drop(task_id)
            return True

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
            self._refresh(task, now)
            record = self._flatten(task)
            if task.status.terminal:
                self._ended.append(task_id)
            else:
                self._schedule(task)
            return self._snapshot(record)

    def saved_task(self, task_id: str) -> Task | None:
        """A task as recorded, not brought up to date: what a state file writes."""
        with self._lock:
            record = self._records.get(task_id)
            return None if record is None else self._task(record)

    def restore(self, tasks: Iterable[Task]) -> None:
        """Put back tasks a state file kept, oldest first, as they were recorded; their
        statuses are derived from the clock from here on, as every task's are."""
        with self._lock:
            for task in tasks:
                task_id = task.task_id
                if task_id in self._records:
                    continue
                self._flatten(task)
                if task.result_fault is not None:
                    self._result_faults[task_id] = task.result_fault
                self._expiry.append((task.expires_at, task_id))
                self._order.append(task_id)
                if task.status.terminal:
                    self._ended.append(task_id)
                self._schedule(task)
            heapq.heapify(self._expiry)
            self._open_by_key = None

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
            if self._has_ended(task_id, now) is not False:
                ids.discard(task_id)
        if not ids:
            self._open_by_key.pop(api_key, None)
        return ids

    def snapshots(self, now: float) -> list[TaskSnapshot]:
        with self._lock:
            self.sweep(now)
            tasks = [self._live(task_id, now) for task_id in list(self._records)]
            return [self._snapshot(self._flatten(task)) for task in tasks if task is not None]

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

    def _evict_for_space(self, now: float, dropped: list[tuple[str, bool]]) -> None:
        """Drop one task, in the order the class docstring gives (pops only as far as it
        must); `dropped` gets it and whether it had succeeded."""
        records = self._records
        endings = self._endings
        while endings and endings[0][0] <= now:
            _, task_id = heapq.heappop(endings)
            if task_id not in records:
                continue
            ended = self._has_ended(task_id, now)
            if ended is None:  # it had expired: that made the room
                return
            if ended:  # (else its policy changed since: not ended after all)
                return self._evict(task_id, dropped)
        while self._ended:
            task_id = self._ended.popleft()
            record = records.get(task_id)
            if record is not None and record[_STATUS] in _TERMINAL:
                return self._evict(task_id, dropped)
        while self._order:
            task_id = self._order.popleft()
            if task_id in records:
                return self._evict(task_id, dropped)

    def _evict(self, task_id: str, dropped: list[tuple[str, bool]]) -> None:
        dropped.append((task_id, self._records[task_id][_STATUS] == _SUCCEEDED))
        self._drop(task_id)
        self.evicted_for_space += 1

    def clear(self) -> None:
        with self._lock:
            self._clear_records()
            self._open_by_key = None
            for kept in (self._expiry, self._endings, self._ended, self._order):
                kept.clear()
