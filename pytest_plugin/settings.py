"""How one test's mock is configured: options, ini keys and the `lipsync` marker.

One table (`OPTIONS`) declares every knob once; `plugin.py` turns it into `--lipsync-*`
flags and `lipsync_*` ini keys, and `resolve_settings` merges them with the marker
(precedence: marker, then command line, then ini, then the plugin's defaults).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from vidu_lipsync_mock import MockConfig

__all__ = ["MARKER", "OPTIONS", "OptionSpec", "TestSettings", "resolve_settings"]

MARKER = "lipsync"


@dataclass(frozen=True)
class OptionSpec:
    kind: type
    help: str


OPTIONS: Mapping[str, OptionSpec] = {
    "profile": OptionSpec(str, "chaos profile loaded into every mock (e.g. flaky-network)"),
    "seed": OptionSpec(int, "run seed for task ids and fault draws (default: random, printed)"),
    "progression": OptionSpec(str, "how tasks move on: clock, polls or manual"),
    "pending_seconds": OptionSpec(float, "seconds a task stays pending (clock progression)"),
    "processing_seconds": OptionSpec(float, "seconds a task stays processing"),
    "rate_limit": OptionSpec(int, "requests per minute per key (0 turns limiting off)"),
    "fast_forward": OptionSpec(bool, "let the code under test's sleeps advance the mock clock"),
    "audit": OptionSpec(bool, "fail tests whose client breaks the retry-policy audit"),
    "url": OptionSpec(str, "a mock server started elsewhere, for the lipsync_remote fixture"),
    "admin_token": OptionSpec(str, "that server's --admin-token, which lipsync_remote sends"),
    "tls": OptionSpec(bool, "serve the live server over HTTPS (clients trust lipsync_ca_bundle)"),
    "strict_requests": OptionSpec(
        bool, "fail tests that sent requests the mock did not expect (unknown route, 405)"
    ),
    "intercept_passthrough": OptionSpec(
        bool, "lipsync_intercept lets requests to other hosts through instead of refusing them"
    ),
}

#: Options about the run, not about a mock's configuration.
_RUN_OPTIONS = {"admin_token", "seed", "url"}

#: Marker keywords that are not MockConfig fields.
_EXTRAS = {
    "faults",
    "fast_forward",
    "audit",
    "strict_keys",
    "strict_requests",
    "intercept_passthrough",
    "intercept_origins",
}

#: The plugin's defaults where they differ from a standalone server's.
_PLUGIN_DEFAULTS: Mapping[str, Any] = {"clock": "manual"}


@dataclass(frozen=True)
class TestSettings:
    """Everything one test's mock is built with."""

    __test__ = False  # not a test class, whatever pytest's name-based collection thinks

    config: MockConfig
    faults: Sequence[Mapping[str, Any]] = ()
    fast_forward: bool = False
    audit: Mapping[str, Any] | None = None
    #: The marker asked for HTTPS, which only a mock on a socket can serve.
    tls_marked: bool = False
    #: Fail the test at teardown if the mock saw requests it does not serve.
    strict_requests: bool = False
    #: `lipsync_intercept`: let other hosts through, and the origins it also routes.
    intercept_passthrough: bool = False
    intercept_origins: tuple[str, ...] = ()


def _from_options(config: pytest.Config) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, spec in OPTIONS.items():
        if name in _RUN_OPTIONS:
            continue  # the run seed (each test's own is derived from it) and the remote URL
        raw: Any = config.getini(f"lipsync_{name}")
        if raw in ("", None, False) and spec.kind is not bool:
            raw = None
        cli = config.getoption(f"lipsync_{name}", None)
        if cli not in (None, False):
            raw = cli
        if raw is None:
            continue
        if spec.kind is bool:
            values[name] = (
                raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes")
            )
        else:
            values[name] = spec.kind(raw)
    return values


def _from_marker(node: pytest.Item | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if node is None:
        return values
    # Closest marker wins: apply module/class markers first, then the function's.
    for marker in reversed(list(node.iter_markers(MARKER))):
        if marker.args:
            raise pytest.UsageError(
                f"@pytest.mark.{MARKER} takes keyword arguments only, e.g. "
                f"@pytest.mark.{MARKER}(profile='flaky-network', seed=3)"
            )
        values.update(marker.kwargs)
    return values


def resolve_settings(
    request: pytest.FixtureRequest | None, *, seed: int, config: pytest.Config | None = None
) -> TestSettings:
    pytest_config = request.config if request is not None else config
    merged: dict[str, Any] = dict(_PLUGIN_DEFAULTS)
    if pytest_config is not None:
        merged.update(_from_options(pytest_config))
    marked = _from_marker(request.node if request is not None else None)
    merged.update(marked)
    merged.setdefault("seed", seed)
    if merged.get("seed") is None:
        merged["seed"] = seed
    fast_forward = bool(merged.pop("fast_forward", False))
    strict_requests = bool(merged.pop("strict_requests", False))
    intercept_passthrough = bool(merged.pop("intercept_passthrough", False))
    intercept_origins = merged.pop("intercept_origins", ())
    if not isinstance(intercept_origins, (list, tuple)) or not all(
        isinstance(origin, str) for origin in intercept_origins
    ):
        raise pytest.UsageError(
            f"@pytest.mark.{MARKER}(intercept_origins=...) takes a list of origins such as "
            f"['https://cdn.example.com'], not {intercept_origins!r}"
        )
    audit_value = merged.pop("audit", False)
    faults = list(merged.pop("faults", ()) or ())
    strict_keys = merged.pop("strict_keys", None)
    if strict_keys is not None:
        merged["api_keys"] = tuple(strict_keys)
    known = {f.name for f in dataclasses.fields(MockConfig)}
    unknown = sorted(set(merged) - known)
    if unknown:
        raise pytest.UsageError(
            f"@pytest.mark.{MARKER}: unknown setting(s) {', '.join(unknown)}; use MockConfig "
            f"fields or {', '.join(sorted(_EXTRAS))}"
        )
    audit: Mapping[str, Any] | None
    if audit_value is True:
        audit = {}
    elif isinstance(audit_value, Mapping):
        audit = dict(audit_value)
    else:
        audit = None
    for rule in faults:
        if not isinstance(rule, Mapping):
            raise pytest.UsageError(
                f"@pytest.mark.{MARKER}(faults=...) takes rule dicts, not {rule!r}"
            )
    return TestSettings(
        config=MockConfig.build(merged),
        faults=faults,
        fast_forward=fast_forward,
        audit=audit,
        tls_marked=bool(marked.get("tls") or marked.get("tls_cert")),
        strict_requests=strict_requests,
        intercept_passthrough=intercept_passthrough,
        intercept_origins=tuple(intercept_origins),
    )
