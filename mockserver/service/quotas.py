"""The provider's rate limits, per API key, on the mock's clock.

Requests: a fixed one-minute window (the provider's `X-RateLimit-Reset` is a Unix second at
which the quota refills, which is what a fixed window gives), 100 requests by default.
Concurrency: at most N unfinished tasks per key, checked on submit. Both answer 429 with
the provider's message and headers, and every admitted request gets the same
`X-RateLimit-*` headers so a client can pace itself before it is refused.
"""

from __future__ import annotations

import math
import threading
from typing import NamedTuple

from vidu_lipsync_mock.service.errors import ApiError

__all__ = ["RateLimiter", "Verdict", "concurrency_error", "rate_limit_error", "with_quota"]

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


def rate_limit_error(verdict: Verdict) -> ApiError:
    return ApiError(
        429,
        f"Rate limit exceeded: {verdict.limit} requests per minute, retry after "
        f"{verdict.retry_after} seconds",
        verdict.headers(),
    )


def concurrency_error(limit: int, verdict: Verdict | None) -> ApiError:
    headers = verdict.headers() if verdict is not None else {}
    headers.setdefault("Retry-After", "5")
    return ApiError(
        429,
        f"Rate limit exceeded: concurrent limit exceeded, at most {limit} tasks in progress",
        headers,
    )


class RateLimiter:
    """Counts requests per key in fixed windows. `limit` 0 turns it off."""

    def __init__(self, limit: int = 100, window: float = WINDOW_SECONDS) -> None:
        self.limit = limit
        self.window = window
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
                retry_after = max(1, math.ceil(reset_at - now))
                raise rate_limit_error(Verdict(limit, 0, reset_at, retry_after))
            used += 1
            self._counts[api_key] = (window_start, used)
        return Verdict(limit, limit - used, reset_at)

    def exhausted(self, now: float, retry_after: float | None = None) -> Verdict:
        """The quota an injected 429 shows: this limiter's (100 when limiting is off), used
        up until the window ends, or for `retry_after` seconds when the fault says so."""
        reset_at = int((now // self.window + 1) * self.window)
        wait = retry_after if retry_after is not None else max(1, reset_at - now)
        return Verdict(self.limit or 100, 0, reset_at, int(wait + 0.999))
