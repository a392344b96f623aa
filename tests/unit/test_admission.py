"""The service's order of checks on a public request, and its strict reading of a body.

The admission sees plain values (header strings, body bytes, the declared length), so
these tests drive it without HTTP; each pairs two faults of a request and checks that the
one the service looks at first is the one the client hears about.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidu_lipsync_mock.config import MockConfig
from vidu_lipsync_mock.service.admission import Admission, parse_json_object
from vidu_lipsync_mock.service.clock import ManualClock
from vidu_lipsync_mock.service.errors import ApiError
from vidu_lipsync_mock.service.keys import make_api_key
from vidu_lipsync_mock.state import MockState

T0 = 1_700_000_080.0  # 20 s before a minute's end: the quota window resets at T0 + 20
MODEL = "vidu/lip-sync"
KEY = "mdlx-" + "k" * 48
AUTH = f"Bearer {KEY}"
JSON = "application/json"
BODY = json.dumps({"video_url": "https://example.com/v.mp4"}).encode()
LIMIT = 1024  # max_body_bytes


def admission(**settings: Any) -> Admission:
    config = MockConfig.build({"clock": "manual", "max_body_bytes": LIMIT, **settings})
    return MockState(config, clock=ManualClock(T0)).admission


def submit(
    gate: Admission,
    authorization: str | None = AUTH,
    model_id: str = MODEL,
    body: bytes = BODY,
    declared_length: int | None = None,
    content_type: str | None = JSON,
) -> ApiError | None:
    """The refusal of one submit, or None if it was let in."""
    try:
        gate.admit_submit(authorization, model_id, body, declared_length, content_type)
    except ApiError as error:
        return error
    return None


def status(error: ApiError | None) -> int | None:
    return None if error is None else error.status


def exhausted(**settings: Any) -> Admission:
    """An admission whose key has used its whole quota of one request."""
    gate = admission(rate_limit=1, **settings)
    assert submit(gate) is None
    return gate


# --- the order of checks ----------------------------------------------------------------------


def test_a_well_formed_submit_is_let_in_with_what_the_route_needs() -> None:
    api_key, verdict, spec, params = admission(rate_limit=10).admit_submit(
        AUTH, MODEL, BODY, len(BODY), JSON
    )
    assert api_key == KEY
    assert verdict is not None
    assert verdict.remaining == 9
    assert spec.model_id == MODEL
    assert params == {"video_url": "https://example.com/v.mp4"}


@pytest.mark.parametrize(
    "bad_body",
    [
        {"model_id": "nobody/nothing"},
        {"body": b"x" * (LIMIT + 1)},
        {"declared_length": LIMIT + 1},
        {"content_type": "text/plain"},
        {"body": b"{"},
        {"body": b"{}"},
    ],
)
def test_a_bad_key_is_heard_before_anything_about_the_request(bad_body: dict[str, Any]) -> None:
    assert status(submit(admission(), authorization=None, **bad_body)) == 401
    assert status(submit(admission(), authorization="Bearer mdlx-short", **bad_body)) == 401


def test_magic_keys_answer_at_the_key_check() -> None:
    gate = admission()
    assert status(submit(gate, f"Bearer {make_api_key('mock401')}", "nobody/x")) == 401
    assert status(submit(gate, f"Bearer {make_api_key('mock402')}", "nobody/x")) == 402


def test_an_allow_list_refuses_other_keys_before_the_quota_counts_them() -> None:
    gate = admission(api_keys=[KEY], rate_limit=1)
    other = f"Bearer {make_api_key('someone-else')}"
    assert status(submit(gate, other)) == 401
    assert submit(gate) is None  # the refused key did not use the quota


@pytest.mark.parametrize(
    "bad_body",
    [
        {"model_id": "nobody/nothing"},
        {"declared_length": LIMIT + 1},
        {"content_type": None},
        {"body": b"[]"},
    ],
)
def test_over_quota_is_heard_before_anything_about_the_request(bad_body: dict[str, Any]) -> None:
    error = submit(exhausted(retry_after_header=True), **bad_body)
    assert error is not None
    assert error.status == 429
    assert error.headers == {
        "X-RateLimit-Limit": "1",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(int(T0) + 20),
        "Retry-After": "20",
    }


def test_a_poll_checks_the_key_then_the_quota() -> None:
    gate = exhausted()
    with pytest.raises(ApiError) as caught:
        gate.admit("Bearer nonsense")
    assert caught.value.status == 401
    with pytest.raises(ApiError) as caught:
        gate.admit(AUTH)
    assert caught.value.status == 429


def test_a_magic_rate_limited_key_gets_its_tight_quota() -> None:
    gate = admission(rate_limit=100)
    auth = f"Bearer {make_api_key('mockratelimit')}"
    verdicts = [gate.admit(auth)[1] for _ in range(5)]
    assert [v.remaining for v in verdicts if v is not None] == [4, 3, 2, 1, 0]
    with pytest.raises(ApiError) as caught:
        gate.admit(auth)
    assert caught.value.status == 429


def test_an_unknown_model_is_heard_before_the_body() -> None:
    gate = admission()
    for bad in ({"body": b"x" * (LIMIT + 1)}, {"declared_length": 10**9}, {"body": b"{"}):
        assert status(submit(gate, model_id="nobody/nothing", **bad)) == 404


def test_an_oversize_body_is_heard_before_its_type_and_its_json() -> None:
    gate = admission()
    big = b"{" * (LIMIT + 1)
    assert status(submit(gate, body=big, content_type="text/plain")) == 413
    assert status(submit(gate, declared_length=LIMIT + 1, content_type=None)) == 413
    assert status(submit(gate, body=big)) == 413


def test_the_declared_length_and_the_bytes_read_are_judged_alike() -> None:
    gate = admission()
    assert gate.oversized(LIMIT + 1)
    assert not gate.oversized(LIMIT)
    assert submit(gate, body=b" " * (LIMIT - len(BODY)) + BODY, declared_length=LIMIT) is None
    assert status(submit(gate, declared_length=LIMIT + 1)) == 413
    assert status(submit(gate, body=b" " * (LIMIT + 1 - len(BODY)) + BODY)) == 413


def test_the_type_is_heard_before_the_json_and_the_json_before_the_fields() -> None:
    gate = admission()
    assert status(submit(gate, body=b"{", content_type="text/plain")) == 415
    error = submit(gate, body=b"[]")
    assert error is not None
    assert (error.status, error.message) == (
        400,
        "Invalid format: request body must be a JSON object",
    )
    error = submit(gate, body=b"{}")
    assert error is not None
    assert (error.status, error.message) == (
        400,
        "Invalid parameters: parameter 'video_url' is required",
    )


def test_refusals_after_the_quota_carry_its_headers() -> None:
    gate = admission(rate_limit=10)
    error = submit(gate, model_id="nobody/nothing")
    assert error is not None
    assert error.status == 404
    assert error.headers == {
        "X-RateLimit-Limit": "10",
        "X-RateLimit-Remaining": "9",
        "X-RateLimit-Reset": str(int(T0) + 20),
    }
    error = submit(admission(rate_limit=0), model_id="nobody/nothing")
    assert error is not None
    assert error.headers == {}


def test_a_body_already_decoded_is_not_decoded_again() -> None:
    """A fault rule that matched on body fields had the body decoded already."""
    parsed = {"video_url": "https://example.com/other.mp4"}
    *_, params = admission().admit_submit(AUTH, MODEL, b"not even json", None, JSON, parsed)
    assert params is parsed
    # ... but a body of the wrong type is still refused for its type
    with pytest.raises(ApiError) as caught:
        admission().admit_submit(AUTH, MODEL, BODY, None, "text/plain", parsed)
    assert caught.value.status == 415


# --- parse_json_object ------------------------------------------------------------------------


def parse_error(raw: bytes, content_type: str | None = JSON) -> ApiError:
    with pytest.raises(ApiError) as caught:
        parse_json_object(raw, content_type)
    return caught.value


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        " application/json ;charset=UTF-8",
        "application/vnd.api+json",
    ],
)
def test_json_content_types_are_accepted(content_type: str) -> None:
    assert parse_json_object(b'{"video_url": "x"}', content_type) == {"video_url": "x"}


@pytest.mark.parametrize(
    ("content_type", "shown"),
    [
        (None, "(none)"),
        ("", "(none)"),
        ("text/plain", "text/plain"),
        ("application/x-www-form-urlencoded", "application/x-www-form-urlencoded"),
        ("multipart/form-data; boundary=x", "multipart/form-data"),
        ("application/jsonp", "application/jsonp"),
    ],
)
def test_other_content_types_are_415(content_type: str | None, shown: str) -> None:
    error = parse_error(b'{"video_url": "x"}', content_type)
    assert error.status == 415
    assert error.message == (
        f"Unsupported media type: Content-Type must be application/json, got {shown}"
    )


@pytest.mark.parametrize("raw", [b"", b" ", b"\r\n\t "])
def test_an_empty_body_is_invalid_json(raw: bytes) -> None:
    error = parse_error(raw)
    assert (error.status, error.message) == (
        400,
        "Invalid format: invalid JSON format",
    )


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b'{"video_url": }',
        b"{'video_url': 'x'}",
        b'{"video_url": "x",}',
        b'{"video_url": "\xff\xfe"}',  # invalid UTF-8
        b"\xef\xbb\xbf{}",  # a UTF-8 byte-order mark
        b'\xff\xfe{\x00"\x00',  # UTF-16
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": -Infinity}',
        b"[" * 100_000,
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"a": ' + b"9" * 10_000 + b"}",
        b'{"a": 1} trailing',
    ],
    ids=lambda raw: repr(raw[:24]),
)
def test_malformed_json_is_the_providers_400(raw: bytes) -> None:
    error = parse_error(raw)
    assert error.status == 400
    assert error.message == "Invalid format: invalid JSON format"


@pytest.mark.parametrize("raw", [b"[]", b'[{"video_url": "x"}]', b'"x"', b"1", b"null", b"true"])
def test_a_body_that_is_not_an_object_is_400(raw: bytes) -> None:
    error = parse_error(raw)
    assert (error.status, error.message) == (
        400,
        "Invalid format: request body must be a JSON object",
    )


@pytest.mark.parametrize("raw", [b'{"a": 1e999}', b'{"a": [-1e400]}'])
def test_numbers_too_large_for_a_double_are_refused(raw: bytes) -> None:
    """JSON has no infinity; a number that overflows a double must not become one (it would
    pass type checks and be rendered back as the non-JSON token `Infinity`)."""
    assert parse_error(raw).status == 400


def test_a_lone_surrogate_escape_is_refused() -> None:
    """`"\\ud800"` decodes to a string that cannot be encoded as UTF-8: accepting it would
    make any later rendering of the params (`wire.dumps`) crash with a 500."""
    assert parse_error(b'{"video_url": "\\ud800"}').status == 400


def test_big_but_parseable_numbers_and_unicode_are_kept() -> None:
    value = parse_json_object('{"n": 123456789012345678901234567890, "s": "日本"}'.encode(), JSON)
    assert value == {"n": 123456789012345678901234567890, "s": "日本"}


def _parse_or_error(raw: bytes) -> dict[str, Any] | ApiError:
    """The parsed object or the ApiError; any other exception fails the test."""
    try:
        value = parse_json_object(raw, JSON)
    except ApiError as error:
        return error
    assert isinstance(value, dict)
    return value


def _strict_json_round_trip(value: dict[str, Any]) -> None:
    """What was accepted can be rendered back as strict JSON in UTF-8."""
    text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    text.encode("utf-8")
    assert json.loads(text) == value


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_give_an_object_or_a_400(raw: bytes) -> None:
    outcome = _parse_or_error(raw)
    if isinstance(outcome, ApiError):
        assert outcome.status == 400
        return
    value = outcome
    _strict_json_round_trip(value)


def _json_ish_text() -> st.SearchStrategy[bytes]:
    """Near-JSON: real JSON documents with a few bytes spliced in, so the parser gets far."""
    documents = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
        max_leaves=8,
    ).map(lambda v: json.dumps(v).encode())
    return st.tuples(documents, st.integers(0, 40), st.binary(max_size=3)).map(
        lambda t: t[0][: t[1]] + t[2] + t[0][t[1] :]
    )


@settings(max_examples=300, deadline=None)
@given(raw=_json_ish_text())
def test_near_json_gives_an_object_or_a_400(raw: bytes) -> None:
    outcome = _parse_or_error(raw)
    if isinstance(outcome, ApiError):
        assert outcome.status == 400
        return
    value = outcome
    _strict_json_round_trip(value)
