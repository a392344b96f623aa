"""Request validation in the provider's words, checked against `jsonschema` as an oracle
(the registry that loads each model is tested in test_registry.py)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidu_lipsync_mock.service.errors import ApiError
from vidu_lipsync_mock.service.registry import Registry
from vidu_lipsync_mock.service.validation import SUPPORTED, compile_schema

SPEC_FILE = (
    Path(__file__).resolve().parents[2]
    / "mockserver"
    / "service"
    / "specs"
    / "vidu-lip-sync.api_schema.json"
)
DOCUMENT: dict[str, Any] = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
SCHEMA: dict[str, Any] = DOCUMENT["post"]["requestBody"]["content"]["application/json"]["schema"]
LIPSYNC = compile_schema(SCHEMA)
URL = "https://example.com/talking-head.mp4"


def message_for(validator, value: object) -> str | None:
    error = validator.first_error(value)
    if error is None:
        return None
    assert isinstance(error, ApiError)
    assert error.status == 400
    assert error.envelope() == {"code": 400, "message": error.message}
    return error.message


# --- the provider's messages, exactly -------------------------------------------------------


def test_missing_video_url_is_the_provider_message() -> None:
    assert message_for(LIPSYNC, {}) == "Invalid parameters: parameter 'video_url' is required"
    assert (
        message_for(LIPSYNC, {"audio_url": "https://example.com/a.mp3"})
        == "Invalid parameters: parameter 'video_url' is required"
    )


@pytest.mark.parametrize("wrong", [5, 1.5, True, None, ["https://x"], {"url": "https://x"}])
def test_a_non_string_url_is_an_invalid_format(wrong: object) -> None:
    assert (
        message_for(LIPSYNC, {"video_url": URL, "audio_url": wrong})
        == "Invalid format: parameter 'audio_url' must be a string"
    )
    assert (
        message_for(LIPSYNC, {"video_url": wrong})
        == "Invalid format: parameter 'video_url' must be a string"
    )


@pytest.mark.parametrize("field", ["video_url", "audio_url", "reference_face_image_url"])
def test_an_empty_string_is_value_out_of_range(field: str) -> None:
    body = {"video_url": URL, field: ""}
    message = message_for(LIPSYNC, body)
    assert message is not None
    assert message.startswith("Value out of range: ")
    assert f"'{field}'" in message
    assert message == f"Value out of range: parameter '{field}' must be at least 1 character long"


@pytest.mark.parametrize("body", [[], [{"video_url": URL}], "video_url", 3, None, True])
def test_a_body_that_is_not_an_object_is_an_invalid_format(body: object) -> None:
    assert message_for(LIPSYNC, body) == "Invalid format: request body must be a JSON object"


def test_unknown_fields_are_accepted_because_the_schema_allows_them() -> None:
    # The provider's schema has no `additionalProperties`, so JSON Schema accepts extra
    # fields; a client sending e.g. a `callback_url` must not be refused by the mock alone.
    assert "additionalProperties" not in SCHEMA
    assert message_for(LIPSYNC, {"video_url": URL, "callback_url": 1, "extra": {"x": []}}) is None


def test_valid_bodies_pass_and_validate_returns_quietly() -> None:
    assert message_for(LIPSYNC, {"video_url": URL}) is None
    full = {
        "video_url": URL,
        "audio_url": "https://example.com/a.mp3",
        "reference_face_image_url": "https://example.com/f.jpg",
    }
    assert message_for(LIPSYNC, full) is None
    LIPSYNC.validate(full)
    with pytest.raises(ApiError) as caught:
        LIPSYNC.validate({"video_url": ""})
    assert caught.value.status == 400
    assert not caught.value.retryable


def test_required_is_reported_before_types() -> None:
    assert (
        message_for(LIPSYNC, {"audio_url": 5, "reference_face_image_url": ""})
        == "Invalid parameters: parameter 'video_url' is required"
    )


def test_the_first_bad_property_follows_the_schema_order_not_the_body_order() -> None:
    names = list(SCHEMA["properties"])
    first = names[0]
    bad_everywhere = {name: 7 for name in names}
    forward = message_for(LIPSYNC, bad_everywhere)
    backward = message_for(LIPSYNC, dict(reversed(list(bad_everywhere.items()))))
    assert forward == backward == f"Invalid format: parameter '{first}' must be a string"


def test_the_bundled_examples_are_valid() -> None:
    examples = DOCUMENT["post"]["requestBody"]["content"]["application/json"]["examples"]
    assert examples
    for example_ in examples.values():
        assert message_for(LIPSYNC, example_["value"]) is None


# --- messages for the other supported keywords ---------------------------------------------

OPTIONS_SCHEMA = {
    "type": "object",
    "required": ["duration"],
    "properties": {
        "duration": {"type": "integer", "minimum": 1, "maximum": 10},
        "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 2},
        "style": {"enum": ["calm", "lively"]},
        "tags": {"type": "array", "maxItems": 2, "items": {"type": "string", "maxLength": 3}},
        "crop": {
            "type": "object",
            "required": ["x"],
            "properties": {"x": {"type": "integer"}},
            "additionalProperties": False,
        },
    },
}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"duration": "5"}, "Invalid format: parameter 'duration' must be an integer"),
        ({"duration": 2.5}, "Invalid format: parameter 'duration' must be an integer"),
        (
            {"duration": 0},
            "Value out of range: parameter 'duration' must be greater than or equal to 1",
        ),
        (
            {"duration": 11},
            "Value out of range: parameter 'duration' must be less than or equal to 10",
        ),
        (
            {"duration": 1, "ratio": 0},
            "Value out of range: parameter 'ratio' must be greater than 0",
        ),
        ({"duration": 1, "ratio": 2}, "Value out of range: parameter 'ratio' must be less than 2"),
        (
            {"duration": 1, "style": "wild"},
            "Value out of range: parameter 'style' must be one of: calm, lively",
        ),
        (
            {"duration": 1, "tags": ["a", "b", "c"]},
            "Value out of range: parameter 'tags' must have at most 2 items",
        ),
        (
            {"duration": 1, "tags": ["ok", "long"]},
            "Value out of range: parameter 'tags[1]' must be at most 3 characters long",
        ),
        ({"duration": 1, "crop": {}}, "Invalid parameters: parameter 'crop.x' is required"),
        (
            {"duration": 1, "crop": {"x": 1, "y": 2}},
            "Invalid parameters: parameter 'crop.y' is not supported",
        ),
        ({"duration": True}, "Invalid format: parameter 'duration' must be an integer"),
    ],
)
def test_messages_name_the_parameter_and_the_rule(body: dict, expected: str) -> None:
    assert message_for(compile_schema(OPTIONS_SCHEMA), body) == expected


def test_an_integral_float_counts_as_an_integer() -> None:
    # JSON has one number type: 5.0 is the integer 5 (as in JSON Schema 2020-12).
    assert message_for(compile_schema(OPTIONS_SCHEMA), {"duration": 5.0}) is None


def test_non_finite_numbers_are_out_of_range() -> None:
    # Intentional difference from jsonschema (which accepts inf >= 1): a bound can only be
    # met by a finite number. Real JSON bodies never carry one.
    assert (
        message_for(compile_schema(OPTIONS_SCHEMA), {"duration": 1, "ratio": float("inf")})
        == "Value out of range: parameter 'ratio' must be a finite number"
    )


# --- jsonschema as an oracle -------------------------------------------------------------------

ORACLE_SCHEMAS: dict[str, dict[str, Any]] = {
    "bundled": SCHEMA,
    "object-of-strings": {
        "type": "object",
        "required": ["a"],
        "properties": {
            "a": {"type": "string", "minLength": 2, "maxLength": 4},
            "b": {"type": "string", "description": "ignored by both"},
        },
    },
    "integer-range": {"type": "integer", "minimum": -3, "maximum": 10},
    "number-exclusive": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1.5},
    "string-length": {"type": "string", "minLength": 2, "maxLength": 4},
    "type-list": {"type": ["string", "null", "boolean"]},
    "boolean": {"type": "boolean"},
    "untyped-keywords": {"minimum": 5, "minLength": 3, "minItems": 1, "maxItems": 2},
    "array-items": {
        "type": "array",
        "minItems": 1,
        "maxItems": 3,
        "items": {"type": "integer", "minimum": 0},
    },
    "closed-object": {
        "type": "object",
        "required": ["name", "size"],
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "size": {"type": "integer", "exclusiveMinimum": 0},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "additionalProperties": False,
    },
    "typed-extras": {
        "type": "object",
        "properties": {
            "mode": {"type": "string", "enum": ["fast", "slow"]},
            "nested": {
                "type": "object",
                "required": ["x"],
                "properties": {"x": {"type": "boolean"}},
            },
        },
        "additionalProperties": {"type": "number", "maximum": 100},
    },
    "enum-mixed": {"enum": ["a", 1, True, None, [1], {"k": 0}]},
}


def _property_names(schema: Any) -> set[str]:
    names: set[str] = set()
    if isinstance(schema, dict):
        names.update(schema.get("required", []))
        for name, sub in schema.get("properties", {}).items():
            names.add(name)
            names |= _property_names(sub)
        for key in ("items", "additionalProperties"):
            names |= _property_names(schema.get(key))
    return names


def _twins(value: Any) -> list[Any]:
    """A value and look-alikes that Python's `==` confuses with it (1 / 1.0 / True), also
    nested, so enum comparisons are tested where JSON equality and Python's part ways."""

    def floated(v: Any) -> Any:
        if isinstance(v, bool):
            return v
        if isinstance(v, int):
            return float(v)
        if isinstance(v, list):
            return [floated(x) for x in v]
        if isinstance(v, dict):
            return {k: floated(x) for k, x in v.items()}
        return v

    def swapped(v: Any) -> Any:
        if isinstance(v, bool):
            return int(v)
        if isinstance(v, int) and v in (0, 1):
            return bool(v)
        if isinstance(v, list):
            return [swapped(x) for x in v]
        if isinstance(v, dict):
            return {k: swapped(x) for k, x in v.items()}
        return v

    return [copy.deepcopy(value), floated(value), swapped(value)]


def _literals(schema: Any) -> list[Any]:
    """Values worth trying for this schema: enum members and numbers near every bound."""
    found: list[Any] = []
    if isinstance(schema, dict):
        for value in schema.get("enum", []):
            found += _twins(value)
        for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if key in schema:
                bound = schema[key]
                found += [bound, bound - 1, bound + 1, bound - 0.5, bound + 0.5, float(bound)]
        for sub in [
            *schema.get("properties", {}).values(),
            schema.get("items"),
            schema.get("additionalProperties"),
        ]:
            found += _literals(sub)
    return found


def json_values(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """JSON documents as `parse_json_object` can produce them (so: finite floats only),
    biased towards this schema's property names, enum members and bounds."""
    keys = st.sampled_from(sorted(_property_names(schema)) or ["k"]) | st.text(max_size=3)
    literals = _literals(schema)
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-20, 20),
        st.integers(),
        st.integers(-5, 5).map(float),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=6),
        st.sampled_from(["", "a", "ab", "abcd", "abcde", "https://x.example/v.mp4"]),
        *([st.sampled_from(literals).map(copy.deepcopy)] if literals else []),
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4)
        ),
        max_leaves=10,
    )


ORACLES = {
    name: (jsonschema.Draft202012Validator(schema), compile_schema(schema), json_values(schema))
    for name, schema in ORACLE_SCHEMAS.items()
}


@pytest.mark.parametrize("name", sorted(ORACLE_SCHEMAS))
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_verdicts_match_jsonschema(name: str, data: st.DataObject) -> None:
    """Our valid/invalid verdict equals jsonschema's (Draft 2020-12) for every JSON value.

    Known, intentional differences, kept out of the generated inputs:
    - non-finite numbers (see `test_non_finite_numbers_are_out_of_range`); JSON bodies
      cannot carry them;
    - `pattern` uses Python's `re`, not ECMA-262 regexes, so it is not checked here.
    """
    oracle, ours, values = ORACLES[name]
    value = data.draw(values, label="value")
    assert (ours.first_error(value) is None) == oracle.is_valid(value), (
        ours.first_error(value),
        [e.message for e in oracle.iter_errors(value)],
    )
    if ours._quick is not None:  # the one-call test `validate` asks first agrees too
        assert ours._quick(value) == oracle.is_valid(value)


def test_the_bundled_schema_is_validated_by_the_quick_test() -> None:
    """Every submit goes through it, so it must not silently fall back to the tree."""
    validator = Registry.bundled().get("vidu/lip-sync").validator
    assert validator._quick is not None
    assert validator._quick({"video_url": "https://x/v.mp4", "extra": [1]})
    assert not validator._quick({"video_url": ""})
    assert not validator._quick({"audio_url": "https://x/a.mp3"})


@pytest.mark.parametrize(
    "value",
    [1.0, True, [True], [1.0], {"k": False}, {"k": 0.0}, 1, [1], {"k": 0}],
)
def test_enum_uses_json_equality(value: Any) -> None:
    """JSON Schema compares enum members as JSON values: 1.0 equals 1 (one number type),
    but true is not 1, also inside arrays and objects."""
    schema = ORACLE_SCHEMAS["enum-mixed"]
    expected = jsonschema.Draft202012Validator(schema).is_valid(value)
    assert (compile_schema(schema).first_error(value) is None) == expected


def test_every_keyword_of_the_bundled_schema_is_supported() -> None:
    def keywords(schema: Any) -> set[str]:
        if not isinstance(schema, dict):
            return set()
        found = set(schema)
        for sub in schema.get("properties", {}).values():
            found |= keywords(sub)
        return found

    ignored = {"description", "example", "examples", "title", "default"}
    assert keywords(SCHEMA) - ignored <= SUPPORTED
