"""Settings from environment variables, and the server's settings merged from every source.

A CI service step or a compose file configures a server with variables, not flags:
`VIDU_LIPSYNC_MOCK_<SETTING>` for every `MockConfig` field (the field name upper-cased).
The parsing is derived from each field's declared type, so a field added to `MockConfig`
has its variable with no code here: lists are comma-separated, structured values (the
teams, fault rules) are JSON, booleans are `true`/`false`/`1`/`0`, a field with choices
takes one of them. Precedence: flags, then variables, then the TOML file, then defaults;
`merge` also says where each value came from, which `serve --print-config` prints.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vidu_lipsync_mock.config import PRESETS, ConfigError, MockConfig, setting_kind, shown

__all__ = ["PREFIX", "MergedConfig", "from_environment", "merge", "variable_for"]

PREFIX = "VIDU_LIPSYNC_MOCK_"

_TRUE = ("true", "1")
_FALSE = ("false", "0")


def variable_for(name: str) -> str:
    """The environment variable of a `MockConfig` field."""
    return PREFIX + name.upper()


def _parse(field: dataclasses.Field[Any], variable: str, raw: str) -> Any:
    kind = setting_kind(field.type)
    optional = "None" in str(field.type)
    text = raw.strip()
    if optional and text == "":
        return None
    choices = field.metadata.get("choices", ())
    if choices and text not in choices:
        raise ConfigError(f"{variable} must be one of {', '.join(choices)}, not {raw!r}")
    if kind == "bool":
        if text.lower() in _TRUE + _FALSE:
            return text.lower() in _TRUE
        raise ConfigError(f"{variable} must be true, false, 1 or 0, not {raw!r}")
    if kind == "int":
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        raise ConfigError(f"{variable} must be a whole number, not {raw!r}")
    if kind == "float":
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{variable} must be a number, not {raw!r}") from None
    if kind == "list":
        if text.startswith("["):  # a JSON array is a list too (`[]` for an empty one)
            try:
                items = json.loads(text)
            except json.JSONDecodeError:
                items = None
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise ConfigError(
                    f"{variable} must be comma-separated names, or a JSON list of them"
                )
            return tuple(items)
        return tuple(item.strip() for item in text.split(",") if item.strip())
    if kind == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            example = _json_example(field.default)
            raise ConfigError(
                f"{variable} must be JSON ({example}): {error.msg} at character {error.pos}"
            ) from None
    return raw


def _json_example(default: object) -> str:
    if isinstance(default, tuple):
        return 'a list of tables, e.g. [{"fault": "error", "status": 503, "route": "poll"}]'
    return 'an object, e.g. {"team-a": ["mdlx-…", "mdlx-…"]}'


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings `environ` gives, by field name. A variable with the prefix that names
    no setting is refused (a typo would otherwise be ignored without a word)."""
    fields = {variable_for(f.name): f for f in dataclasses.fields(MockConfig)}
    values: dict[str, Any] = {}
    for variable in sorted(environ):
        if not variable.startswith(PREFIX):
            continue
        field = fields.get(variable)
        if field is None:
            close = difflib.get_close_matches(variable, fields, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ConfigError(
                f"{variable} is not a setting{hint} (one variable per MockConfig field: "
                f"{PREFIX}<FIELD>, e.g. {PREFIX}PORT)"
            )
        values[field.name] = _parse(field, variable, environ[variable])
    return values


@dataclass(frozen=True)
class MergedConfig:
    """The settings a server runs with, and where each came from: `default`, `preset`,
    `file <path>`, `env <VARIABLE>` or `flag --<name>`."""

    config: MockConfig
    sources: Mapping[str, str]

    def describe(self) -> str:
        """One line per setting, `name = <JSON value>  # source`, API keys redacted."""
        values = shown(self.config)
        rows = [
            (f"{name} = {json.dumps(value, ensure_ascii=False)}", self.sources[name])
            for name, value in values.items()
        ]
        return "\n".join(f"{left:<30}  # {source}" for left, source in rows)


def merge(
    *,
    file: Mapping[str, Any] | None = None,
    file_name: str | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
    flag_names: Mapping[str, str] | None = None,
) -> MergedConfig:
    """Build the config from its sources, flags over variables over the file over the
    defaults. An invalid value is named with the source it came from. `flag_names` maps a
    setting to the flag that sets it where that is not `--<name>` (`--api-key`)."""
    layers: list[tuple[str, Mapping[str, Any]]] = [
        ("file", dict(file or {})),
        ("env", from_environment(environ or {})),
        ("flag", {k: v for k, v in (flags or {}).items() if v is not None}),
    ]
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for layer, values in layers:
        for name, value in values.items():
            merged[name] = value
            sources[name] = _source(layer, name, file_name, flag_names or {})
    try:
        config = MockConfig.build(merged)
    except ConfigError as error:
        named = [s for n, s in sources.items() if re.search(rf"\b{n}\b", str(error))]
        suffix = f" (from {'; '.join(named)})" if named else ""
        raise ConfigError(f"{error}{suffix}") from None
    preset = PRESETS.get(config.preset or "", {})
    for f in dataclasses.fields(MockConfig):
        if f.name not in sources:
            sources[f.name] = "preset" if f.name in preset else "default"
    return MergedConfig(config=config, sources=sources)


def _source(layer: str, name: str, file_name: str | None, flag_names: Mapping[str, str]) -> str:
    if layer == "env":
        return f"env {variable_for(name)}"
    if layer == "flag":
        return f"flag {flag_names.get(name, '--' + name.replace('_', '-'))}"
    return f"file {file_name}" if file_name else "file"
