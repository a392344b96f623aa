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

import math
import threading
from typing import NamedTuple

from vidu_lipsync_mock.service.errors import ApiError

__all__ = [
    "RateLimiter",
    "Verdict",
    "concurrency_error",
    "rate_limit_error",
    "seconds_until",
    "with_quota",
]

WINDOW_SECONDS = 60.0


class Verdict(NamedTuple):
    """A key's quota after one request; a tuple, since every admitted request makes one."""

    limit: int
    remaining: int
    reset_at: int
    retry_after: int | None = None

    def headers(self) -> dict[str, str]:
        """The `X-RateLimit-*` headers (and `Retry-After` when refused): the one place they
        are written, for the limiter's 429, an injected 429 and every admitted answer."""
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_at),
        }
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
    """Counts requests per key in fixed windows. `limit` 0 turns it off."""

    def __init__(
        self, limit: int = 100, window: float = WINDOW_SECONDS, *, retry_after_header: bool = False
    ) -> None:
        self.limit = limit
        self.window = window
        self.retry_after_header = retry_after_header
        self._counts: dict[str, tuple[float, int]] = {}
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
        limit = self.limit_for(api_key)
        if limit <= 0:
            return None
        window_start = math.floor(now / self.window) * self.window
        reset_at = int(window_start + self.window)
        with self._lock:
            start, used = self._counts.get(api_key, (window_start, 0))
            if start != window_start:
                used = 0
            if used >= limit:
                self._counts[api_key] = (window_start, used)
                wait = seconds_until(reset_at, now)
                shown = wait if self.retry_after_header else None
                raise rate_limit_error(Verdict(limit, 0, reset_at, shown), wait)
            used += 1
            self._counts[api_key] = (window_start, used)
        return Verdict(limit, limit - used, reset_at)

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
