"""What the auditor tolerates: the retry rules of the provider's own clients (NOTES.md) as
the defaults of `AuditPolicy`, and every rule id it can report.

Apart from the rules themselves, so a policy can be built and checked (from a
`@pytest.mark.lipsync(audit={...})` dict) before any journal is read.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from vidu_lipsync_mock.journal.attempts import BROKEN_OUTCOMES

__all__ = ["BROKEN_OUTCOMES", "RULES", "TERMINAL_STATUSES", "AuditPolicy", "frozen_strs"]

#: Every rule id the auditor can report, with what it means in one line.
RULES: Mapping[str, str] = {
    "double-submit": "a paid submit repeated after an ambiguous failure, unchecked",
    "retry-non-retryable": "a request repeated after an answer repeating cannot change",
    "ignored-retry-after": "a retry sooner than Retry-After / X-RateLimit-Reset allowed",
    "no-backoff": "three or more retries in a row whose waits do not grow",
    "poll-too-fast": "a running task polled again sooner than min_poll_interval",
    "poll-after-terminal": "a task polled again after it was seen finished",
    "gave-up-early": "a request abandoned after too few retryable failures",
    "never-gave-up": "more than max_attempts retryable failures of one request in a row",
}

TERMINAL_STATUSES = frozenset(
    {"success", "succeeded", "completed", "failed", "error", "canceled", "cancelled"}
)


def _frozen_ints(value: Iterable[int]) -> frozenset[int]:
    return frozenset(int(v) for v in value)


def frozen_strs(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):  # "poll-too-fast" meant as one name, not its letters
        return frozenset({value})
    return frozenset(str(v) for v in value)


@dataclass(frozen=True)
class AuditPolicy:
    """What the auditor tolerates. Every field has a default drawn from the provider's CLI
    and NOTES.md, and can be set from a `@pytest.mark.lipsync(audit={...})` dict, so the
    collection fields take any collection (a list from a marker) and keep a frozenset."""

    #: Seconds of clock time a client should leave between polls of a running task. The
    #: provider's own clients use 5-10 s for video; 2 s is a lenient floor.
    min_poll_interval: float = 2.0
    #: Most retryable failures of one request in a row before the client must give up.
    max_attempts: int = 10
    #: Fewest attempts in a row before abandoning a request after retryable failures.
    min_attempts_before_giving_up: int = 2
    retryable_statuses: Collection[int] = frozenset({429, 500, 502, 503, 504})
    #: The provider's four (400, 401, 402, 404) plus the HTTP-layer refusals the mock can
    #: give (403 expired link, 405, 413, 415, 416): none changes by asking again.
    non_retryable_statuses: Collection[int] = frozenset(
        {400, 401, 402, 403, 404, 405, 413, 415, 416}
    )
    broken_outcomes: Collection[str] = BROKEN_OUTCOMES
    terminal_statuses: Collection[str] = TERMINAL_STATUSES
    #: Seconds by which a retry gap must exceed the previous one to count as growing, and
    #: the slack allowed around a server-directed wait.
    backoff_tolerance: float = 0.1
    #: A retry gap at least this long (seconds) counts as backed off (the CLI's cap).
    backoff_cap: float = 10.0
    #: Slack (seconds) when comparing a retry with Retry-After / X-RateLimit-Reset.
    retry_after_tolerance: float = 0.05
    #: A server-requested wait longer than this (seconds) makes giving up acceptable.
    give_up_wait: float = 15.0
    #: Seconds after a submit during which 404 polls of its task may be repeated.
    not_found_grace: float = 30.0
    #: Rules not to run at all.
    ignore: Collection[str] = frozenset()
    #: Rules to report as warnings instead of errors (so they do not fail an assertion).
    warnings: Collection[str] = frozenset()

    def __post_init__(self) -> None:
        for name in ("retryable_statuses", "non_retryable_statuses"):
            object.__setattr__(self, name, _frozen_ints(getattr(self, name)))
        for name in ("broken_outcomes", "terminal_statuses", "ignore", "warnings"):
            object.__setattr__(self, name, frozen_strs(getattr(self, name)))
        for name in (
            "min_poll_interval",
            "backoff_tolerance",
            "backoff_cap",
            "retry_after_tolerance",
            "give_up_wait",
            "not_found_grace",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"AuditPolicy.{name} must be a number of seconds, not {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"AuditPolicy.{name} must be a finite number >= 0, not {value}")
        for name in ("max_attempts", "min_attempts_before_giving_up"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"AuditPolicy.{name} must be a whole number >= 1, not {value!r}")
        if self.min_attempts_before_giving_up > self.max_attempts:
            raise ValueError(
                "AuditPolicy.min_attempts_before_giving_up must not exceed max_attempts: no "
                "client could satisfy both"
            )
        both = set(self.retryable_statuses) & set(self.non_retryable_statuses)
        if both:
            raise ValueError(
                f"statuses cannot be both retryable and not: {', '.join(map(str, sorted(both)))}"
            )
        unknown = (set(self.ignore) | set(self.warnings)) - RULES.keys()
        if unknown:
            raise ValueError(
                f"unknown audit rule(s) {', '.join(sorted(unknown))}; known: {', '.join(RULES)}"
            )
