"""Fast-forward: the code under test sleeps, the mock's clock moves, nobody waits.

While active, `time.sleep` and `asyncio.sleep` called from the test's own thread advance
the mock's manual clock instead of blocking, and `time.time`/`time.monotonic`/
`time.perf_counter` on that thread run ahead by the same amount, so a client that polls
every 10 s with a 5-minute deadline finishes in milliseconds and still sees its deadline
arithmetic work. Other threads (the mock's own server thread included) keep real time:
patching them would make uvicorn's housekeeping loop advance the clock.

Code that imported the functions directly (`from time import sleep`) keeps the originals;
patch those names yourself with the `sleep` method of this object.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

from vidu_lipsync_mock.service.clock import Clock

__all__ = ["FastForward"]

#: The clocks that run ahead on the owning thread by what its sleeps skipped.
_CLOCKS = ("time", "monotonic", "perf_counter")


class FastForward:
    """Patches the time functions on `__enter__` and puts the originals back on `__exit__`."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.offset = 0.0
        self.sleeps: list[float] = []
        self._owner = threading.get_ident()
        self._saved: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _mine(self) -> bool:
        return threading.get_ident() == self._owner

    def sleep(self, seconds: float) -> None:
        """Advance instead of waiting (on the owning thread)."""
        if not self._mine():
            self._saved["sleep"](seconds)
            return
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        with self._lock:
            self.offset += seconds
            self.sleeps.append(seconds)
        if seconds:
            self.clock.advance(seconds)

    def _shifted(self, original: Callable[[], float]) -> Callable[[], float]:
        def now() -> float:
            return original() + (self.offset if self._mine() else 0.0)

        return now

    def _async_sleep(
        self, original: Callable[..., Coroutine[Any, Any, Any]]
    ) -> Callable[..., Coroutine[Any, Any, Any]]:
        async def sleep(delay: float, result: Any = None) -> Any:
            if not self._mine():
                return await original(delay, result)
            self.sleep(delay)
            return await original(0, result)

        return sleep

    def __enter__(self) -> FastForward:
        if self._saved:
            raise RuntimeError("fast-forward is already active")
        self._owner = threading.get_ident()
        self._saved = {name: getattr(time, name) for name in ("sleep", *_CLOCKS)}
        self._saved["asyncio.sleep"] = asyncio.sleep
        time.sleep = self.sleep  # type: ignore[assignment]
        for name in _CLOCKS:
            setattr(time, name, self._shifted(self._saved[name]))
        asyncio.sleep = self._async_sleep(self._saved["asyncio.sleep"])
        return self

    def __exit__(self, *exc_info: object) -> None:
        saved, self._saved = self._saved, {}
        if not saved:
            return
        for name in ("sleep", *_CLOCKS):
            setattr(time, name, saved[name])
        asyncio.sleep = saved["asyncio.sleep"]
