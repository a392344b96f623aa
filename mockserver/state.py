"""The one object that owns a mock's world: config, clock, models, tasks, media.

In-process use, the standalone server, the admin API and the pytest fixtures all hold a
`MockState`; nothing is global, so two mocks in one process never see each other's tasks.
`reset()` re-runs the same construction as `__init__`, so a reset mock cannot drift from a
new one.
"""

from __future__ import annotations

import random
import string
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .auth import KeyPolicy
from .clock import Clock, clock_from_name
from .config import MockConfig
from .errors import ApiError, model_not_found, task_not_found
from .media import MediaLibrary
from .registry import ModelSpec, Registry
from .tasks import (
    ByClock,
    ByPolls,
    Manual,
    Progression,
    Task,
    TaskSnapshot,
    TaskStatus,
    TaskStore,
    TransitionError,
)
from .wire import ResultMedia

__all__ = ["Crash", "MockState"]

_ID_ALPHABET = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class Crash:
    """An unexpected exception inside the mock, as the client never sees it."""

    method: str
    path: str
    traceback: str


class MockState:
    def __init__(
        self,
        config: MockConfig | None = None,
        *,
        clock: Clock | None = None,
        registry: Registry | None = None,
        media: MediaLibrary | None = None,
    ) -> None:
        self.config = config or MockConfig()
        self._injected_clock = clock
        self.registry = registry or Registry.bundled()
        self.media = media or MediaLibrary()
        self._build()

    def _build(self) -> None:
        config = self.config
        self.clock: Clock = self._injected_clock or clock_from_name(
            config.clock, speed=config.speed
        )
        self.keys = KeyPolicy(config.api_keys)
        self.store = TaskStore(max_tasks=config.max_tasks)
        self.default_progression: Progression = self._progression_from_config()
        self._rng = random.Random(config.seed)
        self._rng_lock = threading.Lock()
        self.crashes: list[Crash] = []

    def record_crash(self, method: str, path: str, trace: str) -> None:
        """Keep a bug of ours that a client saw as a 500, for the test to re-raise."""
        self.crashes.append(Crash(method, path, trace))

    def reset(self) -> None:
        """Forget every task and runtime change; keep the config and an injected clock."""
        self._build()

    def _progression_from_config(self) -> Progression:
        config = self.config
        if config.progression == "polls":
            return ByPolls(config.processing_on_poll, config.terminal_on_poll)
        if config.progression == "manual":
            return Manual()
        return ByClock(config.pending_seconds, config.processing_seconds)

    # -- identity -----------------------------------------------------------------------

    def new_task_id(self) -> str:
        """`task-` and 24 letters/digits; drawn from the seeded generator so that a replay
        with the same seed hands out the same ids."""
        with self._rng_lock:
            body = "".join(self._rng.choice(_ID_ALPHABET) for _ in range(24))
        return f"task-{body}"

    def model(self, model_id: str) -> ModelSpec:
        spec = self.registry.get(model_id)
        if spec is None:
            raise model_not_found(model_id)
        return spec

    def authenticate(self, authorization: str | None) -> str:
        return self.keys.authenticate(authorization)

    # -- the client's operations --------------------------------------------------------

    def submit(
        self,
        model_id: str,
        params: Mapping[str, Any],
        api_key: str,
        *,
        progression: Progression | None = None,
    ) -> TaskSnapshot:
        spec = self.model(model_id)
        spec.validator.validate(params)
        now = self.clock.now()
        task_id = self.new_task_id()
        while task_id in self.store:
            task_id = self.new_task_id()
        task = Task(
            task_id=task_id,
            model_id=spec.model_id,
            api_key=api_key,
            params=dict(params),
            submitted_at=now,
            progression=progression or self.default_progression,
            retention_seconds=self.config.retention_seconds,
        )
        return self.store.add(task, now)

    def poll(self, task_id: str) -> TaskSnapshot:
        """What `GET /api/v1/tasks/{id}` sees; counts as a poll."""
        snapshot = self.store.observe(task_id, self.clock.now(), poll=True)
        if snapshot is None:
            raise task_not_found(task_id)
        return snapshot

    def result_task(self, task_id: str) -> TaskSnapshot:
        """The task whose result file is asked for; 404 unless it succeeded and is kept."""
        snapshot = self.store.observe(task_id, self.clock.now(), poll=False)
        if snapshot is None or snapshot.status is not TaskStatus.SUCCESS:
            raise ApiError(404, f"Resource not found: no result file for task '{task_id}'")
        return snapshot

    def result_media(self) -> ResultMedia:
        video = self.media.result_video()
        info = video.mp4.video if video.mp4 is not None else None
        if info is None:
            raise RuntimeError(f"the result sample {video.name} has no video track")
        return ResultMedia(width=info.width, height=info.height)

    # -- the test's operations ----------------------------------------------------------

    def task(self, task_id: str) -> TaskSnapshot:
        """Look without counting a poll."""
        snapshot = self.store.observe(task_id, self.clock.now(), poll=False)
        if snapshot is None:
            raise task_not_found(task_id)
        return snapshot

    def tasks(self) -> list[TaskSnapshot]:
        return self.store.snapshots(self.clock.now())

    def force(
        self, task_id: str, status: TaskStatus | str, error_message: str | None = None
    ) -> TaskSnapshot:
        """Push one task straight to a status (`processing`, `success` or `failed`)."""
        snapshot = self.store.force(task_id, TaskStatus(status), self.clock.now(), error_message)
        if snapshot is None:
            raise task_not_found(task_id)
        return snapshot

    def set_progression(self, task_id: str, progression: Progression) -> TaskSnapshot:
        snapshot = self.store.set_progression(task_id, progression, self.clock.now())
        if snapshot is None:
            raise task_not_found(task_id)
        return snapshot

    def advance(self, seconds: float) -> float:
        return self.clock.advance(seconds)

    def run_until_terminal(self, task_id: str | None = None, *, limit: float = 86_400.0) -> float:
        """Advance the clock just far enough for one task (or every task) to end.

        Only clock-driven tasks can be moved this way; a task waiting for polls or for a
        push raises `TransitionError`, since no amount of time would finish it.
        """
        now = self.clock.now()
        targets = [self.task(task_id)] if task_id is not None else self.tasks()
        deadline = now
        for snapshot in targets:
            if snapshot.status.terminal:
                continue
            if snapshot.scheduled_end is None:
                raise TransitionError(
                    f"task {snapshot.task_id} progresses by {snapshot.progression['kind']}; "
                    "time alone will not finish it"
                )
            deadline = max(deadline, snapshot.scheduled_end)
        if deadline - now > limit:
            raise TransitionError(
                f"finishing would take {deadline - now:.0f} s of clock time, over the "
                f"{limit:.0f} s limit"
            )
        if deadline > now:
            self.clock.advance(deadline - now)
        return self.clock.now()
