"""API keys: `Authorization: Bearer mdlx-…`, one 401 message for every refusal."""

from __future__ import annotations

import string

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from vidu_lipsync_mock.service.errors import ApiError
from vidu_lipsync_mock.service.keys import KEY_PATTERN, KeyPolicy, make_api_key, redact

ALNUM = string.ascii_letters + string.digits
KEY = "mdlx-" + "Ab3" * 16  # 48 letters and digits, like a real key
MESSAGE = "Authentication failed: invalid API key"

well_formed_keys = st.text(ALNUM, min_size=48, max_size=48).map(lambda body: "mdlx-" + body)


def refused(policy: KeyPolicy, header: str | None) -> ApiError:
    with pytest.raises(ApiError) as caught:
        policy.authenticate(header)
    return caught.value


@settings(max_examples=100, deadline=None)
@given(key=well_formed_keys)
def test_a_well_formed_bearer_key_is_accepted(key: str) -> None:
    assert KeyPolicy().authenticate(f"Bearer {key}") == key


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_scheme_is_case_insensitive(scheme: str) -> None:
    assert KeyPolicy().authenticate(f"{scheme} {KEY}") == KEY


def test_surrounding_whitespace_is_tolerated() -> None:
    assert KeyPolicy().authenticate(f"  Bearer   {KEY}  ") == KEY


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "Bearer",
        "Bearer ",
        KEY,  # no scheme
        f"Basic {KEY}",
        f"Token {KEY}",
        f"Bearer{KEY}",
        "Bearer mdlx-test",
        "Bearer mdlx-",
        f"Bearer {KEY[:-1]}!",  # a symbol in the key
        f"Bearer {KEY[:20]}-{KEY[21:]}",
        f"Bearer {KEY[:20]}_{KEY[21:]}",
        "Bearer " + "mdlx-" + "é" * 48,  # letters, but not ASCII ones
        "Bearer " + "MDLX-" + "a" * 48,  # the prefix is lower-case
        "Bearer " + "sk-" + "a" * 48,  # another provider's key
        "Bearer " + "mdlx-" + "a" * 31,  # too short
        "Bearer " + "mdlx-" + "a" * 65,  # too long
        f"Bearer {KEY} extra",
    ],
)
def test_missing_or_malformed_keys_get_the_one_401(header: str | None) -> None:
    error = refused(KeyPolicy(), header)
    assert error.status == 401
    assert error.message == MESSAGE
    assert error.envelope() == {"code": 401, "message": MESSAGE}
    assert not error.retryable


@settings(max_examples=200, deadline=None)
@given(header=st.one_of(st.none(), st.text(max_size=80)))
def test_any_header_is_either_a_key_or_the_401(header: str | None) -> None:
    outcome: ApiError | str
    try:
        outcome = KeyPolicy().authenticate(header)
    except ApiError as error:
        outcome = error
    if isinstance(outcome, ApiError):
        assert (outcome.status, outcome.message) == (401, MESSAGE)
    else:
        assert KEY_PATTERN.fullmatch(outcome)
        assert header is not None
        assert outcome in header


def test_an_allow_list_refuses_other_well_formed_keys() -> None:
    other = make_api_key()
    policy = KeyPolicy([KEY])
    assert policy.authenticate(f"Bearer {KEY}") == KEY
    error = refused(policy, f"Bearer {other}")
    assert (error.status, error.message) == (401, MESSAGE)


def test_an_allow_list_still_refuses_malformed_keys_it_lists() -> None:
    policy = KeyPolicy(["mdlx-test"])
    assert refused(policy, "Bearer mdlx-test").status == 401


def test_an_empty_allow_list_refuses_everyone() -> None:
    assert refused(KeyPolicy([]), f"Bearer {KEY}").status == 401


def test_without_an_allow_list_any_well_formed_key_is_accepted() -> None:
    policy = KeyPolicy()
    assert policy.allowed is None
    for _ in range(5):
        key = make_api_key()
        assert policy.authenticate(f"Bearer {key}") == key


# --- make_api_key ----------------------------------------------------------------------------


def test_make_api_key_gives_fresh_well_formed_keys() -> None:
    keys = {make_api_key() for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert key.startswith("mdlx-")
        assert len(key) == 5 + 48
        assert KEY_PATTERN.fullmatch(key)


@settings(max_examples=100, deadline=None)
@example(seed_text="José")  # a non-ASCII letter must not end up in the key
@given(seed_text=st.text(max_size=80))
def test_make_api_key_from_any_text_is_accepted_and_stable(seed_text: str) -> None:
    key = make_api_key(seed_text)
    assert key == make_api_key(seed_text)
    assert KeyPolicy().authenticate(f"Bearer {key}") == key


def test_make_api_key_from_text_is_readable() -> None:
    key = make_api_key("alice")
    assert key == "mdlx-alice" + "0" * 43
    assert make_api_key("bob") != key


# --- redact ------------------------------------------------------------------------------------


def test_redact_keeps_enough_to_tell_keys_apart() -> None:
    assert redact(KEY) == f"{KEY[:9]}…{KEY[-4:]}"
    assert redact(KEY) != redact(make_api_key())
    assert redact("short") == "***"
    assert redact("") == "***"


@settings(max_examples=100, deadline=None)
@given(key=well_formed_keys)
def test_redact_hides_most_of_a_real_key(key: str) -> None:
    shown = redact(key)
    assert key not in shown
    secret = key.removeprefix("mdlx-")
    assert secret not in shown
    assert len(shown.replace("…", "")) - len("mdlx-") <= 8  # 8 of 48 secret characters


@settings(max_examples=200, deadline=None)
@example(key="sk-1234567890")  # 13 characters: shown as "sk-123456…7890"
@given(key=st.text(alphabet=ALNUM + "-_.", min_size=1, max_size=60))
def test_redact_never_reveals_the_full_key(key: str) -> None:
    """Whatever a client sends (even a short or foreign key, logged from a refused request),
    the journal must not hold enough to reconstruct it."""
    shown = redact(key)
    assert key not in shown
    assert shown.replace("…", "") != key
