"""Each task's real result, from its submit to its expiry: the lifecycle side of media.

`TaskResults.start` is called on submit. When every input of the task can be read
(`inputs.InputReader.plan`) and PyAV is installed, a job goes to the builders' pool
(`lipsync.ResultBuilder`), which builds the result (or finds it cached) and holds it in
the mock's result budget; otherwise the task gets the bundled sample.

The task's status stays derived from the clock (`service.tasks`); only its end is gated:
the store asks `gate` when a task is about to end. A finished job lets it end (a success,
or a failure with the job's message); a job still running keeps it `processing`, and the
poll that found it so waits for the job (up to `wait_seconds`, off the store's lock). With
a manual clock the result is therefore ready whenever the task says `success`.

Results are released when their task is gone, by a sweep that runs every `SWEEP_EVERY`
builds, when the budget is full and on `stats`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures import wait as wait_for
from dataclasses import dataclass
from typing import Any, Literal

from vidu_lipsync_mock.media.compose import BuiltResult
from vidu_lipsync_mock.media.inputs import InputPlan, InputReader
from vidu_lipsync_mock.media.library import MediaFile, MediaLibrary, ResultMedia
from vidu_lipsync_mock.media.lipsync import (
    BuildCrashed,
    CacheStats,
    InputDigests,
    ResultBuilder,
    ResultCache,
)
from vidu_lipsync_mock.media.probe import (
    FAILED,
    MediaRejected,
    MediaUnavailable,
    ModelLimits,
    media_unavailable_reason,
    probe,
)
from vidu_lipsync_mock.service.registry import ResultSpec
from vidu_lipsync_mock.service.tasks import Outcome, TaskStatus, default_failure_message

__all__ = ["Gate", "TaskResults"]

#: What `gate` answers: end as planned (None), end with this outcome, or not yet ("wait").
Gate = Outcome | Literal["wait"] | None

#: Builds between two sweeps of the results whose tasks are gone.
SWEEP_EVERY = 32


@dataclass(frozen=True)
class _Held:
    """A task's result: the cache key it is held under and how it is served."""

    key: InputDigests | None  # None: kept from before a restart, outside the cache
    result: BuiltResult
    etag: str


class TaskResults:
    """One mock's builds and built results (thread-safe: one lock, never held while a
    callback into the state runs)."""

    def __init__(
        self,
        reader: InputReader,
        library: MediaLibrary,
        *,
        budget_bytes: int,
        wait_seconds: float,
        alive: Callable[[str], bool],
        on_crash: Callable[[str, str], None],
        on_built: Callable[[str, bytes], None] | None = None,
        workers: int = 1,  # a build's Python parts hold the GIL: one keeps polls quick
        limits: ModelLimits | None = None,
    ) -> None:
        self._reader = reader
        self._library = library
        self._budget = budget_bytes
        self.wait_seconds = wait_seconds
        self._alive = alive
        self._on_crash = on_crash
        self._on_built = on_built
        self._workers = workers
        self._limits = limits
        self._lock = threading.Lock()
        self._builder: ResultBuilder | None = None
        self._available: bool | None = None
        self._jobs: dict[str, Future[str | None]] = {}
        self._done: dict[str, _Held] = {}
        self._started = 0
        #: Tasks whose end `gate` held back; read without the lock by the poll's check.
        self.held: set[str] = set()

    # -- submit ------------------------------------------------------------------------

    def start(self, task_id: str, params: Mapping[str, Any]) -> bool:
        """Start building the task's result if its inputs can be read; whether it did."""
        reader = self._reader
        if not reader.outside and not reader.may_read(params.get("video_url")):
            return False  # the common case, on every submit: kept to a string test
        plan = reader.plan(params)
        if plan is None or not self._media_available():
            return False
        with self._lock:
            if self._builder is None:
                self._builder = ResultBuilder(
                    max_workers=self._workers,
                    cache=ResultCache(max_entries=100_000, max_bytes=self._budget),
                    limits=self._limits,
                )
            builder = self._builder
            self._started += 1
            sweep = self._started % SWEEP_EVERY == 0
        self._jobs[task_id] = builder.run(lambda: self._job(task_id, plan, builder))
        if sweep:
            self.sweep()
        return True

    def _media_available(self) -> bool:
        if self._available is None:
            self._available = media_unavailable_reason() is None
        return self._available

    def _job(self, task_id: str, plan: InputPlan, builder: ResultBuilder) -> str | None:
        """Read, build and hold one task's result: None when held, else the task's error
        message. Never raises: whatever goes wrong ends the task, and a bug is recorded."""
        try:
            inputs = self._reader.load(plan)
            key = inputs.digests()
            result = self._library.built(key) if plan.samples_only else None
            if result is None:
                result = builder.build(inputs, key)
                if plan.samples_only:
                    self._library.keep_built(key, result)
            if not builder.cache.hold(key, result):
                self.sweep()
                if not builder.cache.hold(key, result):
                    return (
                        f"{FAILED}: the mock's result storage is full ({self._budget} bytes, "
                        "the result_budget_bytes setting)"
                    )
            held = _Held(key, result, f'"{hashlib.sha256(result.data).hexdigest()[:32]}"')
            with self._lock:
                self._done[task_id] = held
            if self._on_built is not None:
                self._on_built(task_id, result.data)  # a state file keeps it for a restart
            return None
        except BuildCrashed as crash:
            self._on_crash(task_id, crash.trace)
            return crash.message
        except MediaRejected as rejected:
            return rejected.message
        except MediaUnavailable:
            return None  # no result of its own: the task gets the sample
        except Exception:
            self._on_crash(task_id, traceback.format_exc())
            return default_failure_message()

    # -- the task's end ----------------------------------------------------------------

    def gate(self, task_id: str) -> Gate:
        """How a task about to end ends (asked by the store, under its lock: never waits)."""
        job = self._jobs.get(task_id)
        if job is None:
            return None
        if not job.done():
            self.held.add(task_id)
            return "wait"
        self.held.discard(task_id)
        self._jobs.pop(task_id, None)
        message = None if job.cancelled() else job.result()
        return None if message is None else Outcome(TaskStatus.FAILED, message)

    def wait(self, task_id: str) -> None:
        """Wait (at most `wait_seconds`) for the job of a task whose end was held."""
        job = self._jobs.get(task_id)
        if job is not None:
            wait_for([job], timeout=self.wait_seconds)

    def wait_all(self) -> None:
        """Wait (at most `wait_seconds` in all) for every job of a held task."""
        jobs = [job for task_id in list(self.held) if (job := self._jobs.get(task_id))]
        wait_for(jobs, timeout=self.wait_seconds)

    def media(self, task_id: str, spec: ResultSpec) -> ResultMedia | None:
        """The task's own result as the download serves it; None for the bundled sample."""
        held = self._done.get(task_id)
        if held is None:
            return None
        result = held.result
        file = MediaFile(
            name=spec.file_name, data=result.data, content_type=spec.content_type,
            etag=held.etag, mp4=None,
        )  # fmt: skip
        return ResultMedia(
            spec=spec, file=file, width=result.width, height=result.height,
            duration_ms=result.duration_ms,
        )  # fmt: skip

    def adopt(self, task_id: str, data: bytes) -> bool:
        """Serve a result built before a restart (kept by the state file) as the task's
        own, read back as a build reads its output; False when it cannot be read."""
        try:
            info = probe(data, role="result")
        except (MediaRejected, MediaUnavailable):
            return False
        result = BuiltResult(
            data=data, width=info.width, height=info.height, duration_ms=info.duration_ms,
            video_copied=True, audio_copied=True,
        )  # fmt: skip
        etag = f'"{hashlib.sha256(data).hexdigest()[:32]}"'
        with self._lock:
            self._done[task_id] = _Held(None, result, etag)
        return True

    # -- expiry and figures --------------------------------------------------------------

    def sweep(self) -> int:
        """Release the results of tasks that are gone; returns how many went."""
        with self._lock:
            task_ids = list(self._done) + [t for t in self._jobs if t not in self._done]
        gone = [task_id for task_id in task_ids if not self._alive(task_id)]
        with self._lock:
            for task_id in gone:
                self._jobs.pop(task_id, None)
                self.held.discard(task_id)
                held = self._done.pop(task_id, None)
                if held is not None and held.key is not None and self._builder is not None:
                    self._builder.cache.release(held.key)
        return len(gone)

    def stats(self) -> CacheStats | None:
        """The budget's figures after a sweep; None before the first build."""
        self.sweep()
        return None if self._builder is None else self._builder.cache.stats()

    def report(self) -> dict[str, int] | None:
        """`stats` as plain data (the admin API's health report); None before any build."""
        stats = self.stats()
        return None if stats is None else dataclasses.asdict(stats)

    def close(self) -> None:
        """Stop building: queued jobs are dropped, running ones finish on their own."""
        if self._builder is not None:
            self._builder.close(wait=False)
