"""What a task keeps of its request: each field its model's schema declares, whole up to
the field cap (longer is refused with 400), and unknown fields while they are small, the
rest summed up by size and SHA-256 under `_mock_omitted`."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from vidu_lipsync_mock.config import MockConfig
from vidu_lipsync_mock.service.clock import ManualClock
from vidu_lipsync_mock.service.errors import ApiError
from vidu_lipsync_mock.service.kept import EXTRAS_LIMIT, OMITTED, kept_params
from vidu_lipsync_mock.service.validation import FIELD_LIMIT, compile_schema
from vidu_lipsync_mock.state import MockState

MODEL = "vidu/lip-sync"
KEY = "mdlx-" + "k" * 48
URL = "https://example.com/talking-head.mp4"


def make_state() -> MockState:
    return MockState(MockConfig.build({"clock": "manual"}), clock=ManualClock(1_700_000_000.0))


def submitted(body: dict[str, Any]) -> dict[str, Any]:
    state = make_state()
    return dict(state.task(state.submit(MODEL, body, KEY).task_id).params)


def digest(fields: dict[str, Any]) -> dict[str, Any]:
    """The summary a client can compute of the fields it sent beyond what is kept."""
    encoded = json.dumps(fields, separators=(",", ":")).encode("ascii")
    return {
        "fields": len(fields),
        "bytes": len(encoded),
        "sha256": hashlib.sha256(encoded).hexdigest(),
    }


# --- the schema's fields -------------------------------------------------------------------


@pytest.mark.parametrize("field", ["video_url", "audio_url", "reference_face_image_url"])
def test_a_declared_field_at_the_cap_is_kept_whole(field: str) -> None:
    long_url = "https://example.com/" + "v" * (FIELD_LIMIT - len("https://example.com/"))
    body = {"video_url": URL, field: long_url}
    assert len(long_url) == FIELD_LIMIT
    assert submitted(body) == body


@pytest.mark.parametrize("field", ["video_url", "audio_url", "reference_face_image_url"])
def test_a_declared_field_over_the_cap_is_refused_in_the_providers_words(field: str) -> None:
    body = {"video_url": URL, field: "v" * (FIELD_LIMIT + 1)}
    state = make_state()
    with pytest.raises(ApiError) as refused:
        state.submit(MODEL, body, KEY)
    assert refused.value.status == 400
    assert refused.value.message == (
        f"Value out of range: parameter '{field}' must be at most {FIELD_LIMIT} characters long"
    )
    assert state.tasks() == []


def test_the_cap_is_read_from_the_schema_not_a_list_of_names() -> None:
    schema = {
        "type": "object",
        "required": ["prompt"],
        "properties": {
            "prompt": {"type": "string", "maxLength": 100},
            "tags": {"type": "array", "items": {"type": "string"}},
            "style": {},
        },
    }
    validator = compile_schema(schema)
    assert validator.fields == frozenset({"prompt", "tags", "style"})
    assert validator.schema is schema  # the provider's schema, as published
    too_long = validator.first_error({"prompt": "p" * 101})
    assert too_long is not None
    assert "at most 100 characters" in too_long.message
    assert validator.first_error({"prompt": "p", "tags": ["t" * 100] * 150}) is None
    many_tags = validator.first_error({"prompt": "p", "tags": ["t" * 100] * 200})
    assert many_tags is not None
    assert many_tags.message == (
        f"Value out of range: parameter 'tags' must be at most {FIELD_LIMIT} bytes long"
    )
    untyped = validator.first_error({"prompt": "p", "style": "s" * (FIELD_LIMIT + 1)})
    assert untyped is not None
    assert "'style' must be at most" in untyped.message
    big_object = validator.first_error({"prompt": "p", "style": {"k": "s" * FIELD_LIMIT}})
    assert big_object is not None
    assert "'style' must be at most" in big_object.message


def test_an_unknown_field_of_any_size_is_not_refused() -> None:
    validator = compile_schema({"type": "object", "properties": {"a": {"type": "string"}}})
    assert validator.first_error({"a": "x", "b": "y" * 1_000_000}) is None


# --- unknown fields ------------------------------------------------------------------------


def test_small_unknown_fields_are_kept_as_sent() -> None:
    body = {"video_url": URL, "resolution": "4k", "nested": {"a": [1]}, "n": 3, "on": None}
    assert submitted(body) == body


def test_unknown_fields_past_the_budget_are_summed_up_by_size_and_digest() -> None:
    padding = "p" * 1_000_000
    body = {"video_url": URL, "resolution": "4k", "padding": padding, "after": 1}
    params = submitted(body)
    assert params == {
        "video_url": URL,
        "resolution": "4k",
        OMITTED: digest({"padding": padding, "after": 1}),
    }
    assert len(json.dumps(params)) < 1024


def test_the_budget_keeps_fields_in_order_until_one_does_not_fit() -> None:
    body: dict[str, Any] = {"video_url": URL}
    body.update({f"extra_{i:03d}": "x" * 90 for i in range(100)})  # ~10 KiB of extras
    params = submitted(body)
    kept = [name for name in params if name.startswith("extra_")]
    assert kept == [f"extra_{i:03d}" for i in range(len(kept))]
    assert len(json.dumps({name: params[name] for name in kept}, separators=(",", ":"))) <= (
        EXTRAS_LIMIT
    )
    rest = {name: body[name] for name in body if name != "video_url" and name not in kept}
    assert params[OMITTED] == digest(rest)
    assert params["video_url"] == URL


def test_a_clients_own_omitted_field_is_summed_up_not_kept() -> None:
    body = {"video_url": URL, OMITTED: {"fields": 0, "bytes": 0, "sha256": "forged"}}
    assert submitted(body) == {"video_url": URL, OMITTED: digest({OMITTED: body[OMITTED]})}


def test_a_body_of_declared_fields_is_copied_as_it_is() -> None:
    body = {"video_url": URL, "audio_url": URL}
    kept = kept_params(body, frozenset({"video_url", "audio_url", "reference_face_image_url"}))
    assert kept == body
    assert kept is not body


def test_deeply_nested_unknown_fields_are_summed_up_without_a_crash() -> None:
    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    params = kept_params({"video_url": URL, "deep": deep}, frozenset({"video_url"}))
    assert params["video_url"] == URL
    assert params[OMITTED]["fields"] == 1


def test_tasks_with_a_megabyte_of_extras_keep_a_few_hundred_bytes_each() -> None:
    state = make_state()
    padding = "p" * 1_000_000
    for i in range(200):
        state.submit(MODEL, {"video_url": f"{URL}?{i}", "padding": padding}, KEY)
    kept = [dict(task.params) for task in state.tasks()]
    assert len(kept) == 200
    assert max(len(json.dumps(params)) for params in kept) < 512
