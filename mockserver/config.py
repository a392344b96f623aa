"""Every setting of the emulator, in one table that the CLI, the TOML loader and the docs
all read, so a flag, a config key and its documentation cannot drift apart."""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

from vidu_lipsync_mock.faults import FaultError, Rule
from vidu_lipsync_mock.faults.profiles import PROFILES
from vidu_lipsync_mock.service.accounts import Accounts
from vidu_lipsync_mock.service.keys import redact

__all__ = ["PRESETS", "ConfigError", "MockConfig", "load_toml", "shown", "shown_rule"]


class ConfigError(ValueError):
    """A setting that cannot be used, named so the user can find it."""


#: Lifecycle timings by name. `quick` lets someone trying the server see the whole lifecycle
#: in three seconds; `realistic` matches what the real model takes (tens of seconds to
#: minutes), for clients whose timeouts and poll intervals need an honest test.
PRESETS: Mapping[str, Mapping[str, float]] = {
    "quick": {"pending_seconds": 1.0, "processing_seconds": 2.0},
    "realistic": {"pending_seconds": 8.0, "processing_seconds": 112.0},
}


#: A name or an IP address as `allowed_hosts` takes it (no scheme, no port).
_HOST_NAME = re.compile(r"[A-Za-z0-9_.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]")
#: What `admin_token` may hold: it travels in a header.
_TOKEN = re.compile(r"[!-~]{16,256}")


def _opt(default: Any, help: str, *, choices: tuple[str, ...] = ()) -> Any:
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass(frozen=True)
class MockConfig:
    """The emulator's settings. Field names are also the TOML keys and (with dashes) the
    `serve` flags."""

    host: str = _opt("127.0.0.1", "Address to bind; loopback unless you opt in.")
    port: int = _opt(8000, "TCP port to listen on; 0 picks a free one.")
    public_base_url: str | None = _opt(
        None,
        "Origin put in get_result.url and result URLs instead of the one the client used "
        "(for a mock behind a proxy).",
    )
    allowed_hosts: tuple[str, ...] = _opt(
        (),
        "More names the mock answers to as itself (a compose service name, a proxy), "
        "besides loopback names, the bound address and public_base_url's host: the admin "
        "API refuses any other Host, and URLs are built only from these.",
    )
    admin_token: str | None = _opt(
        None,
        "Token every /_mock request but /_mock/health must send as X-Mock-Admin-Token; "
        "required to listen beyond loopback.",
    )
    clock: str = _opt(
        "system",
        "Time source: 'system' (wall time, times speed) or 'manual' (stands still until "
        "advanced through the admin API or Python).",
        choices=("system", "manual"),
    )
    speed: float = _opt(
        1.0, "How many times faster than wall time the clock runs (60 = a minute a second)."
    )
    preset: str | None = _opt(
        None,
        "Named lifecycle timings: 'quick' (1 s + 2 s) or 'realistic' (8 s + 112 s); "
        "explicit timings win over it.",
        choices=tuple(PRESETS),
    )
    progression: str = _opt(
        "clock",
        "How tasks move on: 'clock' (timings), 'polls' (the Nth poll) or 'manual' "
        "(only when pushed).",
        choices=("clock", "polls", "manual"),
    )
    pending_seconds: float = _opt(1.0, "Time a task stays pending (clock progression).")
    processing_seconds: float = _opt(
        2.0, "Time a task then stays processing before it ends (clock progression)."
    )
    processing_on_poll: int = _opt(2, "Poll that first answers processing (polls progression).")
    terminal_on_poll: int = _opt(4, "Poll that first answers the outcome (polls progression).")
    retention_seconds: float = _opt(
        604_800.0,
        "How long a finished task, its result file and an uploaded file are kept (the "
        "provider: task outputs expire after 7 days).",
    )
    max_tasks: int = _opt(
        200_000, "Most task records kept at once; the oldest finished ones go first."
    )
    max_body_bytes: int = _opt(1_048_576, "Largest request body accepted; larger gets 413.")
    api_keys: tuple[str, ...] | None = _opt(
        None, "Allow-list of API keys; unset accepts any well-formed mdlx- key."
    )
    billing_amount: str = _opt(
        "0.2400", "What a task costs: data.billing.amount, and what its team is charged."
    )
    starting_credit: str = _opt(
        "1000000.0000",
        "Credit in USD each team starts with (GET /api/v1/team/balance): about four million"
        " tasks at the default price, so a long-running server does not run dry by surprise.",
    )
    teams: Mapping[str, tuple[str, ...]] | None = _opt(
        None,
        "Teams by name, each a list of API keys that share credit, tasks and files (TOML: a "
        "[teams] table); unset, every key is a team of its own.",
    )
    max_teams: int = _opt(
        10_000, "Most teams with an account of their own kept at once (least recent go first)."
    )
    share_tasks_across_keys: bool = _opt(
        False,
        "Let any key poll any task and delete any file (before teams existed); off, another "
        "team's task or file answers 404 as an unknown one.",
    )
    max_upload_bytes: int = _opt(
        16 * 1024 * 1024, "Largest file POST /api/v1/media/files accepts (the provider: 16 MiB)."
    )
    retry_after_header: bool = _opt(
        False, "Add Retry-After to 429 answers (the provider documents only X-RateLimit-Reset)."
    )
    seed: int | None = _opt(None, "Seed for task ids and every random draw, for replayable runs.")
    rate_limit: int = _opt(
        100, "Requests per minute per API key (the provider's default); 0 turns limiting off."
    )
    max_concurrent_tasks: int = _opt(
        0, "Most unfinished tasks per API key before submits get 429; 0 means no limit."
    )
    profile: str | None = _opt(
        None, "Chaos profile to load at start (see the fault cookbook).", choices=tuple(PROFILES)
    )
    faults: tuple[dict[str, Any], ...] = _opt(
        (), "Fault rules loaded at start (TOML: [[faults]] tables; see the fault cookbook)."
    )
    state_path: str | None = _opt(
        None,
        "SQLite file that keeps tasks, uploaded files (in a folder beside it), balances, "
        "fault rules and the clock across restarts (serve --state); unset: memory only.",
    )
    journal_max_entries: int = _opt(
        10_000, "Most journal entries kept; the oldest go first (counted as dropped)."
    )
    journal_max_bytes: int = _opt(
        64 * 1024 * 1024,
        "Most bytes of bodies and headers the journal keeps in all (each entry counted as its "
        "bodies, headers, path and query plus 512); the oldest entries go first (counted as "
        "dropped), the newest is always kept.",
    )
    log_level: str = _opt(
        "warning",
        "uvicorn log level.",
        choices=("critical", "error", "warning", "info", "debug", "trace"),
    )
    access_log: bool = _opt(
        False,
        "Print one line per request to stdout: time, client, method, path, status, "
        "milliseconds (query values of api_key, key and token shown as [redacted]).",
    )
    head_timeout_seconds: float = _opt(
        10.0,
        "Time a client has to send a request line and headers, from connecting or from the "
        "request's first byte; then 408 (if part came) and the connection is closed.",
    )
    body_timeout_seconds: float = _opt(
        30.0,
        "Time a client has to send a request body once its headers are in; then 408 and the "
        "connection is closed. Also how long the rest of a refused body is read and dropped.",
    )
    keep_alive_seconds: float = _opt(
        5.0, "Time an idle keep-alive connection stays open between requests."
    )
    max_header_bytes: int = _opt(
        16_384, "Largest request line plus headers; larger gets 431 and the connection closes."
    )
    max_connections: int = _opt(
        1000,
        "Most open client connections; a request on one beyond it gets 503 and its connection "
        "closes. 0 means no limit.",
    )
    shutdown_seconds: float = _opt(
        10.0,
        "On SIGTERM or Ctrl-C of `serve`, time in-flight requests get to finish before they "
        "are cut off.",
    )
    # Real results (docs/media.md): which inputs the mock reads, and what results may hold.
    media_root: str | None = _opt(
        None,
        "Directory whose files tasks may name as inputs (a file:// URL or a path relative to "
        "it); paths that leave it, symbolic links included, are refused.",
    )
    fetch_allow: tuple[str, ...] = _opt(
        (),
        "Hosts (host or host:port) whose URLs tasks may name as inputs; the mock fetches "
        "them. None by default. A loopback or private address is fetched only when that "
        "address itself is listed.",
    )
    fetch_max_bytes: int = _opt(64 * 1024 * 1024, "Largest input fetched from an allowed host.")
    fetch_timeout_seconds: float = _opt(
        20.0, "Time one fetch from an allowed host may take, redirects included."
    )
    result_budget_bytes: int = _opt(
        256 * 1024 * 1024,
        "Memory that built results may hold (results of tasks still kept, then cached ones); "
        "a task whose result does not fit fails with a message naming this setting.",
    )
    result_wait_seconds: float = _opt(
        10.0,
        "Longest a poll waits for a result still being built when its task is due to end; "
        "after that the task answers processing until the result is ready.",
    )
    # HTTPS, as the real service serves (see `vidu_lipsync_mock.tls`).
    tls: bool = _opt(
        False,
        "Serve HTTPS with a certificate for 127.0.0.1, localhost and ::1 from a local "
        "certificate authority made at start, whose certificate is written to tls_ca_out "
        "(needs the tls extra: pip install 'vidu-lipsync-mock[tls]').",
    )
    tls_cert: str | None = _opt(
        None,
        "Serve HTTPS with your own certificate instead: a PEM file of the certificate and "
        "its chain (and the key, unless tls_key names it). No authority is made.",
    )
    tls_key: str | None = _opt(None, "PEM file of tls_cert's private key.")
    tls_ca_out: str | None = _opt(
        None,
        "Where tls writes the made authority's certificate for clients to trust; unset: "
        "ca-<port>.pem in vidu-lipsync-mock-<uid> under the system's temporary directory.",
    )

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices", ())
            value = getattr(self, f.name)
            if choices and value is not None and value not in choices:
                raise ConfigError(f"{f.name} must be one of {', '.join(choices)}, not {value!r}")
        for name in ("pending_seconds", "processing_seconds", "retention_seconds"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative")
        for name in ("speed", "head_timeout_seconds", "body_timeout_seconds", "keep_alive_seconds"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive")
        if not 0 <= self.port <= 65535:
            raise ConfigError("port must be between 0 and 65535")
        if not 1 <= self.processing_on_poll <= self.terminal_on_poll:
            raise ConfigError("need 1 <= processing_on_poll <= terminal_on_poll")
        if self.rate_limit < 0 or self.max_concurrent_tasks < 0:
            raise ConfigError("rate_limit and max_concurrent_tasks must not be negative")
        if self.journal_max_entries < 1 or self.journal_max_bytes < 1:
            raise ConfigError("journal_max_entries and journal_max_bytes must be positive")
        if self.max_tasks < 1 or self.max_body_bytes < 1:
            raise ConfigError("max_tasks and max_body_bytes must be positive")
        if self.max_teams < 1 or self.max_upload_bytes < 1:
            raise ConfigError("max_teams and max_upload_bytes must be positive")
        if self.fetch_max_bytes < 1 or self.result_budget_bytes < 1:
            raise ConfigError("fetch_max_bytes and result_budget_bytes must be positive")
        if not self.fetch_timeout_seconds > 0 or self.result_wait_seconds < 0:
            raise ConfigError(
                "fetch_timeout_seconds must be positive and result_wait_seconds not negative"
            )
        try:
            Accounts(
                teams=self.teams, starting_credit=self.starting_credit, charge=self.billing_amount
            )
        except ValueError as error:
            raise ConfigError(f"teams, starting_credit or billing_amount: {error}") from None
        if self.shutdown_seconds < 0 or self.max_connections < 0:
            raise ConfigError("shutdown_seconds and max_connections must not be negative")
        if self.max_header_bytes < 1024:
            raise ConfigError("max_header_bytes must be at least 1024")
        for index, rule in enumerate(self.faults):
            try:
                Rule.from_dict(rule, f"config-{index + 1}")
            except FaultError as error:
                raise ConfigError(f"faults[{index}]: {error}") from None
        if self.public_base_url is not None and not self.public_base_url.startswith(
            ("http://", "https://")
        ):
            raise ConfigError("public_base_url must start with http:// or https://")
        for name in self.allowed_hosts:
            if not _HOST_NAME.fullmatch(name):
                raise ConfigError(
                    f"allowed_hosts: {name!r} is not a host name (give a name or an IP "
                    "address, without scheme or port: mock, proxy.internal, [fd00::1])"
                )
        if self.admin_token is not None and not _TOKEN.fullmatch(self.admin_token):
            raise ConfigError(
                "admin_token must be 16 to 256 printable ASCII characters without spaces "
                "(`vidu-lipsync-mock key` prints a good one)"
            )
        if self.tls_key is not None and self.tls_cert is None:
            raise ConfigError("tls_key needs tls_cert: the certificate the key belongs to")
        if self.tls_ca_out is not None and (self.tls_cert is not None or not self.tls):
            raise ConfigError(
                "tls_ca_out is where tls writes the authority it makes: it needs tls, and "
                "there is none with your own tls_cert"
            )

    @classmethod
    def build(cls, settings: Mapping[str, Any] | None = None, **overrides: Any) -> MockConfig:
        """Merge settings (a TOML document's keys) and overrides, applying a preset first
        so that explicit timings always win over the preset's."""
        merged: dict[str, Any] = dict(settings or {})
        merged.update({k: v for k, v in overrides.items() if v is not None})
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(merged) - set(known))
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
        preset = merged.get("preset")
        if preset is not None:
            if preset not in PRESETS:
                raise ConfigError(f"preset must be one of {', '.join(PRESETS)}, not {preset!r}")
            for key, value in PRESETS[preset].items():
                merged.setdefault(key, value)
        coerced = {name: _coerce(name, known[name].type, value) for name, value in merged.items()}
        return cls(**coerced)

    def replace(self, **changes: Any) -> MockConfig:
        return MockConfig.build(self.as_dict(), **changes)

    def as_dict(self) -> dict[str, Any]:
        """The settings that differ from the defaults, as `build` takes them. Timings that
        merely repeat the preset's are left to the preset, so replacing the preset moves
        them too."""
        from_preset = PRESETS.get(self.preset or "", {})
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != f.default
            and not (f.name in from_preset and getattr(self, f.name) == from_preset[f.name])
        }


def shown(config: MockConfig) -> dict[str, Any]:
    """Every setting as the admin API shows it: API keys redacted (`redact`, the journal's
    form) wherever they appear (the key allow-list, the teams, a fault rule's key), so
    reading a running server's settings never hands out a working key."""
    data = dataclasses.asdict(config)
    if config.admin_token is not None:
        data["admin_token"] = "[redacted]"
    if config.api_keys is not None:
        data["api_keys"] = [redact(key) for key in config.api_keys]
    if config.teams is not None:
        data["teams"] = {team: [redact(key) for key in keys] for team, keys in config.teams.items()}
    data["faults"] = [shown_rule(rule) for rule in config.faults]
    return data


def shown_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A fault rule (flat, nested or as `Rule.describe()` prints it) with the key it
    matches redacted: what the admin API and reports show. The rule keeps matching on
    the full key."""
    shown = dict(rule)
    key = shown.get("api_key")
    if isinstance(key, str):
        shown["api_key"] = redact(key)
    match = shown.get("match")
    if isinstance(match, Mapping) and isinstance(match.get("api_key"), str):
        shown["match"] = {**match, "api_key": redact(match["api_key"])}
    return shown


def setting_kind(annotation: object) -> str:
    """The shape of a setting, from its field's declared type: `str`, `int`, `float`,
    `bool`, `list` (of names) or `json` (the structured ones: teams, fault rules). The TOML
    loader, the environment variables and the CLI flags all parse by it."""
    text = str(annotation).replace(" | None", "")
    if text in ("str", "int", "float", "bool"):
        return text
    return "list" if text == "tuple[str, ...]" else "json"


#: What a scalar setting's value may be (a bool is never a number), and its words.
_SCALARS: Mapping[str, tuple[type | tuple[type, ...], str]] = {
    "bool": (bool, "true or false"),
    "float": ((int, float), "a number"),
    "int": (int, "a whole number"),
    "str": (str, "a string"),
}


def _coerce(name: str, annotation: object, value: Any) -> Any:
    """Check a TOML or JSON value against the field's declared type."""
    kind = setting_kind(annotation)
    if value is None:
        if "None" in str(annotation):
            return None
        raise ConfigError(f"{name} cannot be empty")
    if name == "teams":
        if not isinstance(value, Mapping) or not all(
            isinstance(keys, (list, tuple)) and all(isinstance(k, str) for k in keys)
            for keys in value.values()
        ):
            raise ConfigError("teams must be a table of team names to lists of API keys")
        return {str(team): tuple(keys) for team, keys in value.items()}
    if name == "faults":
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, dict) for v in value):
            raise ConfigError("faults must be a list of tables (TOML [[faults]])")
        return tuple(dict(v) for v in value)
    if kind == "list":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{name} must be a list of strings")
        return tuple(value)
    types, words = _SCALARS[kind]
    fits = isinstance(value, types) and (kind == "bool" or not isinstance(value, bool))
    if not fits:
        raise ConfigError(f"{name} must be {words}, not {value!r}")
    return float(value) if kind == "float" else value


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a config file. Its top-level keys are `MockConfig` field names; tables are
    reserved for structured settings (fault rules)."""
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from error
    return document
