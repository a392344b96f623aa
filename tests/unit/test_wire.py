"""The wire format: the provider's field names and envelope, and strict body parsing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from vidu_lipsync_mock.http import wire
from vidu_lipsync_mock.media.library import MediaLibrary
from vidu_lipsync_mock.service.errors import ApiError, task_not_found
from vidu_lipsync_mock.service.registry import Registry
from vidu_lipsync_mock.service.store import TaskStore
from vidu_lipsync_mock.service.tasks import ByClock, Manual, Task, TaskSnapshot, TaskStatus

T0 = 1_700_000_000.0
BASE = "http://127.0.0.1:8123"
MEDIA = MediaLibrary().result(Registry.bundled().default_model.card.result)  # 1280x720 mp4
DAY_MS = 86_400_000
JSON = "application/json"


def snapshot_after(
    progression, seconds: float, *, force: TaskStatus | None = None, message: str | None = None
) -> TaskSnapshot:
    store = TaskStore()
    task = Task(
        task_id="task-abcdefghijklmnopqrstuvwx",
        model_id="vidu/lip-sync",
        api_key="mdlx-key",
        params={"video_url": "https://example.com/v.mp4"},
        submitted_at=T0,
        progression=progression,
        retention_seconds=86_400.0,
    )
    store.add(task, T0)
    if force is not None:
        forced = store.force(task.task_id, force, T0 + seconds, message)
        assert forced is not None
        return forced
    seen = store.observe(task.task_id, T0 + seconds, poll=True)
    assert seen is not None
    return seen


# --- submit and task data -----------------------------------------------------------------------


def test_submit_data_points_back_at_whoever_served_the_submit() -> None:
    task = snapshot_after(ByClock(1, 2), 0)
    assert wire.submit_data(task, BASE) == {
        "status": "pending",
        "task_id": "task-abcdefghijklmnopqrstuvwx",
        "model_id": "vidu/lip-sync",
        "get_result": {
            "method": "GET",
            "url": f"{BASE}/api/v1/tasks/task-abcdefghijklmnopqrstuvwx",
        },
    }


@given(base=st.text(max_size=40).map(lambda tail: "http://h" + tail))
@example(base='http://h"quoted\\back\nline\x7f')
@example(base="http://hôte.example:8080/préfixe")
def test_the_submit_template_renders_what_the_generic_encoder_would(base: str) -> None:
    task = snapshot_after(ByClock(1, 2), 0)
    assert wire.submit_body(task, base) == wire.success_body(wire.submit_data(task, base))


def test_pending_and_processing_carry_only_the_basics() -> None:
    for seconds, status in ((0, "pending"), (1.5, "processing")):
        data = wire.task_data(snapshot_after(ByClock(1, 2), seconds), BASE, MEDIA, "0.2400")
        assert data == {
            "status": status,
            "task_id": "task-abcdefghijklmnopqrstuvwx",
            "model_id": "vidu/lip-sync",
            "submit_time": int(T0 * 1000),
        }


def test_success_carries_one_video_resource_billing_and_expiry() -> None:
    task = snapshot_after(ByClock(1, 2.5), 100)
    data = wire.task_data(task, BASE, MEDIA, "0.2400")
    submit_ms = int(T0 * 1000)
    end_ms = submit_ms + 3_500
    assert data == {
        "status": "success",
        "task_id": "task-abcdefghijklmnopqrstuvwx",
        "model_id": "vidu/lip-sync",
        "submit_time": submit_ms,
        "end_time": end_ms,
        "duration": 3_500,
        "result": {
            "resources": [
                {
                    "url": f"{BASE}/files/task-abcdefghijklmnopqrstuvwx/result.mp4",
                    "type": "video",
                    "width": 1280,
                    "height": 720,
                    "format": "mp4",
                }
            ]
        },
        "result_expires_at": end_ms + DAY_MS,
        "billing": {"status": "succeeded", "amount": "0.2400"},
    }
    assert data["duration"] == data["end_time"] - data["submit_time"]
    assert data["result"]["resources"][0]["url"].startswith(("http://", "https://"))


def test_the_billing_amount_is_the_configured_one() -> None:
    task = snapshot_after(ByClock(0, 0), 0)
    assert wire.task_data(task, BASE, MEDIA, "1.5000")["billing"]["amount"] == "1.5000"


def test_failure_carries_the_message_and_no_result_or_bill() -> None:
    task = snapshot_after(Manual(), 4, force=TaskStatus.FAILED, message="Task failed: no face")
    data = wire.task_data(task, BASE, MEDIA, "0.2400")
    assert data["status"] == "failed"
    assert data["error_message"] == "Task failed: no face"
    assert data["end_time"] == int(T0 * 1000) + 4_000
    assert data["duration"] == 4_000
    for absent in ("result", "result_expires_at", "billing"):
        assert absent not in data


@settings(max_examples=200, deadline=None)
@example(submitted=T0 + 0.0006, took=2.0008)  # end - submit = 2000 ms, duration 2001 ms
@given(
    submitted=st.floats(0, 2e9, allow_nan=False),
    took=st.floats(0, 1e5, allow_nan=False),
)
def test_duration_is_end_time_minus_submit_time(submitted: float, took: float) -> None:
    """Clients read `duration` and also compute `end_time - submit_time`: they must agree."""
    store = TaskStore()
    store.add(
        Task(
            task_id="task-x",
            model_id="vidu/lip-sync",
            api_key="k",
            params={},
            submitted_at=submitted,
            progression=Manual(),
            retention_seconds=1e12,
        ),
        submitted,
    )
    task = store.force("task-x", TaskStatus.SUCCESS, submitted + took)
    assert task is not None
    data = wire.task_data(task, BASE, MEDIA, "0.2400")
    assert data["duration"] == data["end_time"] - data["submit_time"]
    assert data["duration"] >= 0


def test_envelopes_and_error_bodies() -> None:
    body = json.loads(wire.success_body({"status": "pending"}))
    assert body == {"code": 0, "message": "success", "data": {"status": "pending"}}
    error = task_not_found("task-x")
    assert json.loads(wire.error_body(error)) == {"code": 404, "message": error.message}


def test_dumps_is_compact_utf8() -> None:
    assert wire.dumps({"a": "é", "b": [1, 2]}) == '{"a":"é","b":[1,2]}'.encode()


def test_result_path_looks_like_a_cdn_object() -> None:
    assert wire.result_path("task-abc", "result.mp4") == "/files/task-abc/result.mp4"


# --- parse_json_object ------------------------------------------------------------------------


def parse_error(raw: bytes, content_type: str | None = JSON) -> ApiError:
    with pytest.raises(ApiError) as caught:
        wire.parse_json_object(raw, content_type)
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
    assert wire.parse_json_object(b'{"video_url": "x"}', content_type) == {"video_url": "x"}


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
    value = wire.parse_json_object(
        '{"n": 123456789012345678901234567890, "s": "日本"}'.encode(), JSON
    )
    assert value == {"n": 123456789012345678901234567890, "s": "日本"}


def _parse_or_error(raw: bytes) -> dict[str, Any] | ApiError:
    """The parsed object or the ApiError; any other exception fails the test."""
    try:
        value = wire.parse_json_object(raw, JSON)
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
