"""The provider's rate limits, per API key, on the mock's clock.

Requests: a fixed one-minute window (the provider's `X-RateLimit-Reset` is a Unix second at
which the quota refills, which is what a fixed window gives), 100 requests by default.
Concurrency: at most N unfinished tasks per key, checked on submit. Both answer 429 with
the provider's message and headers, and every admitted request gets the same
`X-RateLimit-*` headers so a client can pace itself before it is refused.

The provider documents `X-RateLimit-Reset` and tells clients to respect it; it does not
document `Retry-After`, so a 429 carries one only when the user asks (the
`retry_after_header` setting, or an `error` fault's `retry_after`). The seconds a 429's
message names are always the seconds until `X-RateLimit-Reset`, rounded up: the message
and the headers describe the same window.
"""

from __future__ import annotations

import itertools
import math
import threading
from typing import NamedTuple

from vidu_lipsync_mock.service.errors import ApiError

__all__ = [
    "QUOTA_HEADERS",
    "RateLimiter",
    "Verdict",
    "concurrency_error",
    "rate_limit_error",
    "seconds_until",
    "with_quota",
]

WINDOW_SECONDS = 60.0

#: The quota's headers, in the order answers carry them.
QUOTA_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")

_new_verdict = tuple.__new__  # `Verdict(...)` runs a Python `__new__`; this is one C call


class Verdict(NamedTuple):
    """A key's quota after one request; a tuple, since every admitted request makes one."""

    limit: int
    remaining: int
    reset_at: int
    retry_after: int | None = None

    def headers(self) -> dict[str, str]:
        """The `X-RateLimit-*` headers (and `Retry-After` when refused): the one place they
        are written, for the limiter's 429, an injected 429 and every admitted answer."""
        values = (self.limit, self.remaining, self.reset_at)
        headers = {name: str(value) for name, value in zip(QUOTA_HEADERS, values, strict=True)}
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return headers


def with_quota(error: ApiError, verdict: Verdict | None) -> ApiError:
    """A refusal after admission still carries the quota headers, as every answer does
    (a header the error already has, such as a concurrency 429's `Retry-After`, stays)."""
    if verdict is not None:
        for name, value in verdict.headers().items():
            error.headers.setdefault(name, value)
    return error


def seconds_until(reset_at: int, now: float) -> int:
    """Whole seconds until a window resets, rounded up, at least one."""
    return max(1, math.ceil(reset_at - now))


def rate_limit_error(verdict: Verdict, wait: int | None = None) -> ApiError:
    """The limiter's 429; `wait` (the seconds until the reset) defaults to `retry_after`."""
    seconds = verdict.retry_after if wait is None else wait
    return ApiError(
        429,
        f"Rate limit exceeded: {verdict.limit} requests per minute, retry after {seconds} seconds",
        verdict.headers(),
    )


def concurrency_error(
    limit: int, verdict: Verdict | None, *, retry_after_header: bool = False
) -> ApiError:
    headers = verdict.headers() if verdict is not None else {}
    if retry_after_header:
        headers.setdefault("Retry-After", "5")
    return ApiError(
        429,
        f"Rate limit exceeded: concurrent limit exceeded, at most {limit} tasks in progress",
        headers,
    )


class RateLimiter:
    """Counts requests per key in fixed windows. `limit` 0 turns it off.

    Windows are aligned to the clock (`floor(now / window)`), the same for every key, so
    the counts are one table for the current window, replaced when the next one starts:
    it holds only the keys seen this window, however many keys a long run meets. Each
    count is an `itertools.count`, whose `next` is one C call (atomic under the GIL), so
    counting takes no lock; only starting a window does."""

    def __init__(
        self, limit: int = 100, window: float = WINDOW_SECONDS, *, retry_after_header: bool = False
    ) -> None:
        self.limit = limit
        self.window = window
        self.retry_after_header = retry_after_header
        self._counts: dict[str, itertools.count[int]] = {}
        #: The current window: when it ends (a clock reading) and its `X-RateLimit-Reset`.
        self._window_end = -math.inf
        self._reset_at = 0
        #: Keys with a quota of their own (a magic key, or a test's).
        self.overrides: dict[str, int] = {}
        self._lock = threading.Lock()

    def set_limit(self, api_key: str, limit: int) -> None:
        """A tighter (or looser) quota for one key, as a magic key or a test asks."""
        with self._lock:
            self.overrides[api_key] = limit

    def limit_for(self, api_key: str) -> int:
        return self.overrides.get(api_key, self.limit)

    def admit(self, api_key: str, now: float) -> Verdict | None:
        """Count one request; raise the 429 if over quota. None when limiting is off."""
        limit = self.overrides.get(api_key, self.limit) if self.overrides else self.limit
        if limit <= 0:
            return None
        if now >= self._window_end:  # a new window (the clock never goes back)
            self._next_window(now)
        reset_at = self._reset_at
        counter = self._counts.get(api_key)
        if counter is None:
            counter = self._counts.setdefault(api_key, itertools.count(1))
        used = next(counter)  # this request included
        if used > limit:
            wait = seconds_until(reset_at, now)
            shown = wait if self.retry_after_header else None
            raise rate_limit_error(Verdict(limit, 0, reset_at, shown), wait)
        return _new_verdict(Verdict, (limit, limit - used, reset_at, None))

    def _next_window(self, now: float) -> None:
        """Start the window `now` falls in, with every count at zero."""
        with self._lock:
            if now >= self._window_end:  # (another thread may have started it)
                end = (math.floor(now / self.window) + 1) * self.window
                self._counts = {}
                self._reset_at = int(end)
                self._window_end = end  # last: a thread that sees it finds the rest

    def exhausted(
        self, now: float, retry_after: float | None = None, message: str | None = None
    ) -> ApiError:
        """An injected 429: this limiter's quota (100 when limiting is off) used up until
        the window ends, or for `retry_after` seconds when the fault says so (which also
        adds `Retry-After`); its message names the seconds until the reset."""
        if retry_after is None:
            reset_at = int((now // self.window + 1) * self.window)
            shown = seconds_until(reset_at, now) if self.retry_after_header else None
        else:
            reset_at = math.ceil(now + retry_after)
            shown = math.ceil(retry_after)
        verdict = Verdict(self.limit or 100, 0, reset_at, shown)
        if message:
            return ApiError(429, message, verdict.headers())
        return rate_limit_error(verdict, seconds_until(reset_at, now))
