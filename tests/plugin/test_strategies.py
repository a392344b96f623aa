"""The Hypothesis strategies: what they generate is what the mock (and the provider) says.

Valid bodies must pass the compiled validator *and* a real submit; invalid ones must be
refused with exactly the message the strategy predicts, both by the validator and over
HTTP. A stand-in schema with constraints the bundled one lacks checks that bodies are
really derived from the schema, not from field names written into the module.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import find as hypothesis_find
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.faults import FAULT_KINDS, FaultEngine, Rule, Schedule
from vidu_lipsync_mock.pytest_plugin import strategies
from vidu_lipsync_mock.pytest_plugin.strategies import (
    DEFECTS,
    InvalidBody,
    api_keys,
    arguments,
    fault_rules,
    fault_schedules,
    http_urls,
    invalid_submit_bodies,
    submit_bodies,
    task_ids,
)
from vidu_lipsync_mock.service.errors import ApiError
from vidu_lipsync_mock.service.keys import KEY_PATTERN, KeyPolicy
from vidu_lipsync_mock.service.registry import Registry, load_spec

SPEC = Registry.bundled().get("vidu/lip-sync")
assert SPEC is not None
SUBMIT = "/api/v1/vidu/lip-sync/async"
FEW = settings(max_examples=40, deadline=None)
T = TypeVar("T")


def find(strategy: st.SearchStrategy[T], condition: Callable[[T], bool]) -> T:
    """The first example satisfying `condition`, unshrunk: these tests only ask whether
    the strategy can produce it, and shrinking costs seconds."""
    return hypothesis_find(
        strategy,
        condition,
        settings=settings(phases=[Phase.generate], max_examples=500, database=None),
    )


URL = re.compile(r"https?://[a-z0-9.]+\.[a-z]+/([a-z0-9_-]+/)*[a-z0-9_-]+\.([a-z0-9]+)")


class Api:
    """A synchronous ASGI client on one event loop, shared by many examples."""

    def __init__(self) -> None:
        self.mock = LipSyncMock(clock="manual", rate_limit=0)
        self.loop = asyncio.new_event_loop()
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.mock.app),
            base_url="http://testserver",
            headers=self.mock.auth_headers,
        )

    def submit(self, body: Any) -> httpx.Response:
        # Serialised by hand: httpx sends no body at all for `json=None`.
        content = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        return self.loop.run_until_complete(
            self.http.post(SUBMIT, content=content, headers=headers)
        )

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response | None:
        try:
            return self.loop.run_until_complete(self.http.request(method, url, **kw))
        except (httpx.TransportError, ConnectionError):
            return None

    def close(self) -> None:
        self.loop.run_until_complete(self.http.aclose())
        self.loop.close()
        assert not self.mock.crashes, self.mock.crashes[0].traceback


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    made = Api()
    yield made
    made.close()


# -- valid bodies -------------------------------------------------------------------------


@FEW
@given(submit_bodies())
def test_valid_bodies_pass_the_validator(body: dict[str, Any]) -> None:
    assert SPEC is not None
    SPEC.validator.validate(body)
    assert set(body) <= set(SPEC.request_schema["properties"])
    assert "video_url" in body


@FEW
@given(submit_bodies())
def test_default_urls_are_plausible_media_links(body: dict[str, Any]) -> None:
    expected = {
        "video_url": {"mp4", "mov"},
        "audio_url": {"mp3", "wav", "m4a"},
        "reference_face_image_url": {"jpg", "png"},
    }
    for name, url in body.items():
        match = URL.fullmatch(url)
        assert match is not None, url
        assert match.group(2) in expected[name], (name, url)
        assert "?" not in url  # a query could carry the mock's magic `mock=` scenario
        assert "#" not in url


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(submit_bodies())
def test_the_mock_accepts_every_valid_body(api: Api, body: dict[str, Any]) -> None:
    response = api.submit(body)
    assert response.status_code == 200, response.text
    task_id = response.json()["data"]["task_id"]
    assert api.mock.task(task_id).params == body


@FEW
@given(submit_bodies(urls=st.just("https://cdn.example.com/x.bin")))
def test_urls_are_the_callers_to_choose(body: dict[str, Any]) -> None:
    assert set(body.values()) == {"https://cdn.example.com/x.bin"}


def test_every_optional_field_shows_up_and_can_be_left_out() -> None:
    for name in ("audio_url", "reference_face_image_url"):
        find(submit_bodies(), lambda body: name in body)  # noqa: B023 - used at once
        find(submit_bodies(), lambda body: name not in body)  # noqa: B023


@FEW
@given(http_urls(extensions={"webm"}))
def test_http_urls_take_the_extensions_asked_for(url: str) -> None:
    assert url.endswith(".webm")
    assert url.startswith(("https://", "http://"))


# -- invalid bodies -----------------------------------------------------------------------


@FEW
@given(invalid_submit_bodies())
def test_invalid_bodies_fail_validation_with_the_predicted_message(invalid: InvalidBody) -> None:
    assert SPEC is not None
    with pytest.raises(ApiError) as raised:
        SPEC.validator.validate(invalid.body)
    assert raised.value.status == 400
    if invalid.defect == "not_an_object":
        # The validator words this one differently from the HTTP layer, which answers
        # first (see test_invalid_bodies_are_refused_over_http): only the category matches.
        assert raised.value.message.startswith("Invalid format: request body must be")
    else:
        assert raised.value.message == invalid.message


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(invalid_submit_bodies())
def test_invalid_bodies_are_refused_over_http(api: Api, invalid: InvalidBody) -> None:
    before = len(api.mock.tasks())
    response = api.submit(invalid.body)
    assert response.status_code == 400, response.text
    assert response.json() == {"code": 400, "message": invalid.message}
    assert len(api.mock.tasks()) == before


@pytest.mark.parametrize("defect", ["missing_required", "wrong_type", "too_short", "not_an_object"])
def test_each_defect_the_schema_allows_is_generated(defect: str) -> None:
    found = find(invalid_submit_bodies(defects=[defect]), lambda invalid: True)
    assert found.defect == defect


def test_the_required_field_is_what_goes_missing() -> None:
    invalid = find(invalid_submit_bodies(defects=["missing_required"]), lambda i: True)
    assert invalid.field == "video_url"
    assert "video_url" not in invalid.body
    assert invalid.message == "Invalid parameters: parameter 'video_url' is required"


def test_defects_the_schema_cannot_have_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="none of the defects"):
        invalid_submit_bodies(defects=["too_long", "not_in_enum", "out_of_range"])


# -- a stand-in schema: derivation, not hardcoding ----------------------------------------

STAND_IN = {
    "servers": [{"url": "https://api.modellix.ai/api/v1/acme/dubber/async"}],
    "post": {
        "x-mint": {"href": "acme/dubber"},
        "requestBody": {
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["clip_url", "language"],
                        "properties": {
                            "clip_url": {"type": "string", "minLength": 12, "maxLength": 80},
                            "language": {"type": "string", "enum": ["en", "fr", "ja"]},
                            "speed": {"type": "number", "minimum": 0.5, "maximum": 2},
                            "voices": {"type": "integer", "minimum": 1, "maximum": 4},
                            "title": {"type": "string", "minLength": 2, "maxLength": 5},
                        },
                    }
                }
            }
        },
    },
}


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> Any:
    card = {
        "slug": "acme/dubber",
        "name": "Acme Dubber",
        "category": "video",
        "description": "A stand-in model",
        "docs_url": "https://docs.example.com/acme/dubber",
        "result": {
            "type": "video",
            "format": "mp4",
            "file_name": "result.mp4",
            "content_type": "video/mp4",
            "sample": "result.mp4",
        },
    }
    spec = load_spec(STAND_IN, "stand-in", card=card)
    monkeypatch.setattr(arguments, "_registry", lambda: Registry([spec]))
    return spec


def test_bodies_follow_whatever_schema_is_loaded(stand_in: Any) -> None:
    @FEW
    @given(submit_bodies(model_id="acme/dubber"))
    def valid(body: dict[str, Any]) -> None:
        stand_in.validator.validate(body)
        assert body["language"] in ("en", "fr", "ja")
        assert 12 <= len(body["clip_url"]) <= 80

    @settings(max_examples=80, deadline=None)
    @given(invalid_submit_bodies(model_id="acme/dubber"))
    def invalid(invalid: InvalidBody) -> None:
        error = stand_in.validator.first_error(invalid.body)
        assert error is not None, invalid
        if invalid.defect != "not_an_object":
            assert error.message == invalid.message

    valid()
    invalid()
    for defect in ("too_long", "not_in_enum", "out_of_range", "too_short"):
        found = find(invalid_submit_bodies(model_id="acme/dubber", defects=[defect]), bool)
        assert stand_in.validator.first_error(found.body).message == found.message


def test_an_unknown_model_is_an_invalid_argument() -> None:
    with pytest.raises(InvalidArgument, match="acme/nothing"):
        submit_bodies(model_id="acme/nothing")


def test_options_that_should_be_strategies_are_checked() -> None:
    with pytest.raises(InvalidArgument, match="urls"):
        submit_bodies(urls="https://example.com/a.mp4")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="defects"):
        invalid_submit_bodies(defects=["typo"])


# -- fault rules ----------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(fault_rules())
def test_every_rule_builds(rule: dict[str, Any]) -> None:
    built = Rule.from_dict(rule, "r")
    assert built.fault.kind in FAULT_KINDS
    if built.fault.group in ("task", "result"):
        assert built.match.route in ("submit", "any")
        assert built.match.method in (None, "POST")
    if built.fault.kind in ("latency", "slow_body", "hang", "result_slow"):
        assert built.fault.options  # never the real-time defaults
        assert all(v <= 0.5 for k, v in built.fault.options.items() if k != "sigma")
    FaultEngine().add(rule)
    json.dumps(rule)  # admin-API and TOML ready


def test_every_fault_kind_and_schedule_kind_is_generated() -> None:
    # If the engine grows a kind, this says the strategy must learn it.
    for kind in FAULT_KINDS:
        find(fault_rules(kinds=[kind]), lambda r: True)
    for schedule in Schedule.KINDS:
        find(fault_rules(), lambda r: Rule.from_dict(r, "r").schedule.kind == schedule)  # noqa: B023
    find(fault_rules(), lambda r: isinstance(r["fault"], str))  # flat shorthand
    find(fault_rules(), lambda r: isinstance(r["fault"], dict))  # nested form


@FEW
@given(
    fault_rules(
        routes={"poll"},
        kinds={"error", "reset"},
        schedules=st.just({"kind": "times", "n": 2}),
        statuses=st.just(503),
    )
)
def test_rule_options_narrow_what_is_drawn(rule: dict[str, Any]) -> None:
    built = Rule.from_dict(rule, "r")
    assert built.match.route == "poll"
    assert built.fault.kind in ("error", "reset")
    assert (built.schedule.kind, built.schedule.n) == ("times", 2)
    if built.fault.kind == "error":
        assert built.fault.options["status"] == 503


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"routes": ["pol"]}, "unknown routes"),
        ({"kinds": ["eror"]}, "unknown kinds"),
        ({"routes": "poll"}, "collection"),
        ({"routes": []}, "empty"),
        ({"kinds": ["task_fail"], "routes": ["poll"]}, "need 'submit' or 'any'"),
        ({"delays": 0.1}, "delays"),
    ],
)
def test_rule_arguments_are_checked(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        fault_rules(**kwargs)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fault_schedules(max_size=4, rules=fault_rules(delays=st.just(0.0))))
def test_the_mock_survives_any_schedule(rules: list[dict[str, Any]]) -> None:
    """Chaos is the mock's job, crashing is not: whatever rules are loaded, every request
    gets an answer or a deliberate transport fault, and each is journaled."""
    api = Api()
    try:
        for rule in rules:
            api.mock.add_fault(rule)
        sent = 0
        response = api.request("POST", SUBMIT, json={"video_url": "https://e.com/v.mp4"})
        sent += 1
        task_id = None
        if response is not None and response.status_code == 200:
            try:
                task_id = response.json()["data"]["task_id"]
            except ValueError:
                task_id = None
        if task_id is None and api.mock.tasks():
            task_id = api.mock.tasks()[0].task_id
        if task_id is not None:
            api.mock.advance(5)
            api.request("GET", f"/api/v1/tasks/{task_id}")
            api.request("GET", f"/files/{task_id}/result.mp4")
            sent += 2
        api.request("GET", "/media/face.jpg")
        sent += 1
        assert len(api.mock.journal) == sent
    finally:
        api.close()


@FEW
@given(fault_schedules(min_size=1, max_size=3))
def test_schedules_are_bounded_lists_of_rules(rules: list[dict[str, Any]]) -> None:
    assert 1 <= len(rules) <= 3
    engine = FaultEngine()
    for rule in rules:
        engine.add(rule)
    assert len(engine.rules()) == len(rules)


def test_schedule_sizes_are_checked() -> None:
    with pytest.raises(InvalidArgument):
        fault_schedules(min_size=3, max_size=2)


# -- keys and ids ---------------------------------------------------------------------------


@FEW
@given(api_keys())
def test_keys_are_well_formed_and_ordinary(key: str) -> None:
    assert KEY_PATTERN.fullmatch(key)
    assert len(key) == 5 + 48
    assert KeyPolicy().authenticate(f"Bearer {key}") == key
    assert not key.startswith("mdlx-mock")


@FEW
@given(api_keys(min_size=32, max_size=64))
def test_key_lengths_span_what_the_provider_accepts(key: str) -> None:
    assert KEY_PATTERN.fullmatch(key)


@pytest.mark.parametrize(("low", "high"), [(31, 48), (48, 65), (50, 40)])
def test_key_lengths_outside_the_pattern_are_refused(low: int, high: int) -> None:
    with pytest.raises(InvalidArgument):
        api_keys(min_size=low, max_size=high)


@FEW
@given(task_ids())
def test_task_ids_look_like_the_service_s(task_id: str) -> None:
    assert re.fullmatch(r"task-[a-z0-9]{24}", task_id)


def test_the_module_exports_what_it_documents() -> None:
    assert sorted(strategies.__all__) == sorted(
        [
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
    )
    assert set(DEFECTS) >= {"missing_required", "wrong_type", "too_short", "not_an_object"}
