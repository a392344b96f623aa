"""The order in which the service refuses a public request, decided in one place.

A client of the real service sees only the first thing wrong with its request, so which
check comes first is part of the contract: the key (401, or a magic key's 401/402), then
the quota (429; a request refused later still counted), then, for a submit, the model
(404), the body's size (413), its type (415), its JSON and its fields (400). `Admission`
runs them in that order and hands the route what it needs; every refusal after the quota
carries the quota headers, as every answer does. What a valid submit may still meet is the
task's creation (`MockState.submit`: magic inputs, then the concurrency limit).

It takes plain values (the header strings, the body bytes, the declared length), so the
Python API and any transport ask the same questions and get the same answers.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable
from typing import Any

from vidu_lipsync_mock.service import magic
from vidu_lipsync_mock.service.clock import Clock
from vidu_lipsync_mock.service.errors import (
    ApiError,
    body_too_large,
    invalid_format,
    invalid_json,
    model_not_found,
    unsupported_media_type,
)
from vidu_lipsync_mock.service.keys import KeyPolicy
from vidu_lipsync_mock.service.quotas import RateLimiter, Verdict, with_quota
from vidu_lipsync_mock.service.registry import ModelSpec, Registry
from vidu_lipsync_mock.service.uploads import file_too_large

#: What rules and the journal call an upload, whose body limit is the file limit's.
UPLOAD_ROUTE = "upload"
#: Room for the form around an uploaded file (boundaries and part headers).
MULTIPART_OVERHEAD = 64 * 1024

__all__ = [
    "MULTIPART_OVERHEAD",
    "UPLOAD_ROUTE",
    "Admission",
    "Admitted",
    "AdmittedSubmit",
    "decode_json_object",
    "is_json_type",
    "parse_json_object",
]


#: A request that passed its checks: the caller's key, and its quota after this request
#: (None when limiting is off). Plain tuples, not named ones: every public request makes
#: one, and building a named tuple costs several times what the checks do on a poll.
Admitted = tuple[str, Verdict | None]

#: A submit that passed its checks: as `Admitted`, then the model and the parameters,
#: valid for its schema.
AdmittedSubmit = tuple[str, Verdict | None, ModelSpec, dict[str, Any]]


class Admission:
    """The checks of one mock, in the service's order (see the module docstring)."""

    def __init__(
        self,
        keys: KeyPolicy,
        limiter: RateLimiter,
        clock: Clock,
        registry: Registry,
        max_body_bytes: int,
        *,
        upload_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self.keys = keys
        self.limiter = limiter
        self.clock = clock
        self.registry = registry
        self.max_body_bytes = max_body_bytes
        self.upload_bytes = upload_bytes
        #: An upload's body: the file plus the form around it.
        self.upload_body_bytes = upload_bytes + MULTIPART_OVERHEAD

    def body_limit(self, route: str) -> int:
        """The largest body a route reads: an upload's is the file limit plus the form's
        overhead, every other route's `max_body_bytes`. The one place both are decided, so
        the public app (which stops reading past it) and the routes agree."""
        return self.upload_body_bytes if route == UPLOAD_ROUTE else self.max_body_bytes

    def model(self, model_id: str) -> ModelSpec:
        """The model a request names, or the provider's 404."""
        spec = self.registry.get(model_id)
        if spec is None:
            raise model_not_found(model_id)
        return spec

    def oversized(self, length: int) -> bool:
        """Whether a body of this many bytes is refused (413): the HTTP layer asks before
        reading a body whose declared length already says so."""
        return length > self.max_body_bytes

    def admit(self, authorization: str | None) -> Admitted:
        """Any public request: the key (401/402), then the quota (429)."""
        api_key = self.keys.authenticate(authorization)
        limiter = self.limiter
        if api_key.startswith(magic.MAGIC_KEY_PREFIX):
            tight = magic.key_effect(api_key)  # raises for a refusing magic key
            if tight is not None and limiter.limit_for(api_key) != tight:
                limiter.set_limit(api_key, tight)
        if limiter.limit <= 0 and not limiter.overrides:
            return api_key, None  # limiting off for every key: nothing to count
        return api_key, limiter.admit(api_key, self.clock.now())

    def admit_submit(
        self,
        authorization: str | None,
        model_id: str,
        body: bytes,
        declared_length: int | None,
        content_type: str | None,
        parsed: dict[str, Any] | None = None,
    ) -> AdmittedSubmit:
        """A submit: `admit`, then the submit's checks in the module docstring's order.
        `parsed` is the body already decoded (a fault rule looked at it), if it was."""
        api_key, verdict = self.admit(authorization)
        try:
            spec = self.registry.get(model_id)
            if spec is None:
                raise model_not_found(model_id)
            size = len(body)
            if declared_length is not None and declared_length > size:
                size = declared_length  # what was read, or more if the rest was not
            if size > self.max_body_bytes:
                raise body_too_large(self.max_body_bytes)
            params = parsed
            if params is None or not is_json_type(content_type):
                params = parse_json_object(body, content_type)
            spec.validator.validate(params)
        except ApiError as error:
            raise with_quota(error, verdict) from None
        return api_key, verdict, spec, params

    def admit_upload(
        self, authorization: str | None, body: bytes, declared_length: int | None
    ) -> Admitted:
        """An upload: `admit`, then the body's size (413). The form (415, 400) and the file
        (400, 413, 415) are the route's and the store's to read, in that order."""
        api_key, verdict = self.admit(authorization)
        if max(len(body), declared_length or 0) > self.upload_body_bytes:  # read or declared
            raise with_quota(file_too_large(self.upload_bytes), verdict)
        return api_key, verdict


# -- the body as JSON -------------------------------------------------------------------------


def is_json_type(content_type: str | None) -> bool:
    """`application/json` or a `+json` type, parameters aside."""
    return content_type == "application/json" or _is_json_type(content_type)


@functools.lru_cache(maxsize=256)
def _is_json_type(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def parse_json_object(raw: bytes, content_type: str | None) -> dict[str, Any]:
    """Decode a submit body the way a strict JSON API does.

    Only `application/json` (or a `+json` type) is accepted: a client that forgets the
    header must find out here, not in production. Bodies must be UTF-8 JSON objects;
    NaN/Infinity, invalid UTF-8, numbers too long to parse and nesting too deep to parse
    are all reported as invalid JSON rather than crashing the handler.
    """
    if not is_json_type(content_type):
        media_type = (content_type or "").split(";", 1)[0].strip().lower()
        raise unsupported_media_type(media_type)
    return decode_json_object(raw)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} does not fit in a double")
    return value


#: What JSON counts as whitespace (RFC 8259), and nothing else.
_JSON_WHITESPACE = " \t\n\r"

_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
#: The decoder's C scanner (set by `JSONDecoder.__init__`, undeclared in typeshed).
_scan: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def decode_json_object(raw: bytes) -> dict[str, Any]:
    """A body as a JSON object, strictly (see `parse_json_object`), whatever its type."""
    try:
        text = raw.decode("utf-8").strip(_JSON_WHITESPACE)
        # The scanner on the stripped text, not `decode`: the same strictness (a value,
        # then nothing), without `decode`'s two regular-expression passes per body (nor
        # `raw_decode`'s frame around the scanner; it raises StopIteration on no value).
        value, end = _scan(text, 0)
    except (ValueError, RecursionError, StopIteration):
        raise invalid_json() from None  # the provider's verbatim message, empty bodies too
    if end != len(text):
        raise invalid_json()
    # A `\ud800` escape decodes to a string no UTF-8 encoder accepts; only look when the
    # text has such an escape at all, so ordinary bodies pay nothing.
    if "\\u" in text and _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        raise invalid_json()
    if not isinstance(value, dict):
        raise invalid_format("request body must be a JSON object")
    return value
