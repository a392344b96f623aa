"""Every response the server can give matches what its own /openapi.json declares for that
path, method and status, and the provider's envelope (NOTES.md, "Errors")."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from referencing.exceptions import Unresolvable

SUBMIT_PATH = "/api/v1/vidu/lip-sync/async"
SUBMIT_CLI_PATH = "/api/v1/vidu/lip-sync"
POLL_TEMPLATE = "/api/v1/tasks/{task_id}"
FILE_TEMPLATE = "/files/{task_id}/result.mp4"
BODY = {"video_url": "https://example.com/v.mp4"}


# --- the document itself ------------------------------------------------------------------


def test_openapi_json_is_a_valid_openapi_3_1_document(openapi_document):
    validator = pytest.importorskip("openapi_spec_validator")
    assert openapi_document["openapi"].startswith("3.1.")
    validator.validate(openapi_document)  # raises OpenAPIValidationError when invalid


def _walk(node: Any, where: str = "#") -> Iterator[tuple[str, Any]]:
    yield where, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{where}/{index}")


def test_openapi_json_is_structurally_sound(openapi_document, contract):
    """What openapi-spec-validator would catch first, checked without it."""
    doc = openapi_document
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"]
    assert doc["info"]["version"]
    operation_ids: list[str] = []
    for template, item in doc["paths"].items():
        assert template.startswith("/")
        params = set(re.findall(r"\{([^}]+)\}", template))
        for method, operation in item.items():
            assert method in {"get", "post", "put", "delete", "patch", "head", "options"}
            operation_ids.append(operation["operationId"])
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == params, (template, method)
            assert all(
                p["required"] is True for p in operation.get("parameters", []) if p["in"] == "path"
            )
            assert operation["responses"], (template, method)
            for status in operation["responses"]:
                assert re.fullmatch(r"[1-5][0-9][0-9]|default", status), status
            for scheme in operation.get("security", []):
                assert set(scheme) <= set(doc["components"]["securitySchemes"])
    assert len(operation_ids) == len(set(operation_ids)), "operationIds must be unique"
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    refs = [
        (where, node["$ref"])
        for where, node in _walk(doc)
        if isinstance(node, dict) and isinstance(node.get("$ref"), str)
    ]
    assert refs, "the document is expected to share schemas through $ref"
    for where, ref in refs:
        assert ref.startswith("#/"), (where, ref)
        # resolves, or raises Unresolvable
        contract.registry.resolver(base_uri="urn:vidu-lipsync-mock:openapi").lookup(ref)


def test_a_dangling_ref_would_be_caught(contract):
    resolver = contract.registry.resolver(base_uri="urn:vidu-lipsync-mock:openapi")
    with pytest.raises(Unresolvable):
        resolver.lookup("#/components/schemas/NoSuchSchema")


def _json_schema(operation: dict[str, Any], status: str) -> dict[str, Any]:
    schema: dict[str, Any] = operation["responses"][status]["content"]["application/json"]["schema"]
    return schema


@pytest.mark.parametrize("path", [SUBMIT_PATH, SUBMIT_CLI_PATH])
def test_document_declares_both_submit_paths(openapi_document, path):
    operation = openapi_document["paths"][path]["post"]
    assert operation["security"] == [{"bearer": []}]
    assert _json_schema(operation, "200") == {"$ref": "#/components/schemas/SubmitResponse"}
    for status in ("400", "401", "404", "413", "415"):
        assert _json_schema(operation, status) == {"$ref": "#/components/schemas/Error"}
    # The request body is the provider's own schema, unchanged.
    bundled = resources.files("vidu_lipsync_mock.service").joinpath(
        "specs/vidu-lip-sync.api_schema.json"
    )
    provider = json.loads(bundled.read_text(encoding="utf-8"))
    provider_schema = provider["post"]["requestBody"]["content"]["application/json"]["schema"]
    request = operation["requestBody"]
    assert request["required"] is True
    assert request["content"]["application/json"]["schema"] == provider_schema
    assert provider_schema["required"] == ["video_url"]


def test_document_declares_the_poll_with_the_task_response_schema(openapi_document):
    operation = openapi_document["paths"][POLL_TEMPLATE]["get"]
    assert _json_schema(operation, "200") == {"$ref": "#/components/schemas/TaskResponse"}
    for status in ("401", "404"):
        assert _json_schema(operation, status) == {"$ref": "#/components/schemas/Error"}
    task = openapi_document["components"]["schemas"]["Task"]
    assert set(task["properties"]["status"]["enum"]) == {
        "pending",
        "processing",
        "success",
        "failed",
    }
    assert {"status", "task_id", "model_id"} <= set(task["required"])


def test_document_declares_the_result_file_download(openapi_document):
    operation = openapi_document["paths"][FILE_TEMPLATE]["get"]
    assert set(operation["responses"]) >= {"200", "206", "404", "416"}
    assert any(p["in"] == "header" and p["name"] == "Range" for p in operation["parameters"])
    for status in ("404", "416"):
        assert _json_schema(operation, status) == {"$ref": "#/components/schemas/Error"}


def test_served_document_is_what_every_mock_serves(client, openapi_document):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json() == openapi_document


# --- the checker can fail ------------------------------------------------------------------


def _fake(method: str, path: str, status: int, body: Any, **headers: str) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"content-type": "application/json", **headers},
        request=httpx.Request(method, "http://testserver" + path),
    )


@pytest.mark.parametrize(
    ("method", "path", "status", "body", "headers"),
    [
        pytest.param(
            "GET",
            "/api/v1/tasks/task-x",
            404,
            {"code": 404, "message": "Resource not found: x", "data": None},
            {},
            id="error-with-extra-key",
        ),
        pytest.param(
            "GET", "/api/v1/tasks/task-x", 404, {"code": 400, "message": "Bad: x"}, {}, id="code"
        ),
        pytest.param(
            "GET", "/api/v1/tasks/task-x", 404, {"code": 404, "message": "nope"}, {}, id="message"
        ),
        pytest.param(
            "GET",
            "/api/v1/tasks/task-x",
            200,
            {"code": 0, "message": "success", "data": {"status": "done", "task_id": "task-x"}},
            {},
            id="task-schema",
        ),
        pytest.param(
            "GET", "/api/v1/tasks/task-x", 418, {"code": 418, "message": "Teapot: x"}, {}, id="418"
        ),
        pytest.param(
            "DELETE",
            "/api/v1/tasks/task-x",
            405,
            {"code": 405, "message": "Method not allowed: x"},
            {"allow": "POST"},
            id="allow",
        ),
        pytest.param(
            "PUT", "/api/v1/tasks/task-x", 400, {"code": 400, "message": "Bad: x"}, {}, id="undoc"
        ),
    ],
)
def test_the_contract_checker_rejects_what_the_document_does_not_allow(
    contract, method, path, status, body, headers
):
    with pytest.raises(AssertionError):
        contract.check(_fake(method, path, status, body, **headers))


# --- every response the server gives -------------------------------------------------------


@pytest.mark.parametrize("path", [SUBMIT_PATH, SUBMIT_CLI_PATH])
def test_submit_200(client, mock, check, path):
    response = client.post(path, json=BODY, headers=mock.auth_headers)
    data = check.success(response)
    assert data["status"] == "pending"
    assert data["model_id"] == "vidu/lip-sync"
    assert set(response.json()) == {"code", "message", "data"}


def _poll(client, mock, task_id):
    return client.get(f"/api/v1/tasks/{task_id}", headers=mock.auth_headers)


@pytest.mark.parametrize(
    ("drive", "status"),
    [
        pytest.param(lambda mock, tid: None, "pending", id="pending"),
        pytest.param(lambda mock, tid: mock.advance(1), "processing", id="processing"),
        pytest.param(lambda mock, tid: mock.advance(3), "success", id="success"),
        pytest.param(lambda mock, tid: mock.force(tid, "failed", "boom"), "failed", id="failed"),
    ],
)
def test_poll_200_in_each_status(client, mock, check, submit, drive, status):
    task_id = submit()
    drive(mock, task_id)
    data = check.success(_poll(client, mock, task_id))
    assert data["status"] == status
    assert data["task_id"] == task_id
    assert ("result" in data) is (status == "success")


def _error_cases() -> list[Any]:
    """(name, how to make the request, status) for every error the public API gives."""

    def submit_with(**kwargs: Any) -> Callable[..., httpx.Response]:
        def go(client, mock, task_id):
            kwargs.setdefault("headers", mock.auth_headers)
            return client.post(SUBMIT_PATH, **kwargs)

        return go

    def with_headers(extra: dict[str, str], **kwargs: Any) -> Callable[..., httpx.Response]:
        def go(client, mock, task_id):
            return client.post(SUBMIT_PATH, headers={**mock.auth_headers, **extra}, **kwargs)

        return go

    big = b'{"video_url": "x"' + b" " * (1024 * 1024) + b"}"
    return [
        pytest.param(submit_with(json={}), 400, id="400-missing-video_url"),
        pytest.param(submit_with(json={"video_url": 1}), 400, id="400-type"),
        pytest.param(submit_with(json={"video_url": ""}), 400, id="400-range"),
        pytest.param(
            with_headers({"content-type": "application/json"}, content=b"{"), 400, id="400-json"
        ),
        pytest.param(submit_with(json=[1]), 400, id="400-not-object"),
        pytest.param(
            lambda client, mock, task_id: client.post(SUBMIT_PATH, json=BODY), 401, id="401-submit"
        ),
        pytest.param(
            lambda client, mock, task_id: client.get(f"/api/v1/tasks/{task_id}"),
            401,
            id="401-poll",
        ),
        pytest.param(
            lambda client, mock, task_id: _poll(client, mock, "task-doesnotexist"),
            404,
            id="404-task",
        ),
        pytest.param(
            lambda client, mock, task_id: client.post(
                "/api/v1/vidu/nope/async", json=BODY, headers=mock.auth_headers
            ),
            404,
            id="404-model",
        ),
        pytest.param(
            lambda client, mock, task_id: client.get("/api/v2/whatever", headers=mock.auth_headers),
            404,
            id="404-route",
        ),
        pytest.param(
            lambda client, mock, task_id: client.get(f"/files/{task_id}/result.mp4"),
            404,
            id="404-file-not-ready",
        ),
        pytest.param(
            lambda client, mock, task_id: client.get("/files/task-nothere/result.mp4"),
            404,
            id="404-file-unknown",
        ),
        pytest.param(
            lambda client, mock, task_id: client.request(
                "DELETE", f"/api/v1/tasks/{task_id}", headers=mock.auth_headers
            ),
            405,
            id="405-delete-poll",
        ),
        pytest.param(
            lambda client, mock, task_id: client.get(SUBMIT_PATH, headers=mock.auth_headers),
            405,
            id="405-get-submit",
        ),
        pytest.param(
            lambda client, mock, task_id: client.request(
                "PUT", SUBMIT_CLI_PATH, json=BODY, headers=mock.auth_headers
            ),
            405,
            id="405-put-submit-cli",
        ),
        pytest.param(
            with_headers({"content-type": "application/json"}, content=big), 413, id="413"
        ),
        pytest.param(with_headers({"content-type": "text/plain"}, content=b"{}"), 415, id="415"),
    ]


@pytest.mark.parametrize(("make_request", "status"), _error_cases())
def test_every_error_matches_the_document_and_the_envelope(
    client, mock, check, submit, make_request, status
):
    task_id = submit()
    response = make_request(client, mock, task_id)
    message = check.error(response, status)
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["code", "message"]
    assert body["code"] == status
    assert re.fullmatch(r"[A-Z][a-z]*( [a-z]+)*: \S.*", message), message
    if status == 405:
        assert response.headers["allow"]


def _finished(client, mock, submit) -> tuple[str, int]:
    task_id = submit()
    mock.run_until_terminal(task_id)
    return task_id, len(client.get(f"/files/{task_id}/result.mp4").content)


def test_result_file_200_206_and_416_match_the_document(client, mock, check, submit, contract):
    task_id, size = _finished(client, mock, submit)
    url = f"/files/{task_id}/result.mp4"
    whole = client.get(url)
    assert whole.status_code == 200
    contract.check(whole)
    part = client.get(url, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206
    contract.check(part)
    head = client.head(url)
    assert head.status_code == 200
    contract.check(head)
    message = check.error(client.get(url, headers={"Range": f"bytes={size}-"}), 416)
    assert message == f"Range not satisfiable: the file is {size} bytes long"


def test_sample_media_and_its_404_match_the_document(client, contract, check):
    response = client.get("/media/input-video.mp4")
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    contract.check(response)
    check.error(client.get("/media/no-such-file.mp4"), 404)
