"""Named chaos profiles: realistic bundles of fault rules, picked by name and seed.

Each profile is plain rule data (the same shape the admin API and TOML take), so a user can
print one, copy it and tune it. Delays are kept short: chaos runs happen inside test suites,
and a long-tailed latency of a few hundred milliseconds already breaks naive timeouts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["PROFILES", "profile_rules"]

PROFILES: Mapping[str, Sequence[Mapping[str, Any]]] = {
    "flaky-network": (
        {"fault": "latency", "median": 0.02, "sigma": 1.0, "max": 0.5, "probability": 0.3},
        {"fault": "reset", "route": "poll", "probability": 0.05},
        {"fault": "close_mid_body", "route": "download", "probability": 0.05},
        {"fault": "error", "status": 502, "probability": 0.03},
        {"fault": "error", "status": 504, "route": "poll", "probability": 0.02},
    ),
    "rate-limit-storm": (
        {"fault": "error", "status": 429, "route": "submit", "probability": 0.5},
        {"fault": "error", "status": 429, "route": "poll", "probability": 0.3},
    ),
    "provider-outage": (
        {"fault": "error", "status": 503, "times": 8},
        {"fault": "error", "status": 500, "route": "poll", "every": 7},
    ),
    "slow-provider": (
        {"fault": "task_slow", "factor": 20.0, "route": "submit"},
        {"fault": "latency", "median": 0.05, "sigma": 0.8, "route": "poll"},
        {"fault": "result_slow", "seconds": 0.5, "route": "submit", "probability": 0.2},
    ),
    "eventual-consistency": ({"fault": "task_not_found", "polls": 2, "route": "submit"},),
    "failing-tasks": (
        {"fault": "task_fail", "route": "submit", "probability": 0.3},
        {"fault": "result_error", "status": 403, "route": "submit", "probability": 0.1},
    ),
    "chaos": (
        {"fault": "error", "status": 500, "route": "submit", "phase": "after", "probability": 0.05},
        {"fault": "error", "status": 503, "probability": 0.05},
        {"fault": "error", "status": 429, "probability": 0.05},
        {"fault": "reset", "route": "poll", "probability": 0.03},
        {"fault": "truncated_json", "route": "poll", "probability": 0.02},
        {"fault": "task_fail", "route": "submit", "probability": 0.1},
        {"fault": "task_not_found", "polls": 1, "route": "submit", "probability": 0.2},
        {"fault": "close_mid_body", "route": "download", "probability": 0.05},
    ),
}


def profile_rules(name: str) -> Sequence[Mapping[str, Any]]:
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; known: {', '.join(sorted(PROFILES))}") from None
