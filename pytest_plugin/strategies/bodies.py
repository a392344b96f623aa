"""Valid submit bodies, derived from the model's bundled api_schema at call time.

Nothing here names a field of the lip-sync model: a schema change (a new optional field, a
tighter `maxLength`) changes what is generated without touching this module, and a second
model dropped into `mockserver/service/specs/` is reachable with `model_id=`.
"""

from __future__ import annotations

import math
import string
from collections.abc import Collection, Mapping
from typing import Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from .arguments import check_names, check_strategy, model_spec

__all__ = ["http_urls", "json_types", "submit_bodies"]

_LOWER_ALNUM = string.ascii_lowercase + string.digits

#: File extensions a URL field gets by default, chosen by a word in the field's name, so a
#: body looks like one a real client sends (the mock does not fetch the URLs).
_MEDIA_EXTENSIONS: Mapping[str, tuple[str, ...]] = {
    "video": ("mp4", "mov"),
    "audio": ("mp3", "wav", "m4a"),
    "image": ("jpg", "png"),
    "face": ("jpg", "png"),
}


def http_urls(*, extensions: Collection[str] | None = None) -> st.SearchStrategy[str]:
    """Plausible `http(s)://host/path/file.ext` URLs.

    They never carry a query or fragment: the mock reads `mock=<scenario>` there and would
    answer a generated body with a forced outcome. Pass your own `urls` strategy to
    `submit_bodies` to test those on purpose.
    """
    if extensions is not None:
        check_names("extensions", extensions, sorted(extensions))
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


def json_types(schema: Mapping[str, Any]) -> list[str]:
    """The JSON types a schema allows (`type` may be a name or a list of names)."""
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
    types = json_types(schema) or ["string"]
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
    *, model_id: str | None = None, urls: st.SearchStrategy[str] | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Submit bodies the model's schema accepts: every required field, any optional ones.

    `model_id` is a bundled model (default: the first bundled, `vidu/lip-sync`). URL
    fields (`*_url`, or `format: uri`) draw from `urls`; by default from `http_urls`
    with extensions that suit the field (mp4/mov for video, mp3/wav/m4a for audio, jpg/png
    for an image). Values that `urls` gives outside the field's length limits are skipped.
    """
    check_strategy("urls", urls)
    return _objects(model_spec(model_id).request_schema, urls)
