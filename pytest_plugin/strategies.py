"""Hypothesis strategies for testing Modellix lip-sync clients (and the mock itself).

Bodies are derived from the provider's bundled api_schema at call time, not written out
here, so a schema change (a new optional field, a tighter `maxLength`) changes what is
generated without touching this module, and a second model dropped into
`mockserver/specs/` is reachable with `model_id=`. Rules are drawn from the fault
catalogue in `vidu_lipsync_mock.faults.engine` for the same reason.

Conventions follow Hypothesis: every public name is a function returning a strategy, named
by a plural noun, with keyword-only options. Options that shape a *part* of the value
(`urls`, `statuses`, `delays`, `schedules`, `rules`) take strategies; options that pick
*which* names may appear (`routes`, `kinds`, `defects`) take collections of names, as
`st.characters(categories=...)` does. Arguments are checked when the function is called,
so a typo fails at the call site rather than inside a test run.
"""

from __future__ import annotations

import math
import string
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from vidu_lipsync_mock.faults import FAULT_KINDS, ROUTES
from vidu_lipsync_mock.service.registry import ModelSpec, Registry
from vidu_lipsync_mock.service.validation import TYPE_WORDS

__all__ = [
    "DEFECTS",
    "InvalidBody",
    "api_keys",
    "fault_rules",
    "fault_schedules",
    "http_urls",
    "invalid_submit_bodies",
    "submit_bodies",
    "task_ids",
]

DEFAULT_MODEL = "vidu/lip-sync"

_ALNUM = string.ascii_letters + string.digits
_LOWER_ALNUM = string.ascii_lowercase + string.digits

#: File extensions a URL field gets by default, chosen by a word in the field's name, so a
#: body looks like one a real client sends (the mock does not fetch the URLs).
_MEDIA_EXTENSIONS: Mapping[str, tuple[str, ...]] = {
    "video": ("mp4", "mov"),
    "audio": ("mp3", "wav", "m4a"),
    "image": ("jpg", "png"),
    "face": ("jpg", "png"),
}

#: How the provider words each JSON type in "must be …" messages: the validator's own.
_TYPE_WORDS: Mapping[str, str] = TYPE_WORDS

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


@lru_cache(maxsize=1)
def _registry() -> Registry:
    return Registry.bundled()


def _spec(model_id: str) -> ModelSpec:
    spec = _registry().get(model_id)
    if spec is None:
        known = ", ".join(s.model_id for s in _registry())
        raise InvalidArgument(f"model_id={model_id!r} is not bundled; known: {known}")
    return spec


def _properties(spec: ModelSpec) -> dict[str, Mapping[str, Any]]:
    return dict(spec.request_schema.get("properties", {}))


def _required(spec: ModelSpec) -> list[str]:
    return list(spec.request_schema.get("required", []))


def _check_strategy(name: str, value: object) -> None:
    if value is not None and not isinstance(value, st.SearchStrategy):
        raise InvalidArgument(f"{name} must be a strategy, not {value!r}")


def _check_names(name: str, value: Collection[str] | None, known: Collection[str]) -> None:
    if value is None:
        return
    if isinstance(value, str):
        raise InvalidArgument(f"{name} takes a collection of names, not the string {value!r}")
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise InvalidArgument(f"unknown {name}: {', '.join(unknown)}; known: {', '.join(known)}")
    if not value:
        raise InvalidArgument(f"{name} must not be empty")


def _check_size(min_size: int, max_size: int, low: int, high: int, what: str) -> None:
    if not low <= min_size <= max_size <= high:
        raise InvalidArgument(
            f"{what}: need {low} <= min_size ({min_size}) <= max_size ({max_size}) <= {high}"
        )


# -- URLs and bodies ----------------------------------------------------------------------


def http_urls(*, extensions: Collection[str] | None = None) -> st.SearchStrategy[str]:
    """Plausible `http(s)://host/path/file.ext` URLs.

    They never carry a query or fragment: the mock reads `mock=<scenario>` there and would
    answer a generated body with a forced outcome. Pass your own `urls` strategy to
    `submit_bodies` to test those on purpose.
    """
    if extensions is not None:
        _check_names("extensions", extensions, sorted(extensions))
        if any(not ext.isalnum() for ext in extensions):
            raise InvalidArgument(f"extensions must be letters and digits: {extensions!r}")
    label = st.text(_LOWER_ALNUM, min_size=1, max_size=10)
    segment = st.text(_LOWER_ALNUM + "-_", min_size=1, max_size=12)
    ext = st.sampled_from(sorted(extensions or {"mp4", "mov", "mp3", "wav", "jpg", "png"}))
    return st.builds(
        "{}://{}.{}/{}{}.{}".format,
        st.sampled_from(["https", "http"]),
        st.lists(label, min_size=1, max_size=3).map(".".join),
        st.sampled_from(["com", "net", "org", "io", "example"]),
        st.lists(segment, max_size=3).map(lambda parts: "".join(p + "/" for p in parts)),
        st.text(_LOWER_ALNUM + "-_", min_size=1, max_size=16),
        ext,
    )


def _is_url_field(name: str, schema: Mapping[str, Any]) -> bool:
    return name.endswith("_url") or schema.get("format") in ("uri", "url", "uri-reference")


def _default_url(name: str) -> st.SearchStrategy[str]:
    for word, extensions in _MEDIA_EXTENSIONS.items():
        if word in name:
            return http_urls(extensions=extensions)
    return http_urls()


def _types(schema: Mapping[str, Any]) -> list[str]:
    types = schema.get("type")
    if types is None:
        return []
    return [types] if isinstance(types, str) else list(types)


def _values(
    name: str, schema: Mapping[str, Any], urls: st.SearchStrategy[str] | None
) -> st.SearchStrategy[Any]:
    """Valid values for one property, for the subset of JSON Schema the mock validates."""
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(list(schema["enum"]))
    types = _types(schema) or ["string"]
    kind = types[0]
    if kind == "string":
        low = int(schema.get("minLength", 0))
        high = schema.get("maxLength")
        if "pattern" in schema:
            base: st.SearchStrategy[str] = st.from_regex(schema["pattern"])
        elif _is_url_field(name, schema):
            base = urls if urls is not None else _default_url(name)
        else:
            return st.text(min_size=low, max_size=int(high) if high is not None else low + 20)
        return base.filter(lambda s: low <= len(s) and (high is None or len(s) <= high))
    if kind in ("integer", "number"):
        low_num = schema.get("minimum")
        high_num = schema.get("maximum")
        if kind == "integer":
            return st.integers(
                min_value=None if low_num is None else math.ceil(low_num),
                max_value=None if high_num is None else math.floor(high_num),
            )
        return st.floats(
            min_value=low_num, max_value=high_num, allow_nan=False, allow_infinity=False
        )
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        items = schema.get("items", {})
        return st.lists(
            _values(name, items, urls),
            min_size=int(schema.get("minItems", 0)),
            max_size=schema.get("maxItems", 3),
        )
    return _objects(schema, urls)


def _objects(
    schema: Mapping[str, Any], urls: st.SearchStrategy[str] | None
) -> st.SearchStrategy[dict[str, Any]]:
    properties = dict(schema.get("properties", {}))
    required = [n for n in schema.get("required", []) if n in properties]
    return st.fixed_dictionaries(
        {n: _values(n, properties[n], urls) for n in required},
        optional={n: _values(n, s, urls) for n, s in properties.items() if n not in required},
    )


def submit_bodies(
    *, model_id: str = DEFAULT_MODEL, urls: st.SearchStrategy[str] | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Submit bodies the model's schema accepts: every required field, any optional ones.

    URL fields (`*_url`, or `format: uri`) draw from `urls`; by default from `http_urls`
    with extensions that suit the field (mp4/mov for video, mp3/wav/m4a for audio, jpg/png
    for an image). Values that `urls` gives outside the field's length limits are skipped.
    """
    _check_strategy("urls", urls)
    return _objects(_spec(model_id).request_schema, urls)


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
    allowed = set(_types(schema))
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
    types = _types(schema)
    wrong = _wrong_types(schema)
    if wrong is not None:
        words = " or ".join(_TYPE_WORDS.get(t, t) for t in types)
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
    model_id: str = DEFAULT_MODEL,
    urls: st.SearchStrategy[str] | None = None,
    defects: Collection[str] | None = None,
) -> st.SearchStrategy[InvalidBody]:
    """Bodies with exactly one thing wrong, each with the 400 message the provider gives.

    One defect per body keeps the expected message exact: the service reports the first
    problem it finds, and with several the answer would depend on its checking order
    rather than on the defect under test. The rest of the body is a valid one from
    `submit_bodies(urls=urls)`.
    """
    _check_strategy("urls", urls)
    _check_names("defects", defects, DEFECTS)
    wanted = set(defects or DEFECTS)
    spec = _spec(model_id)
    properties = _properties(spec)
    required = _required(spec)
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
    if "not_an_object" in wanted and _types(spec.request_schema) == ["object"]:
        choices.append(
            st.one_of(
                [s for t, s in _JSON_BY_TYPE.items() if t != "object"]
                + [st.lists(valid, min_size=1, max_size=2)]
            ).map(_not_an_object)
        )
    if not choices:
        raise InvalidArgument(
            f"the {model_id} schema allows none of the defects {sorted(wanted)} to be generated"
        )
    return st.one_of(choices)


# -- keys and ids -------------------------------------------------------------------------


def api_keys(*, min_size: int = 48, max_size: int = 48) -> st.SearchStrategy[str]:
    """Well-formed keys (`mdlx-` and letters/digits) that the mock accepts as ordinary.

    Keys starting `mdlx-mock` are left out: the mock reads some of them as magic keys that
    always answer 401 or 402 or have a tight rate limit.
    """
    _check_size(min_size, max_size, 32, 64, "api_keys")
    return (
        st.text(_ALNUM, min_size=min_size, max_size=max_size)
        .filter(lambda body: not body.startswith("mock"))
        .map(lambda body: "mdlx-" + body)
    )


def task_ids() -> st.SearchStrategy[str]:
    """Ids shaped like the ones the service hands out (`task-` and 24 of [a-z0-9])."""
    return st.text(_LOWER_ALNUM, min_size=24, max_size=24).map(lambda body: "task-" + body)


# -- faults -------------------------------------------------------------------------------

_METHOD_FOR_ROUTE: Mapping[str, Sequence[str]] = {
    "submit": ("POST",),
    "poll": ("GET",),
    "download": ("GET",),
    "sample": ("GET",),
    "any": ("GET", "POST"),
}

_SUBMIT_METHODS: Mapping[str, Sequence[str]] = {"submit": ("POST",), "any": ("POST",)}


def _route_and_method(
    methods: Mapping[str, Sequence[str]], route: str
) -> st.SearchStrategy[tuple[str, str | None]]:
    return st.tuples(st.just(route), st.none() | st.sampled_from(methods[route]))


_CATEGORY_MESSAGES = st.builds(
    "{}: {}".format,
    st.sampled_from(["Internal server error", "Service unavailable", "Bad gateway"]),
    st.text(string.ascii_lowercase + " ", min_size=1, max_size=20).map(lambda s: s.strip() or "x"),
)

_TIMED = {"latency", "slow_body", "hang", "result_slow"}


def _schedule_dicts() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.just({"kind": "always"}),
        st.just({"kind": "once"}),
        st.builds(lambda n: {"kind": "times", "n": n}, st.integers(1, 5)),
        st.builds(lambda n: {"kind": "after", "n": n}, st.integers(0, 5)),
        st.builds(lambda n: {"kind": "every", "n": n}, st.integers(1, 5)),
        st.builds(
            lambda p: {"kind": "probability", "p": p},
            st.floats(0.0, 1.0, allow_nan=False),
        ),
    )


def _options(
    kind: str, statuses: st.SearchStrategy[int], delays: st.SearchStrategy[float]
) -> st.SearchStrategy[dict[str, Any]]:
    """Options for one fault kind; timed faults always get a delay from `delays`, because
    their own defaults (up to 30 s) are real waits."""
    optional: dict[str, st.SearchStrategy[Any]] = {}
    required: dict[str, st.SearchStrategy[Any]] = {}
    if kind == "error":
        required["status"] = statuses
        optional["message"] = _CATEGORY_MESSAGES
        optional["retry_after"] = st.integers(0, 30).map(float)
    elif kind == "latency":
        return st.one_of(
            st.fixed_dictionaries({"seconds": delays}),
            st.tuples(delays, delays).map(lambda d: {"min": min(d), "max": max(d)}),
            st.fixed_dictionaries({"median": delays, "sigma": st.floats(0.0, 0.5)}),
        )
    elif kind in _TIMED:
        required["seconds"] = delays
    elif kind == "task_fail":
        optional["message"] = st.sampled_from(
            [
                "Task failed: no face detected in the video",
                "Task failed: the model could not process the input",
            ]
        )
    elif kind == "task_stuck":
        optional["status"] = st.sampled_from(["pending", "processing"])
    elif kind == "task_slow":
        optional["factor"] = st.floats(0.1, 50.0)
    elif kind == "task_not_found":
        optional["polls"] = st.integers(1, 4)
    elif kind == "expire_early":
        optional["seconds"] = st.floats(0.0, 600.0)
    elif kind == "result_error":
        optional["status"] = st.sampled_from([403, 404, 410, 500, 503])
    return st.fixed_dictionaries(required, optional=optional)


def _rule(
    kind: str,
    route: str,
    options: dict[str, Any],
    schedule: Mapping[str, Any],
    phase: str,
    method: str | None,
    flat: bool,
) -> dict[str, Any]:
    if not flat:
        match: dict[str, Any] = {"route": route}
        if method is not None:
            match["method"] = method
        return {
            "fault": {"kind": kind, **options},
            "match": match,
            "schedule": dict(schedule),
            "phase": phase,
        }
    rule: dict[str, Any] = {"fault": kind, "route": route, "phase": phase, **options}
    if method is not None:
        rule["method"] = method
    schedule_kind = schedule["kind"]
    if schedule_kind == "once":
        rule["once"] = True
    elif schedule_kind == "probability":
        rule["probability"] = schedule["p"]
    elif schedule_kind != "always":
        rule[schedule_kind] = schedule["n"]
    return rule


def fault_rules(
    *,
    routes: Collection[str] | None = None,
    kinds: Collection[str] | None = None,
    schedules: st.SearchStrategy[Mapping[str, Any]] | None = None,
    statuses: st.SearchStrategy[int] | None = None,
    delays: st.SearchStrategy[float] | None = None,
) -> st.SearchStrategy[dict[str, Any]]:
    """Rule dicts that `FaultEngine.add` / `mock.add_fault` / `Rule.from_dict` accept.

    Both shapes the admin API takes are drawn: the nested one `Rule.describe()` prints
    and the flat shorthand (`{"fault": "error", "status": 503, "times": 2}`). Task and
    result faults only ever get the routes they can apply to (`submit`, `any`).

    - `routes` / `kinds`: which route names and fault kinds may appear.
    - `schedules`: schedule dicts (`{"kind": "times", "n": 2}` …); default any kind.
    - `statuses`: the status of `error` faults; default the provider's catalogue.
    - `delays`: seconds for timed faults; default at most 50 ms, so a chaos run stays fast.
    """
    _check_names("routes", routes, ROUTES)
    _check_names("kinds", kinds, sorted(FAULT_KINDS))
    for name, value in (("schedules", schedules), ("statuses", statuses), ("delays", delays)):
        _check_strategy(name, value)
    allowed_routes = [r for r in ROUTES if routes is None or r in routes]
    schedule_values = schedules if schedules is not None else _schedule_dicts()
    status_values = (
        statuses
        if statuses is not None
        else st.sampled_from([400, 401, 402, 404, 429, 500, 502, 503, 504])
    )
    delay_values = delays if delays is not None else st.floats(0.0, 0.05, allow_nan=False)
    per_kind: list[st.SearchStrategy[dict[str, Any]]] = []
    for kind in sorted(FAULT_KINDS):
        if kinds is not None and kind not in kinds:
            continue
        group = FAULT_KINDS[kind].group
        kind_routes = [
            r for r in allowed_routes if group not in ("task", "result") or r in ("submit", "any")
        ]
        if not kind_routes:
            continue
        # Task and result faults act on the submit, so only POST (or no method) can fire.
        methods = _METHOD_FOR_ROUTE if group not in ("task", "result") else _SUBMIT_METHODS
        route_and_method = st.sampled_from(kind_routes).flatmap(partial(_route_and_method, methods))
        per_kind.append(
            st.builds(
                lambda rm, options, schedule, phase, flat, kind=kind: _rule(
                    kind, rm[0], options, schedule, phase, rm[1], flat
                ),
                route_and_method,
                _options(kind, status_values, delay_values),
                schedule_values,
                st.sampled_from(["before", "after"]),
                st.booleans(),
            )
        )
    if not per_kind:
        raise InvalidArgument(
            f"no fault kind in {sorted(kinds or FAULT_KINDS)} can apply to routes "
            f"{allowed_routes} (task and result faults need 'submit' or 'any')"
        )
    return st.one_of(per_kind)


def fault_schedules(
    *,
    rules: st.SearchStrategy[Mapping[str, Any]] | None = None,
    min_size: int = 0,
    max_size: int = 5,
) -> st.SearchStrategy[list[Mapping[str, Any]]]:
    """Lists of rules for one chaos run, in the order the engine consults them (here a
    "schedule" is the run's whole plan, not the `Schedule` of a single rule)."""
    _check_strategy("rules", rules)
    _check_size(min_size, max_size, 0, 50, "fault_schedules")
    return st.lists(
        rules if rules is not None else fault_rules(), min_size=min_size, max_size=max_size
    )
