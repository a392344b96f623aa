"""Invalid submit bodies, each with exactly one defect and the 400 message it must get.

The defects and their messages are worked out from the model's schema, in the provider's
words (`service.validation.TYPE_WORDS`), so the expected message is exact.
"""

from __future__ import annotations

import math
import string
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from vidu_lipsync_mock.service.validation import TYPE_WORDS

from .arguments import check_names, check_strategy, model_spec
from .bodies import json_types, submit_bodies

__all__ = ["DEFECTS", "InvalidBody", "invalid_submit_bodies"]

_ALNUM = string.ascii_letters + string.digits

#: What `invalid_submit_bodies` can break, one defect per body.
DEFECTS = (
    "missing_required",
    "wrong_type",
    "too_short",
    "too_long",
    "not_in_enum",
    "out_of_range",
    "not_an_object",
)


@dataclass(frozen=True)
class InvalidBody:
    """A body the service must refuse with 400, and the provider's message for it.

    `message` is what the HTTP API answers; `defect` names what was broken (one of
    `DEFECTS`) and `field` which parameter, if any.
    """

    body: Any
    message: str
    defect: str
    field: str | None = None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


_JSON_BY_TYPE: Mapping[str, st.SearchStrategy[Any]] = {
    "string": st.text(max_size=8),
    "integer": st.integers(-(10**6), 10**6),
    "number": st.floats(-1e6, 1e6, allow_nan=False).filter(lambda x: not x.is_integer()),
    "boolean": st.booleans(),
    "null": st.none(),
    "array": st.lists(st.integers(0, 9), max_size=2),
    "object": st.dictionaries(st.text(_ALNUM, min_size=1, max_size=4), st.integers(), max_size=2),
}


def _wrong_types(schema: Mapping[str, Any]) -> st.SearchStrategy[Any] | None:
    """JSON values of a type the property does not allow (integral floats count as
    integers in JSON Schema, so "number" stands in only for non-integral ones)."""
    allowed = set(json_types(schema))
    if not allowed:
        return None
    if "number" in allowed:
        allowed |= {"integer"}
    others = [strategy for name, strategy in _JSON_BY_TYPE.items() if name not in allowed]
    return st.one_of(others) if others else None


def _defects_for(
    name: str, schema: Mapping[str, Any]
) -> list[tuple[str, st.SearchStrategy[Any], str]]:
    """(defect, bad values, message) for one property, where one can be generated."""
    found: list[tuple[str, st.SearchStrategy[Any], str]] = []
    types = json_types(schema)
    wrong = _wrong_types(schema)
    if wrong is not None:
        words = " or ".join(TYPE_WORDS.get(t, t) for t in types)
        found.append(("wrong_type", wrong, f"Invalid format: parameter '{name}' must be {words}"))
    if types == ["string"]:
        if "enum" in schema or "const" in schema:
            allowed = list(schema["enum"]) if "enum" in schema else [schema["const"]]
            shown = ", ".join(str(a) for a in allowed)
            found.append(
                (
                    "not_in_enum",
                    st.text(max_size=8).filter(lambda s: s not in allowed),
                    f"Value out of range: parameter '{name}' must be one of: {shown}",
                )
            )
            return found
        low = int(schema.get("minLength", 0))
        if low > 0:
            found.append(
                (
                    "too_short",
                    st.text(_ALNUM, max_size=low - 1),
                    f"Value out of range: parameter '{name}' must be at least "
                    f"{_plural(low, 'character')} long",
                )
            )
        high = schema.get("maxLength")
        if high is not None:
            found.append(
                (
                    "too_long",
                    st.text(_ALNUM, min_size=int(high) + 1, max_size=int(high) + 8),
                    f"Value out of range: parameter '{name}' must be at most "
                    f"{_plural(int(high), 'character')} long",
                )
            )
    if types in (["integer"], ["number"]) and "enum" not in schema and "const" not in schema:
        low_num, high_num = schema.get("minimum"), schema.get("maximum")
        if low_num is not None:
            found.append(
                (
                    "out_of_range",
                    st.integers(max_value=math.ceil(low_num) - 1),
                    f"Value out of range: parameter '{name}' must be greater than or "
                    f"equal to {low_num:g}",
                )
            )
        if high_num is not None:
            found.append(
                (
                    "out_of_range",
                    st.integers(min_value=math.floor(high_num) + 1),
                    f"Value out of range: parameter '{name}' must be less than or "
                    f"equal to {high_num:g}",
                )
            )
    return found


def _without(name: str, body: dict[str, Any]) -> InvalidBody:
    return InvalidBody(
        {k: v for k, v in body.items() if k != name},
        f"Invalid parameters: parameter '{name}' is required",
        "missing_required",
        name,
    )


def _with_bad(name: str, defect: str, message: str, body: dict[str, Any], bad: Any) -> InvalidBody:
    return InvalidBody({**body, name: bad}, message, defect, name)


def _not_an_object(body: Any) -> InvalidBody:
    return InvalidBody(body, "Invalid format: request body must be a JSON object", "not_an_object")


def invalid_submit_bodies(
    *,
    model_id: str | None = None,
    urls: st.SearchStrategy[str] | None = None,
    defects: Collection[str] | None = None,
) -> st.SearchStrategy[InvalidBody]:
    """Bodies with exactly one thing wrong, each with the 400 message the provider gives.

    One defect per body keeps the expected message exact: the service reports the first
    problem it finds, and with several the answer would depend on its checking order
    rather than on the defect under test. The rest of the body is a valid one from
    `submit_bodies(urls=urls)`.
    """
    check_strategy("urls", urls)
    check_names("defects", defects, DEFECTS)
    wanted = set(defects or DEFECTS)
    spec = model_spec(model_id)
    properties: dict[str, Mapping[str, Any]] = dict(spec.request_schema.get("properties", {}))
    required: list[str] = list(spec.request_schema.get("required", []))
    valid = submit_bodies(model_id=model_id, urls=urls)
    choices: list[st.SearchStrategy[InvalidBody]] = []

    if "missing_required" in wanted:
        for name in required:
            choices.append(valid.map(partial(_without, name)))
    for name, schema in properties.items():
        for defect, bad_values, message in _defects_for(name, schema):
            if defect in wanted:
                choices.append(
                    st.builds(partial(_with_bad, name, defect, message), valid, bad_values)
                )
    if "not_an_object" in wanted and json_types(spec.request_schema) == ["object"]:
        choices.append(
            st.one_of(
                [s for t, s in _JSON_BY_TYPE.items() if t != "object"]
                + [st.lists(valid, min_size=1, max_size=2)]
            ).map(_not_an_object)
        )
    if not choices:
        raise InvalidArgument(
            f"the {spec.model_id} schema allows none of the defects {sorted(wanted)} "
            "to be generated"
        )
    return st.one_of(choices)
