"""How one test's mock is configured: options, ini keys and the `lipsync` marker.

One table (`OPTIONS`) declares every knob once; `plugin.py` turns it into `--lipsync-*`
flags and `lipsync_*` ini keys, and `resolve_settings` merges them with the marker
(precedence: marker, then command line, then ini, then the plugin's defaults).

Every value is checked where it is given, with a message that names it and what it
accepts: the options and ini keys once, when the run starts (`check_options`, a usage
error, not a failure in every test), the marker when its test sets up. A setting that
cannot apply where it is given (a port for the in-process mock, a speed for a manual
clock) is refused with the reason, never silently ignored.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from vidu_lipsync_mock import MockConfig
from vidu_lipsync_mock.config import ConfigError
from vidu_lipsync_mock.faults import FaultError, Rule

__all__ = [
    "MARKER",
    "OPTIONS",
    "SERVER_ONLY",
    "OptionSpec",
    "TestSettings",
    "check_options",
    "refuse_server_settings",
    "resolve_settings",
]

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

#: Settings of how a server listens: the in-process mock has no socket, and the session's
#: server is started once, so a test's marker can change neither.
SERVER_ONLY = (
    "host",
    "port",
    "log_level",
    "access_log",
    "head_timeout_seconds",
    "body_timeout_seconds",
    "keep_alive_seconds",
    "max_header_bytes",
    "max_connections",
    "shutdown_seconds",
    "tls_cert",
    "tls_key",
    "tls_ca_out",
)

#: Settings that only one progression reads, by that progression.
_PROGRESSION_SETTINGS: Mapping[str, str] = {
    "pending_seconds": "clock",
    "processing_seconds": "clock",
    "processing_on_poll": "polls",
    "terminal_on_poll": "polls",
}

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


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
    #: The settings the marker gave, for the fixtures to refuse what cannot apply to them.
    marked: frozenset[str] = frozenset()


def _flag(name: str) -> str:
    return "--lipsync-" + name.replace("_", "-")


def _parse(name: str, spec: OptionSpec, raw: Any, where: str) -> Any:
    """One option's value, or a usage error naming `where` and what it accepts."""
    text = str(raw).strip()
    if spec.kind is bool:
        if isinstance(raw, bool) or text.lower() in _TRUE + _FALSE:
            return raw if isinstance(raw, bool) else text.lower() in _TRUE
        raise pytest.UsageError(f"{where}: expected true or false (1/0, yes/no), not {raw!r}")
    if spec.kind is int:
        if not re.fullmatch(r"[+-]?\d+", text):
            raise pytest.UsageError(f"{where}: expected a whole number, not {raw!r}")
        return int(text)
    if spec.kind is float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise pytest.UsageError(f"{where}: expected a number of seconds, not {raw!r}")
        return value
    choices = _choices(name)
    if choices and text not in choices:
        raise pytest.UsageError(f"{where}: expected one of {', '.join(choices)}, not {raw!r}")
    if name == "url" and not text.startswith(("http://", "https://")):
        raise pytest.UsageError(
            f"{where}: expected the base URL of a running mock (http://host:port), not {raw!r}"
        )
    return text


def _choices(name: str) -> tuple[str, ...]:
    fields = {f.name: f for f in dataclasses.fields(MockConfig)}
    return tuple(fields[name].metadata.get("choices", ())) if name in fields else ()


def _given_options(config: pytest.Config) -> dict[str, tuple[Any, str]]:
    """Each option set on the command line or in the ini file: its value and where."""
    given: dict[str, tuple[Any, str]] = {}
    for name, spec in OPTIONS.items():
        cli = config.getoption(f"lipsync_{name}", None)
        if cli not in (None, False):
            given[name] = (_parse(name, spec, cli, _flag(name)), _flag(name))
            continue
        key = f"lipsync_{name}"
        raw: Any = config.getini(key)  # a string, switches too: read by `_parse`
        if raw not in ("", None):
            given[name] = (_parse(name, spec, raw, f"ini {key}"), f"ini {key}")
    return given


def check_options(config: pytest.Config) -> None:
    """Check every `--lipsync-*` option and `lipsync_*` ini value at the start of the run:
    a bad one is one usage error naming it and what it accepts."""
    given = _given_options(config)
    fields = {f.name for f in dataclasses.fields(MockConfig)}  # the rest are the plugin's own
    settings = {k: v for k, (v, _) in given.items() if k in fields and k not in _RUN_OPTIONS}
    try:
        built = MockConfig.build({**_PLUGIN_DEFAULTS, **settings})
        _refuse_unread(built, given=set(settings))
    except (ConfigError, pytest.UsageError) as error:
        named = [
            where for name, (_, where) in given.items() if re.search(rf"\b{name}\b", str(error))
        ]
        suffix = f" (from {', '.join(named)})" if named else ""
        raise pytest.UsageError(f"lipsync options: {error}{suffix}") from None


def _from_options(config: pytest.Config) -> dict[str, Any]:
    return {k: v for k, (v, _) in _given_options(config).items() if k not in _RUN_OPTIONS}


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
    options = _from_options(pytest_config) if pytest_config is not None else {}
    merged.update(options)
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
    audit = _audit(merged.pop("audit", False))
    faults = _faults(merged.pop("faults", ()) or ())
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
    try:
        built = MockConfig.build(merged)
    except ConfigError as error:
        raise pytest.UsageError(f"@pytest.mark.{MARKER}: {error}") from None
    # Judged on the closest marker only: an outer one's settings may be meant for the
    # progression or clock the outer one chose, which this test's marker overrides.
    closest = request.node.get_closest_marker(MARKER) if request is not None else None
    _refuse_unread(built, given=set(closest.kwargs) if closest is not None else set())
    return TestSettings(
        config=built,
        faults=faults,
        fast_forward=fast_forward,
        audit=audit,
        tls_marked=bool(marked.get("tls") or marked.get("tls_cert")),
        strict_requests=strict_requests,
        intercept_passthrough=intercept_passthrough,
        intercept_origins=tuple(intercept_origins),
        marked=frozenset(marked),
    )


def _audit(value: Any) -> Mapping[str, Any] | None:
    """`audit=True` or `audit={thresholds}`, checked against the auditor's policy."""
    if value is True:
        return {}
    if value is False or value is None:
        return None
    if not isinstance(value, Mapping):
        raise pytest.UsageError(
            f"@pytest.mark.{MARKER}(audit=...) takes True or a dict of AuditPolicy fields, "
            f"not {value!r}"
        )
    from .audit import AuditPolicy

    fields = [f.name for f in dataclasses.fields(AuditPolicy)]
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise pytest.UsageError(
            f"@pytest.mark.{MARKER}(audit=...): unknown field(s) {', '.join(unknown)}; "
            f"AuditPolicy has {', '.join(fields)}"
        )
    return dict(value)


def _faults(rules: Iterable[Any]) -> list[Mapping[str, Any]]:
    """The marker's fault rules, each checked as the engine will read it."""
    checked = []
    for index, rule in enumerate(rules, 1):
        if not isinstance(rule, Mapping):
            raise pytest.UsageError(
                f"@pytest.mark.{MARKER}(faults=...) takes rule dicts, e.g. "
                f'{{"fault": "error", "status": 503, "route": "poll"}}, not {rule!r}'
            )
        try:
            Rule.from_dict(rule, f"marker-{index}")
        except (FaultError, TypeError, ValueError) as error:
            raise pytest.UsageError(
                f"@pytest.mark.{MARKER}(faults=...): rule {index} {dict(rule)!r}: {error}"
            ) from None
        checked.append(rule)
    return checked


def _refuse_unread(config: MockConfig, given: set[str]) -> None:
    """Settings given for a part of the mock that this configuration does not use."""
    if "speed" in given and config.clock == "manual" and config.speed != 1.0:
        raise pytest.UsageError(
            f"@pytest.mark.{MARKER}(speed={config.speed:g}): speed scales a system clock, and "
            "this mock's clock is manual (the plugin's default: it moves only when the test "
            "moves it). Add clock='system' to run on wall time, or move the manual clock: "
            "lipsync_mock.advance(seconds), fast_forward=True"
        )
    for name, progression in _PROGRESSION_SETTINGS.items():
        if name in given and config.progression != progression:
            raise pytest.UsageError(
                f"{name} applies to the {progression!r} progression, and this mock's is "
                f"{config.progression!r}: add progression={progression!r}, or drop {name}"
            )


def refuse_server_settings(settings: TestSettings, fixture: str, reason: str) -> None:
    """Refuse marker settings about a socket in a fixture whose socket they cannot shape."""
    given = sorted(name for name in SERVER_ONLY if name in settings.marked)
    if given:
        raise pytest.UsageError(
            f"@pytest.mark.{MARKER}({', '.join(f'{n}=...' for n in given)}) cannot apply to "
            f"{fixture}: {reason}"
        )
