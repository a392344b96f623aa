"""The only module that knows the provider's field names and envelope.

Routes render with it; the core hands it snapshots and errors (reading a request body is
the admission's, `service.admission`). If the provider renames a field, this is the one
file to change.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from vidu_lipsync_mock.media.library import ResultMedia
from vidu_lipsync_mock.service.errors import ApiError
from vidu_lipsync_mock.service.tasks import TaskSnapshot, TaskStatus

__all__ = [
    "dumps",
    "error_body",
    "result_path",
    "submit_body",
    "submit_data",
    "success_body",
    "task_data",
]

SUCCESS_MESSAGE = "success"


def dumps(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def success_body(data: Mapping[str, Any]) -> bytes:
    return dumps({"code": 0, "message": SUCCESS_MESSAGE, "data": data})


def error_body(error: ApiError) -> bytes:
    return dumps(error.envelope())


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def task_url(base_url: str, task_id: str) -> str:
    return f"{base_url}/api/v1/tasks/{task_id}"


def result_path(task_id: str, file_name: str) -> str:
    """Where a task's result is served; shaped like a CDN object path, not an API route."""
    return f"/files/{task_id}/{file_name}"


def submit_data(task: TaskSnapshot, base_url: str) -> dict[str, Any]:
    return {
        "status": task.status.value,
        "task_id": task.task_id,
        "model_id": task.model_id,
        "get_result": {"method": "GET", "url": task_url(base_url, task.task_id)},
    }


def _json_string(text: str) -> str:
    """`text` as a JSON string literal, as `dumps` writes it."""
    return f'"{text}"' if _plain_text(text) else json.dumps(text, ensure_ascii=False)


def submit_body(task: TaskSnapshot, base_url: str) -> bytes:
    """The submit answer; the same bytes as `success_body(submit_data(...))`, spliced
    from a template made once per status, model and origin, since every submit renders
    it. (An id that would need escaping, which the mock never hands out, is rendered in
    full.)"""
    task_id = task.task_id
    if not _plain_text(task_id):
        return success_body(submit_data(task, base_url))
    head, middle, tail = _submit_template(task.status._value_, task.model_id, base_url)
    return b"".join((head, task_id.encode(), middle, task_id.encode(), tail))


@functools.lru_cache(maxsize=256)
def _submit_template(status: str, model_id: str, base_url: str) -> tuple[bytes, bytes, bytes]:
    url_head = _json_string(task_url(base_url, ""))[:-1]  # the URL's literal, still open
    head = f'{{"code":0,"message":"{SUCCESS_MESSAGE}","data":{{"status":"{status}","task_id":"'
    middle = f'","model_id":{_json_string(model_id)},"get_result":{{"method":"GET","url":{url_head}'
    return head.encode(), middle.encode(), b'"}}}'


def _plain_text(text: str) -> bool:
    """Whether JSON writes `text` between quotes as it is."""
    return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text


def task_data(
    task: TaskSnapshot, base_url: str, media: ResultMedia, billing_amount: str
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "status": task.status.value,
        "task_id": task.task_id,
        "model_id": task.model_id,
        "submit_time": _ms(task.submitted_at),
    }
    if task.finished_at is not None:
        data["end_time"] = _ms(task.finished_at)
        data["duration"] = data["end_time"] - data["submit_time"]
    if task.status is TaskStatus.SUCCESS:
        data["result"] = {
            "resources": [
                {
                    "url": base_url + result_path(task.task_id, media.spec.file_name),
                    "type": media.spec.type,
                    "width": media.width,
                    "height": media.height,
                    "format": media.spec.format,
                }
            ]
        }
        if media.duration_ms is not None:  # a result built from the task's inputs
            data["result"]["resources"][0]["duration"] = media.duration_ms
        data["result_expires_at"] = _ms(task.expires_at)
        data["billing"] = {"status": "succeeded", "amount": billing_amount}
    elif task.status is TaskStatus.FAILED:
        data["error_message"] = task.error_message
    return data
