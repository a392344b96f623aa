"""Magic inputs: documented values that force an outcome, for clients you cannot change.

Like a payment provider's test cards, a client that can only send ordinary requests can
still reach every path: put `mock=<scenario>` in the query string or fragment of the
model's magic field (its description names it: `video_url` for the bundled model), or use
one of the magic API keys. Nothing here looks at anything but the request itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from vidu_lipsync_mock.faults import Fault
from vidu_lipsync_mock.service.errors import (
    authentication_failed,
    echo,
    insufficient_balance,
    invalid_parameters,
)

__all__ = [
    "MAGIC_KEYS",
    "MAGIC_KEY_PREFIX",
    "MAGIC_SCENARIOS",
    "field_mentions_mock",
    "key_effect",
    "task_effects_for",
]

#: Scenarios of the magic field: `https://example.com/talk.mp4?mock=fail`.
MAGIC_SCENARIOS: Mapping[str, Fault] = {
    "fail": Fault("task_fail", {"message": "Task failed: no face detected in the video"}),
    "stuck-pending": Fault("task_stuck", {"status": "pending"}),
    "stuck-processing": Fault("task_stuck", {"status": "processing"}),
    "slow": Fault("task_slow", {"factor": 20.0}),
    "not-found-first": Fault("task_not_found", {"polls": 2}),
    "expire-early": Fault("expire_early", {"seconds": 60.0}),
    "result-403": Fault("result_error", {"status": 403}),
    "result-404": Fault("result_error", {"status": 404}),
    "result-500": Fault("result_error", {"status": 500}),
    "result-truncated": Fault("result_truncated"),
    "result-corrupt": Fault("result_corrupt"),
    "result-slow": Fault("result_slow", {"seconds": 3.0}),
}

#: Key prefixes (after `mdlx-`); pad to a well-formed key, e.g. `mdlx-mock401` + 40 zeros.
MAGIC_KEYS: Mapping[str, str] = {
    "mock401": "always 401 Authentication failed",
    "mock402": "always 402 Insufficient balance",
    "mockratelimit": "a rate limit of 5 requests per minute",
}

TIGHT_LIMIT = 5

#: Every magic key starts with this, so ordinary keys are told apart with one comparison.
MAGIC_KEY_PREFIX = "mdlx-mock"


def key_effect(api_key: str) -> int | None:
    """Raise for a refusing magic key; return a per-key rate limit for a limiting one."""
    body = api_key.removeprefix("mdlx-")
    if body.startswith("mock401"):
        raise authentication_failed()
    if body.startswith("mock402"):
        raise insufficient_balance()
    if body.startswith("mockratelimit"):
        return TIGHT_LIMIT
    return None


def _scenarios(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found: list[str] = []
    for text in (parts.query, parts.fragment):
        for name, value in parse_qsl(text):
            if name == "mock":
                found.extend(v for v in value.split(",") if v)
    return found


def field_mentions_mock(params: Mapping[str, Any], field: str | None) -> bool:
    """Whether the body's magic `field` is a string with `mock` in it: the one cheap look
    that tells the few bodies that may name a scenario from the rest."""
    if field is None:
        return False
    url = params.get(field)
    return isinstance(url, str) and "mock" in url


def task_effects_for(params: Mapping[str, Any], field: str | None) -> list[Fault]:
    """Task faults asked for by magic values in the submit body's magic `field`."""
    if field is None or not field_mentions_mock(params, field):
        return []
    url: str = params[field]
    faults = []
    for name in _scenarios(url):
        fault = MAGIC_SCENARIOS.get(name)
        if fault is None:
            known = ", ".join(sorted(MAGIC_SCENARIOS))
            raise invalid_parameters(f"unknown mock scenario '{echo(name)}' ({known})")
        faults.append(fault)
    return faults
