"""Where the task lifecycle gets real lip-sync results: a bounded pool of builders and a cache.

A build takes from milliseconds (a remux) to seconds (re-encoding), far too long for an HTTP
handler, so a task's inputs go to `ResultBuilder.submit` when it is accepted and the future
is collected when it ends; PyAV releases the GIL, so a few threads build in parallel without
starving the server. Clients retry and test suites reuse the same samples, so results are
cached by the inputs' SHA-256 digests (concurrent submits of the same inputs share one
build), bounded by entries and bytes, least recently used first out.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from vidu_lipsync_mock.media.compose import BuiltResult, build_result
from vidu_lipsync_mock.media.probe import (
    MediaRejected,
    MediaSource,
    MediaUnavailable,
    ModelLimits,
)
from vidu_lipsync_mock.service.errors import echo
from vidu_lipsync_mock.service.tasks import default_failure_message

__all__ = [
    "BuildCrashed",
    "CacheStats",
    "InputDigests",
    "ResultBuilder",
    "ResultCache",
    "ResultInputs",
]

T = TypeVar("T")


class BuildCrashed(MediaRejected):
    """A build failed for a reason that is a bug, not a bad input: the task fails with
    `message`, and `trace` is kept so the crash is not lost (the state records it)."""

    def __init__(self, message: str, trace: str) -> None:
        super().__init__(message)
        self.trace = trace


@dataclass(frozen=True)
class InputDigests:
    """The SHA-256 (hex) of each input: the identity of a result."""

    video: str
    audio: str | None
    image: str | None


def _digest(source: MediaSource | None) -> str | None:
    if source is None:
        return None
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    digest = hashlib.sha256()
    with Path(source).open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class ResultInputs:
    """A task's media, fetched: the video, and the replacement audio and face image if given."""

    video: MediaSource
    audio: MediaSource | None = None
    image: MediaSource | None = None

    def digests(self) -> InputDigests:
        video = _digest(self.video)
        assert video is not None
        return InputDigests(video=video, audio=_digest(self.audio), image=_digest(self.image))


@dataclass(frozen=True)
class CacheStats:
    """What the cache holds and how it has done, for memory reports and tests."""

    entries: int
    bytes: int
    max_entries: int
    max_bytes: int
    hits: int
    misses: int
    evictions: int
    held: int = 0


class ResultCache:
    """Built results by input digests, least recently used evicted first.

    A result larger than `max_bytes` on its own is handed back but not kept. An entry that
    tasks `hold` (one count per task whose answer is it) is never evicted until each of them
    `release`s it: the bounds are then a budget that a new result may find full.
    """

    def __init__(self, *, max_entries: int = 64, max_bytes: int = 256 * 2**20) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("a result cache needs room for at least one entry and one byte")
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._results: OrderedDict[InputDigests, BuiltResult] = OrderedDict()
        self._holds: dict[InputDigests, int] = {}
        self._bytes = self._hits = self._misses = self._evictions = 0

    def get(self, key: InputDigests) -> BuiltResult | None:
        with self._lock:
            found = self._results.get(key)
            if found is None:
                self._misses += 1
                return None
            self._results.move_to_end(key)
            self._hits += 1
            return found

    def put(self, key: InputDigests, result: BuiltResult) -> None:
        with self._lock:
            self._put(key, result)

    def _put(self, key: InputDigests, result: BuiltResult) -> bool:
        """Keep `result` (under the lock), evicting entries nobody holds; False when it
        does not fit."""
        size = len(result.data)
        old = self._results.get(key)
        room = self._bytes - (len(old.data) if old is not None else 0)
        free = [k for k in self._results if k != key and k not in self._holds]
        entries = len(self._results) - (old is not None)
        while free and (entries >= self._max_entries or room + size > self._max_bytes):
            evicted = self._results.pop(free.pop(0))
            room -= len(evicted.data)
            entries -= 1
            self._evictions += 1
        if entries >= self._max_entries or room + size > self._max_bytes:
            self._bytes = room + (len(old.data) if old is not None else 0)
            return False
        self._results[key] = result
        self._results.move_to_end(key)
        self._bytes = room + size
        return True

    def hold(self, key: InputDigests, result: BuiltResult) -> bool:
        """Keep `result` for one more task until `release`; False (nothing kept) when the
        entries that tasks hold leave no room for it."""
        with self._lock:
            if key not in self._results and not self._put(key, result):
                return False
            self._holds[key] = self._holds.get(key, 0) + 1
            return True

    def release(self, key: InputDigests) -> None:
        """One task no longer needs the entry; it stays, evictable, as a cache entry."""
        with self._lock:
            left = self._holds.get(key, 0) - 1
            if left > 0:
                self._holds[key] = left
            else:
                self._holds.pop(key, None)

    def held(self, key: InputDigests) -> BuiltResult | None:
        """A held entry, without counting a hit or touching the eviction order."""
        return self._results.get(key)

    def clear(self) -> None:
        with self._lock:
            self._results.clear()
            self._holds.clear()
            self._bytes = 0

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                entries=len(self._results),
                bytes=self._bytes,
                max_entries=self._max_entries,
                max_bytes=self._max_bytes,
                hits=self._hits,
                misses=self._misses,
                evictions=self._evictions,
                held=len(self._holds),
            )


def _yield_cpu() -> None:
    """Lower the builder thread's scheduling priority (Linux: per thread), so that on a busy
    machine the server's event loop gets the CPU first and polls stay quick while a build
    runs. Elsewhere, or when refused, the thread keeps its priority."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


class ResultBuilder:
    """Builds results on at most `max_workers` threads, through a `ResultCache`.

    A future from `submit` gives the `BuiltResult`, or raises `MediaRejected` with the
    failed task's error (any unexpected error becomes one, so a bad input cannot take the
    server down), or `MediaUnavailable` when PyAV is missing.
    """

    def __init__(
        self,
        *,
        max_workers: int = 2,
        cache: ResultCache | None = None,
        limits: ModelLimits | None = None,
    ) -> None:
        self.cache = cache if cache is not None else ResultCache()
        self._limits = limits
        self._pool = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="lipsync", initializer=_yield_cpu
        )
        self._lock = threading.Lock()
        # Builds under way, so a second submit of the same inputs waits for the first.
        self._building: dict[InputDigests, Future[BuiltResult]] = {}

    def submit(self, inputs: ResultInputs) -> Future[BuiltResult]:
        """Start building (digests are computed on the worker, not the caller's thread)."""
        return self._pool.submit(self.build, inputs)

    def run(self, job: Callable[[], T]) -> Future[T]:
        """Run `job` (which fetches inputs, then calls `build`) on the builders' threads."""
        return self._pool.submit(job)

    def build(self, inputs: ResultInputs, key: InputDigests | None = None) -> BuiltResult:
        """The result for `inputs` (whose digests are `key`, when the caller has them),
        built on the calling thread unless cached or under way."""
        key = key or inputs.digests()
        with self._lock:
            cached = self.cache.get(key)
            if cached is not None:
                return cached
            leader = self._building.get(key)
            if leader is None:
                mine: Future[BuiltResult] = Future()
                self._building[key] = mine
        if leader is not None:
            return leader.result()
        try:
            result = self._build(inputs)
        except BaseException as exc:
            mine.set_exception(exc)
            raise
        else:
            self.cache.put(key, result)
            mine.set_result(result)
            return result
        finally:
            with self._lock:
                del self._building[key]

    def _build(self, inputs: ResultInputs) -> BuiltResult:
        try:
            return build_result(inputs.video, inputs.audio, inputs.image, limits=self._limits)
        except (MediaRejected, MediaUnavailable):
            raise
        except Exception as exc:
            message = f"{default_failure_message()} ({echo(repr(exc))})"
            raise BuildCrashed(message, traceback.format_exc()) from exc

    def close(self, *, wait: bool = True) -> None:
        """Stop taking work; with `wait`, finish the builds already started or queued."""
        self._pool.shutdown(wait=wait, cancel_futures=not wait)

    def __enter__(self) -> ResultBuilder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
