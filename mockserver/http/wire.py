"""The only module that knows the provider's field names and envelope.

Routes parse with it and render with it; the core hands it snapshots and errors. If the
provider renames a field, this is the one file to change.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from vidu_lipsync_mock.media.library import ResultMedia
from vidu_lipsync_mock.service.errors import (
    ApiError,
    invalid_format,
    invalid_json,
    unsupported_media_type,
)
from vidu_lipsync_mock.service.tasks import TaskSnapshot, TaskStatus

__all__ = [
    "dumps",
    "error_body",
    "is_json_type",
    "parse_json_object",
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
        data["result_expires_at"] = _ms(task.expires_at)
        data["billing"] = {"status": "succeeded", "amount": billing_amount}
    elif task.status is TaskStatus.FAILED:
        data["error_message"] = task.error_message
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} does not fit in a double")
    return value


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


@functools.lru_cache(maxsize=256)
def is_json_type(content_type: str | None) -> bool:
    """`application/json` or a `+json` type, parameters aside."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


#: What JSON counts as whitespace (RFC 8259), and nothing else.
_JSON_WHITESPACE = " \t\n\r"

_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def decode_json_object(raw: bytes) -> dict[str, Any]:
    """A body as a JSON object, strictly (see `parse_json_object`), whatever its type."""
    try:
        text = raw.decode("utf-8").strip(_JSON_WHITESPACE)
        # `raw_decode` on the stripped text, not `decode`: the same strictness (a value,
        # then nothing), without `decode`'s two regular-expression passes per body.
        value, end = _DECODER.raw_decode(text)
    except (ValueError, RecursionError):
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
