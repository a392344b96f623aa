"""Bad requests, each answered with the provider's status and exact message, and a server
that goes on serving after all of them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

SUBMIT_PATH = "/api/v1/vidu/lip-sync/async"
LIMIT = 1_048_576  # the default max_body_bytes
TOO_LARGE = f"Request too large: request body exceeds {LIMIT} bytes"
AUTH_FAILED = "Authentication failed: invalid API key"
JSON_CT = {"content-type": "application/json"}
GOOD_KEY = "mdlx-" + "A1b2" * 12


def body(value: Any) -> dict[str, Any]:
    return {"content": json.dumps(value).encode(), "headers": JSON_CT}


# (id, request kwargs for POST SUBMIT_PATH with a valid key, status, exact message)
SUBMIT_CASES: list[Any] = [
    pytest.param(
        body({}),
        400,
        "Invalid parameters: parameter 'video_url' is required",
        id="missing-video_url",
    ),
    pytest.param(
        body({"audio_url": "https://example.com/a.mp3"}),
        400,
        "Invalid parameters: parameter 'video_url' is required",
        id="only-audio_url",
    ),
    pytest.param(
        body({"video_url": 123}),
        400,
        "Invalid format: parameter 'video_url' must be a string",
        id="video_url-int",
    ),
    pytest.param(
        body({"video_url": ["https://example.com/v.mp4"]}),
        400,
        "Invalid format: parameter 'video_url' must be a string",
        id="video_url-list",
    ),
    pytest.param(
        body({"video_url": None}),
        400,
        "Invalid format: parameter 'video_url' must be a string",
        id="video_url-null",
    ),
    pytest.param(
        body({"video_url": "https://example.com/v.mp4", "audio_url": 7}),
        400,
        "Invalid format: parameter 'audio_url' must be a string",
        id="audio_url-int",
    ),
    pytest.param(
        body({"video_url": "https://example.com/v.mp4", "reference_face_image_url": None}),
        400,
        "Invalid format: parameter 'reference_face_image_url' must be a string",
        id="reference_face_image_url-null",
    ),
    pytest.param(
        body({"video_url": ""}),
        400,
        "Value out of range: parameter 'video_url' must be at least 1 character long",
        id="video_url-empty",
    ),
    pytest.param(
        body({"video_url": "https://example.com/v.mp4", "audio_url": ""}),
        400,
        "Value out of range: parameter 'audio_url' must be at least 1 character long",
        id="audio_url-empty",
    ),
    pytest.param(
        body({"video_url": "https://example.com/v.mp4", "reference_face_image_url": ""}),
        400,
        "Value out of range: parameter 'reference_face_image_url' must be at least 1 character "
        "long",
        id="reference_face_image_url-empty",
    ),
    pytest.param(
        {"content": b'{"video_url": "x",', "headers": JSON_CT},
        400,
        "Invalid format: invalid JSON format",
        id="malformed-json",
    ),
    pytest.param(
        {"content": b"{'video_url': 'x'}", "headers": JSON_CT},
        400,
        "Invalid format: invalid JSON format",
        id="single-quoted-json",
    ),
    pytest.param(
        {"content": b'{"video_url": NaN}', "headers": JSON_CT},
        400,
        "Invalid format: invalid JSON format",
        id="nan",
    ),
    pytest.param(
        {"content": b'{"video_url": "\xff"}', "headers": JSON_CT},
        400,
        "Invalid format: invalid JSON format",
        id="invalid-utf8",
    ),
    pytest.param(
        {"content": b"", "headers": JSON_CT},
        400,
        # The mock appends why; the category and the provider's verbatim text come first.
        "Invalid format: invalid JSON format",
        id="empty-body",
    ),
    pytest.param(
        body([{"video_url": "https://example.com/v.mp4"}]),
        400,
        "Invalid format: request body must be a JSON object",
        id="body-array",
    ),
    pytest.param(
        body("https://example.com/v.mp4"),
        400,
        "Invalid format: request body must be a JSON object",
        id="body-string",
    ),
    pytest.param(
        body(42), 400, "Invalid format: request body must be a JSON object", id="body-number"
    ),
    pytest.param(
        body(None), 400, "Invalid format: request body must be a JSON object", id="body-null"
    ),
    pytest.param(
        {"content": b'{"video_url": "x"}', "headers": {"content-type": "text/plain"}},
        415,
        "Unsupported media type: Content-Type must be application/json, got text/plain",
        id="text-plain",
    ),
    pytest.param(
        {
            "content": b"video_url=x",
            "headers": {"content-type": "application/x-www-form-urlencoded"},
        },
        415,
        "Unsupported media type: Content-Type must be application/json, got "
        "application/x-www-form-urlencoded",
        id="form-encoded",
    ),
    pytest.param(
        {"content": b'{"video_url": "x"}'},
        415,
        "Unsupported media type: Content-Type must be application/json, got (none)",
        id="no-content-type",
    ),
    pytest.param(
        {"content": b'{"video_url": "x"' + b" " * LIMIT + b"}", "headers": JSON_CT},
        413,
        TOO_LARGE,
        id="oversized-content-length",
    ),
]


@pytest.mark.parametrize(("kwargs", "status", "message"), SUBMIT_CASES)
def test_bad_submit(client, mock, check, kwargs, status, message):
    headers = {**mock.auth_headers, **kwargs.get("headers", {})}
    response = client.post(SUBMIT_PATH, content=kwargs["content"], headers=headers)
    check.error(response, status, message)
    assert mock.tasks() == [], "a rejected submit must not create a task"


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "APPLICATION/JSON", "application/vnd+json"]
)
def test_json_content_types_are_accepted(client, mock, check, content_type):
    response = client.post(
        SUBMIT_PATH,
        content=b'{"video_url": "https://example.com/v.mp4"}',
        headers={**mock.auth_headers, "content-type": content_type},
    )
    assert check.success(response)["status"] == "pending"


def test_unknown_extra_fields_are_accepted(client, mock, check):
    response = client.post(
        SUBMIT_PATH,
        json={"video_url": "https://example.com/v.mp4", "resolution": "4k", "nested": {"a": [1]}},
        headers=mock.auth_headers,
    )
    task_id = check.success(response)["task_id"]
    assert mock.task(task_id).params["resolution"] == "4k"


def _chunks(payload: bytes, size: int = 64 * 1024) -> Callable[[], AsyncIterator[bytes]]:
    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), size):
            yield payload[start : start + size]

    return stream


def _padded(total: int) -> bytes:
    """A valid submit body of exactly `total` bytes."""
    core = b'{"video_url": "https://example.com/v.mp4"}'
    return core[:-1] + b" " * (total - len(core)) + b"}"


@pytest.mark.parametrize(("size", "status"), [(LIMIT, 200), (LIMIT + 1, 413)])
def test_body_limit_with_chunked_transfer(mock, async_client_for, contract, size, status):
    """No Content-Length: the limit is enforced while streaming, exactly at the boundary."""
    payload = _padded(size)
    assert len(payload) == size

    async def go() -> httpx.Response:
        async with async_client_for(mock) as http:
            return await http.post(
                SUBMIT_PATH,
                content=_chunks(payload)(),
                headers={**mock.auth_headers, **JSON_CT},
            )

    response = asyncio.run(go())
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == status, response.text
    contract.check(response)
    if status == 413:
        assert response.json() == {"code": 413, "message": TOO_LARGE}


@pytest.mark.parametrize(("size", "status"), [(LIMIT, 200), (LIMIT + 1, 413)])
def test_body_limit_with_content_length(client, mock, contract, size, status):
    response = client.post(
        SUBMIT_PATH, content=_padded(size), headers={**mock.auth_headers, **JSON_CT}
    )
    assert response.request.headers["content-length"] == str(size)
    assert response.status_code == status, response.text
    contract.check(response)


def test_lying_content_length_is_refused_before_the_body_is_read(client, mock, check):
    """A declared length over the limit is refused on the header alone."""
    response = client.post(
        SUBMIT_PATH,
        content=b'{"video_url": "x"}',
        headers={**mock.auth_headers, **JSON_CT, "content-length": str(LIMIT + 1)},
    )
    check.error(response, 413, TOO_LARGE)


def test_chunked_body_over_a_real_socket(make_mock, check):
    """Transfer-Encoding: chunked decoded by uvicorn, limit enforced on the decoded body."""
    small = make_mock(max_body_bytes=1024)
    base = small.start()
    headers = {**small.auth_headers, **JSON_CT}

    def chunked(payload: bytes):
        for start in range(0, len(payload), 100):
            yield payload[start : start + 100]

    with httpx.Client(base_url=base) as http:
        ok = http.post(SUBMIT_PATH, content=chunked(_padded(1024)), headers=headers)
        too_big = http.post(SUBMIT_PATH, content=chunked(_padded(1025)), headers=headers)
        after = http.post(SUBMIT_PATH, json={"video_url": "v"}, headers=small.auth_headers)
    assert ok.request.headers["transfer-encoding"] == "chunked"
    check.success(ok)
    check.error(too_big, 413, "Request too large: request body exceeds 1024 bytes")
    check.success(after)


AUTH_CASES = [
    pytest.param({}, id="missing"),
    pytest.param({"Authorization": ""}, id="empty"),
    pytest.param({"Authorization": f"Basic {GOOD_KEY}"}, id="basic-scheme"),
    pytest.param({"Authorization": f"Token {GOOD_KEY}"}, id="token-scheme"),
    pytest.param({"Authorization": GOOD_KEY}, id="no-scheme"),
    pytest.param({"Authorization": "Bearer"}, id="bearer-only"),
    pytest.param({"Authorization": "Bearer mdlx-test"}, id="short-key"),
    pytest.param({"Authorization": "Bearer " + GOOD_KEY.replace("mdlx-", "sk-")}, id="prefix"),
    pytest.param({"Authorization": "Bearer " + GOOD_KEY[:-1] + "!"}, id="bad-character"),
    pytest.param({"Authorization": "Bearer mdlx-" + "a" * 65}, id="too-long"),
]


@pytest.mark.parametrize("headers", AUTH_CASES)
def test_bad_credentials_on_submit(client, check, mock, headers):
    response = client.post(SUBMIT_PATH, json={"video_url": "v"}, headers=headers)
    check.error(response, 401, AUTH_FAILED)
    assert mock.tasks() == []


@pytest.mark.parametrize("headers", AUTH_CASES)
def test_bad_credentials_on_poll(client, check, submit, headers):
    task_id = submit()
    check.error(client.get(f"/api/v1/tasks/{task_id}", headers=headers), 401, AUTH_FAILED)


def test_a_well_formed_key_is_accepted_without_an_allow_list(client, check):
    response = client.post(
        SUBMIT_PATH, json={"video_url": "v"}, headers={"Authorization": f"Bearer {GOOD_KEY}"}
    )
    check.success(response)


def test_key_outside_the_allow_list_is_refused(make_mock, make_client, check):
    strict = make_mock(api_keys=(GOOD_KEY,))
    http = make_client(strict)
    allowed = {"Authorization": f"Bearer {GOOD_KEY}"}
    other = {"Authorization": "Bearer mdlx-" + "Z9" * 24}
    check.success(http.post(SUBMIT_PATH, json={"video_url": "v"}, headers=allowed))
    check.error(http.post(SUBMIT_PATH, json={"video_url": "v"}, headers=other), 401, AUTH_FAILED)


def test_authentication_is_checked_before_the_body(client, check):
    response = client.post(SUBMIT_PATH, content=b"{", headers=JSON_CT)
    check.error(response, 401, AUTH_FAILED)


ROUTE_CASES = [
    pytest.param(
        "GET",
        "/api/v1/tasks/task-doesnotexist000000000000",
        404,
        "Resource not found: task 'task-doesnotexist000000000000' does not exist or has expired",
        None,
        id="unknown-task",
    ),
    pytest.param(
        "POST",
        "/api/v1/vidu/nope/async",
        404,
        "Resource not found: model 'vidu/nope' is not available",
        None,
        id="unknown-model",
    ),
    pytest.param(
        "POST",
        "/api/v1/nobody/lip-sync",
        404,
        "Resource not found: model 'nobody/lip-sync' is not available",
        None,
        id="unknown-provider-cli-path",
    ),
    pytest.param(
        "GET",
        "/api/v1/nothing/here/at/all",
        404,
        "Resource not found: no endpoint for GET /api/v1/nothing/here/at/all",
        None,
        id="unknown-route",
    ),
    pytest.param("GET", "/", 404, "Resource not found: no endpoint for GET /", None, id="root"),
    pytest.param(
        "DELETE",
        "/api/v1/tasks/task-abc",
        405,
        "Method not allowed: DELETE is not supported on /api/v1/tasks/task-abc",
        {"GET", "HEAD"},
        id="delete-poll",
    ),
    pytest.param(
        "GET",
        SUBMIT_PATH,
        405,
        f"Method not allowed: GET is not supported on {SUBMIT_PATH}",
        {"POST"},
        id="get-submit",
    ),
    pytest.param(
        "GET",
        "/api/v1/vidu/lip-sync",
        405,
        "Method not allowed: GET is not supported on /api/v1/vidu/lip-sync",
        {"POST"},
        id="get-submit-cli",
    ),
    pytest.param(
        "PATCH",
        SUBMIT_PATH,
        405,
        f"Method not allowed: PATCH is not supported on {SUBMIT_PATH}",
        {"POST"},
        id="patch-submit",
    ),
]


@pytest.mark.parametrize(("method", "path", "status", "message", "allow"), ROUTE_CASES)
def test_unknown_things_and_wrong_methods(
    client, mock, check, method, path, status, message, allow
):
    response = client.request(method, path, json={"video_url": "v"}, headers=mock.auth_headers)
    check.error(response, status, message)
    if allow is None:
        assert "allow" not in response.headers
    else:
        assert {m.strip() for m in response.headers["allow"].split(",")} == allow


def test_server_keeps_serving_after_every_bad_input(make_mock, check):
    """Replay every bad request above on one server over a real socket, then a good one."""
    mock = make_mock()
    base = mock.start()
    with httpx.Client(base_url=base) as http:
        for case in SUBMIT_CASES:
            kwargs, status, message = case.values
            response = http.post(
                SUBMIT_PATH,
                content=kwargs["content"],
                headers={**mock.auth_headers, **kwargs.get("headers", {})},
            )
            assert (response.status_code, response.json()["message"]) == (status, message)
        for case in AUTH_CASES:
            (headers,) = case.values
            response = http.post(SUBMIT_PATH, json={"video_url": "v"}, headers=headers)
            assert response.status_code == 401
        for case in ROUTE_CASES:
            method, path, status, message, _ = case.values
            response = http.request(method, path, headers=mock.auth_headers)
            assert (response.status_code, response.json()["message"]) == (status, message)
        assert mock.tasks() == []
        submitted = http.post(
            SUBMIT_PATH, json={"video_url": "https://example.com/v.mp4"}, headers=mock.auth_headers
        )
        task_id = check.success(submitted)["task_id"]
        mock.advance(3)
        polled = http.get(f"/api/v1/tasks/{task_id}", headers=mock.auth_headers)
        assert check.success(polled)["status"] == "success"


def test_long_header_values_are_never_echoed_whole_over_a_real_socket(make_mock):
    """A 3 KB Content-Type and a 4 KB `X-Mock-Fault` are refused with messages that repeat
    at most the first 200 characters, escaped (a newline cannot split the message)."""
    mock = make_mock()
    base = mock.start()
    content_type = "text/" + "y" * 3000 + "\tend"
    fault = "error; status=" + "9" * 4000
    with httpx.Client(base_url=base) as http:
        refused_type = http.post(
            SUBMIT_PATH,
            content=b'{"video_url": "v"}',
            headers={**mock.auth_headers, "Content-Type": content_type},
        )
        refused_fault = http.get(
            "/api/v1/tasks/task-1", headers={**mock.auth_headers, "X-Mock-Fault": fault}
        )
    assert refused_type.status_code == 415
    message = refused_type.json()["message"]
    assert message.startswith("Unsupported media type: Content-Type must be application/json")
    assert len(message) < 400
    assert message.endswith("…")
    assert refused_fault.status_code == 400
    message = refused_fault.json()["message"]
    assert message.startswith("Invalid parameters: X-Mock-Fault: ")
    assert len(message) < 400
