"""The wire format: the provider's field names and envelope."""

from __future__ import annotations

import json

from hypothesis import example, given, settings
from hypothesis import strategies as st

from vidu_lipsync_mock.http import wire
from vidu_lipsync_mock.media.library import MediaLibrary
from vidu_lipsync_mock.service.errors import task_not_found
from vidu_lipsync_mock.service.registry import Registry
from vidu_lipsync_mock.service.store import TaskStore
from vidu_lipsync_mock.service.tasks import ByClock, Manual, TaskSnapshot, TaskStatus

T0 = 1_700_000_000.0
BASE = "http://127.0.0.1:8123"
MEDIA = MediaLibrary().result(Registry.bundled().default_model.card.result)  # 1280x720 mp4
DAY_MS = 86_400_000
JSON = "application/json"


def snapshot_after(
    progression, seconds: float, *, force: TaskStatus | None = None, message: str | None = None
) -> TaskSnapshot:
    store = TaskStore()
    task = store.create(
        "task-abcdefghijklmnopqrstuvwx",
        "vidu/lip-sync",
        "mdlx-key",
        {"video_url": "https://example.com/v.mp4"},
        T0,
        progression,
        86_400.0,
    )
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
    store.create("task-x", "vidu/lip-sync", "k", {}, submitted, Manual(), 1e12)
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
