"""Request validation compiled from the provider's JSON schema, speaking the provider's words.

Clients of the real service match on the provider's categories (`Invalid parameters`,
`Invalid format`, `Value out of range`) and on which parameter is named first, which a
generic JSON-Schema library words and orders its own way. So the schema is compiled once
into a tree of checks that reports the first problem in a fixed order (required fields,
then each property, in the schema's order) with the provider's message. The keywords
understood are `SUPPORTED`; `tests/unit/test_validation.py` checks the verdicts against
the `jsonschema` library.

Every declared field is also capped at `FIELD_LIMIT` (our choice: docs/limits.md), so a
task keeps each field whole in bounded memory: a longer string, or a list or object whose
compact JSON is longer, is refused like one over a `maxLength`.
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import Any

from vidu_lipsync_mock.service.errors import (
    ApiError,
    invalid_format,
    invalid_parameters,
    value_out_of_range,
)

__all__ = ["FIELD_LIMIT", "SUPPORTED", "TYPE_WORDS", "Validator", "compile_schema"]

#: Most characters a field the schema names may hold (a list or an object: bytes of its
#: compact JSON). Far above any real signed URL (a few KiB at most), and what bounds the
#: memory a task keeps of its request (see `service.kept`).
FIELD_LIMIT = 16 * 1024

#: How the provider words each JSON type in "must be …" messages.
TYPE_WORDS = {
    **{name: f"a {name}" for name in ("string", "number", "boolean")},
    **{name: f"an {name}" for name in ("integer", "array", "object")},
    "null": "null",
}


def _is_integer(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


#: One test per type name: a request's every field is checked against its type, so this is
#: the validator's innermost call.
_TYPE_TESTS: Mapping[str, Callable[[object], bool]] = {
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "integer": _is_integer,
    "number": lambda value: isinstance(value, (int, float)) and not isinstance(value, bool),
    "array": lambda value: isinstance(value, list),
    "object": lambda value: isinstance(value, dict),
    "null": lambda value: value is None,
}


def _anything(value: object) -> bool:
    return True


def _type_test(names: Sequence[str]) -> Callable[[object], bool]:
    """The test for a value of any of `names` (a name JSON Schema does not know: anything)."""
    tests = [_TYPE_TESTS.get(name, _anything) for name in names]
    return tests[0] if len(tests) == 1 else lambda value: any(test(value) for test in tests)


def _json_equal(a: object, b: object) -> bool:
    """JSON Schema equality: 1 equals 1.0, but true is not 1, and containers compare deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _plural(n: int | float, word: str) -> str:
    return f"{n:g} {word}" if n == 1 else f"{n:g} {word}s"


Check = Callable[[Any, str], ApiError | None]


@dataclass(frozen=True)
class Validator:
    """A compiled schema: call `first_error(body)` for the error the provider would give.

    Most bodies are valid, so `validate` asks `_quick` (a one-call test, for a schema
    simple enough to have one) first, and walks the tree of checks only to word an error.
    `fields` are the names of the fields the schema declares (its top-level properties).
    """

    schema: Mapping[str, Any]
    _check: Check
    _quick: Callable[[object], bool] | None = None
    fields: frozenset[str] = frozenset()

    def first_error(self, value: object) -> ApiError | None:
        return self._check(value, "")

    def validate(self, value: object) -> None:
        quick = self._quick
        if quick is not None and quick(value):
            return
        error = self.first_error(value)
        if error is not None:
            raise error


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _compile(schema: Mapping[str, Any]) -> Check:
    checks: list[Check] = []

    types = schema.get("type")
    if types is not None:
        names: Sequence[str] = [types] if isinstance(types, str) else list(types)
        words = " or ".join(TYPE_WORDS.get(n, n) for n in names)
        is_type = _type_test(names)

        def check_type(value: Any, path: str) -> ApiError | None:
            if is_type(value):
                return None
            if not path:
                body_words = words.replace("an object", "a JSON object")
                return invalid_format(f"request body must be {body_words}")
            return invalid_format(f"parameter '{path}' must be {words}")

        checks.append(check_type)

    if "enum" in schema or "const" in schema:
        allowed = list(schema["enum"]) if "enum" in schema else [schema["const"]]
        shown = ", ".join(str(a) for a in allowed)

        def check_enum(value: Any, path: str) -> ApiError | None:
            if any(_json_equal(value, a) for a in allowed):
                return None
            return value_out_of_range(f"parameter '{path}' must be one of: {shown}")

        checks.append(check_enum)

    checks.extend(_size_checks(schema))
    checks.extend(_number_checks(schema))
    checks.extend(_array_checks(schema))
    checks.extend(_object_checks(schema))
    if len(checks) == 1:
        return checks[0]

    def run(value: Any, path: str) -> ApiError | None:
        for check in checks:
            error = check(value, path)
            if error is not None:
                return error
        return None

    return run


#: The size keywords: what they bound, how a size breaks them, and the message's words.
_SIZES: tuple[tuple[str, type[Sized], Callable[[int, int], bool], str, str], ...] = (
    ("minLength", str, operator.lt, "must be at least {} long", "character"),
    ("maxLength", str, operator.gt, "must be at most {} long", "character"),
    ("minItems", list, operator.lt, "must have at least {}", "item"),
    ("maxItems", list, operator.gt, "must have at most {}", "item"),
)


def _size_checks(schema: Mapping[str, Any]) -> list[Check]:
    checks: list[Check] = []
    for keyword, kind, breaks, words, unit in _SIZES:
        limit = schema.get(keyword)
        if limit is None:
            continue

        def check_size(
            value: Any,
            path: str,
            limit: int = limit,
            kind: type[Sized] = kind,
            breaks: Callable[[int, int], bool] = breaks,
            message: str = words.format(_plural(limit, unit)),
        ) -> ApiError | None:
            if isinstance(value, kind) and breaks(len(value), limit):
                return value_out_of_range(f"parameter '{path}' {message}")
            return None

        checks.append(check_size)
    pattern = schema.get("pattern")
    if pattern is not None:
        compiled = re.compile(pattern)

        def check_pattern(value: Any, path: str) -> ApiError | None:
            if isinstance(value, str) and not compiled.search(value):
                return invalid_format(f"parameter '{path}' must match the pattern {pattern}")
            return None

        checks.append(check_pattern)
    return checks


#: The number keywords: how a value meets the bound, and the message's words.
_BOUNDS: tuple[tuple[str, Callable[[float, float], bool], str], ...] = (
    ("minimum", operator.ge, "greater than or equal to"),
    ("maximum", operator.le, "less than or equal to"),
    ("exclusiveMinimum", operator.gt, "greater than"),
    ("exclusiveMaximum", operator.lt, "less than"),
)

#: The JSON Schema keywords understood here; anything else in a schema is ignored.
SUPPORTED = frozenset(
    [keyword for keyword, *_ in (*_SIZES, *_BOUNDS)]
    + ["type", "properties", "required", "additionalProperties", "items", "enum", "const"]
    + ["pattern"]
)


def _number_checks(schema: Mapping[str, Any]) -> list[Check]:
    checks: list[Check] = []
    for keyword, ok, words in _BOUNDS:
        bound = schema.get(keyword)
        if bound is None or isinstance(bound, bool):
            continue

        def check_bound(
            value: Any,
            path: str,
            bound: float = bound,
            ok: Callable[[float, float], bool] = ok,
            words: str = words,
        ) -> ApiError | None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return None
            if isinstance(value, float) and not math.isfinite(value):
                return value_out_of_range(f"parameter '{path}' must be a finite number")
            if ok(value, bound):
                return None
            return value_out_of_range(f"parameter '{path}' must be {words} {bound:g}")

        checks.append(check_bound)
    return checks


def _array_checks(schema: Mapping[str, Any]) -> list[Check]:
    checks: list[Check] = []
    items = schema.get("items")
    if isinstance(items, Mapping):
        item_check = _compile(items)

        def check_items(value: Any, path: str) -> ApiError | None:
            if not isinstance(value, list):
                return None
            for index, item in enumerate(value):
                error = item_check(item, f"{path}[{index}]")
                if error is not None:
                    return error
            return None

        checks.append(check_items)
    return checks


def _object_checks(schema: Mapping[str, Any]) -> list[Check]:
    required: list[str] = list(schema.get("required", []))
    properties: dict[str, Check] = {
        name: _compile(sub) for name, sub in dict(schema.get("properties", {})).items()
    }
    additional = schema.get("additionalProperties", True)
    closed = additional is False
    extra_check = _compile(additional) if isinstance(additional, Mapping) else None
    if not (required or properties or closed or extra_check):
        return []

    def check_object(value: Any, path: str) -> ApiError | None:
        """Required fields, then each property, then the fields the schema does not name."""
        if not isinstance(value, dict):
            return None
        for name in required:
            if name not in value:
                return invalid_parameters(f"parameter '{_child(path, name)}' is required")
        for name, check in properties.items():
            if name in value:
                error = check(value[name], _child(path, name))
                if error is not None:
                    return error
        if closed or extra_check is not None:
            for name, item in value.items():
                if name in properties:
                    continue
                if extra_check is None:
                    return invalid_parameters(f"parameter '{_child(path, name)}' is not supported")
                error = extra_check(item, _child(path, name))
                if error is not None:
                    return error
        return None

    return [check_object]


_ABSENT = object()

#: What a property may say and still be checked by the quick test.
_QUICK_PROPERTY_WORDS = frozenset({"type", "minLength", "maxLength"})


def _quick_test(schema: Mapping[str, Any]) -> Callable[[object], bool] | None:
    """A one-call validity test for the common shape of a request schema: an object
    whose properties are strings with length bounds. None for any other shape."""
    others = (set(schema) & SUPPORTED) - {"type", "properties", "required"}
    if schema.get("type") != "object" or others:
        return None
    fields: list[tuple[str, int, float]] = []
    for name, sub in dict(schema.get("properties", {})).items():
        if not isinstance(sub, Mapping) or sub.get("type") != "string":
            return None
        if (set(sub) & SUPPORTED) - _QUICK_PROPERTY_WORDS:
            return None
        fields.append((name, int(sub.get("minLength", 0)), sub.get("maxLength", math.inf)))
    required = tuple(schema.get("required", ()))

    def quick(value: object) -> bool:
        if not isinstance(value, dict):
            return False
        for name in required:
            if name not in value:
                return False
        for name, low, high in fields:
            item = value.get(name, _ABSENT)
            if item is not _ABSENT and (not isinstance(item, str) or not low <= len(item) <= high):
                return False
        return True

    return quick


def _field_limited(schema: Mapping[str, Any], limit: int) -> Mapping[str, Any]:
    """The schema with every declared field's `maxLength` at most `limit` (a string's
    bound: other values are measured by `_field_sizes`)."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return schema
    capped: dict[str, Any] = {}
    for name, sub in properties.items():
        if isinstance(sub, Mapping):
            sub = {**sub, "maxLength": min(sub.get("maxLength", limit), limit)}
        capped[name] = sub
    return {**schema, "properties": capped}


def _field_sizes(fields: Sequence[str], limit: int) -> Check:
    """The check that no declared field holds a list or an object of more than `limit`
    bytes of compact JSON (strings are bounded by their `maxLength`)."""

    def check_field_sizes(value: Any, path: str) -> ApiError | None:
        if not isinstance(value, dict):
            return None
        for name in fields:
            item = value.get(name)
            if isinstance(item, (list, dict)) and len(_compact(item)) > limit:
                return value_out_of_range(f"parameter '{name}' must be at most {limit} bytes long")
        return None

    return check_field_sizes


def _compact(value: object) -> str:
    try:
        return json.dumps(value, separators=(",", ":"))
    except (ValueError, RecursionError):  # as deep as the parser allowed: too large anyway
        return "x" * (FIELD_LIMIT + 1)


def compile_schema(schema: Mapping[str, Any], *, field_limit: int = FIELD_LIMIT) -> Validator:
    """Compile a request schema once; the validator is then safe to share across threads.
    `field_limit` caps each declared field (see `FIELD_LIMIT`)."""
    capped = _field_limited(schema, field_limit)
    fields = tuple(dict(capped.get("properties", {})))
    check = _compile(capped)
    if schema.get("type") == "object" and fields:
        sizes = _field_sizes(fields, field_limit)

        def check_with_sizes(value: Any, path: str) -> ApiError | None:
            return check(value, path) or sizes(value, path)

        return Validator(schema, check_with_sizes, _quick_test(capped), frozenset(fields))
    return Validator(schema, check, _quick_test(capped), frozenset(fields))
