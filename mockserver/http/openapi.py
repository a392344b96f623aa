"""`/openapi.json`, assembled from the registry's models (a submit path per provider schema,
a download path per result file) plus the task and file endpoints the provider documents
only in prose. Schema-driven tools (Schemathesis, Prism, client generators) test against
exactly what the mock serves."""

from __future__ import annotations

import copy
import re
from typing import Any

from vidu_lipsync_mock.http.openapi_account import (
    account_paths,
    account_schemas,
    envelope,
    json_success,
    object_schema,
    path_params,
)
from vidu_lipsync_mock.service.registry import ModelSpec, Registry
from vidu_lipsync_mock.service.tasks import TaskStatus

__all__ = ["ERROR_STATUSES", "build_openapi"]

ERROR_STATUSES: dict[str, str] = {
    "400": "Invalid request parameters or body",
    "401": "Missing, malformed or unknown API key",
    "402": "Insufficient balance",
    "403": "Admin API: a Host that is not the mock's, another origin, or a wrong admin token",
    "404": "Unknown model, task, file or route",
    "405": "Method not allowed on this path",
    "409": "The task cannot make that move (admin API)",
    "413": "Request body too large",
    "415": "Content-Type is not application/json",
    "416": "Range not satisfiable",
    "429": "Rate limit or concurrency limit exceeded",
    "500": "Internal server error",
    "502": "Bad gateway",
    "503": "Service unavailable",
    "504": "Gateway timeout",
}

_REF_ERROR = {"$ref": "#/components/schemas/Error"}
_URL = {"type": "string", "format": "uri", "pattern": "^https?://"}
_TASK_ID = {"type": "string", "pattern": "^task-"}

_RATE_HEADERS = {
    name: {"description": text, "schema": {"type": "integer"}}
    for name, text in (
        ("X-RateLimit-Limit", "Maximum requests per minute"),
        ("X-RateLimit-Remaining", "Remaining quota in the current window"),
        ("X-RateLimit-Reset", "When the window resets (Unix seconds)"),
        ("Retry-After", "Seconds to wait before retrying"),
    )
}


def _errors(*codes: str) -> dict[str, Any]:
    return {
        code: {
            "description": ERROR_STATUSES[code],
            "content": {"application/json": {"schema": _REF_ERROR}},
            **({"headers": copy.deepcopy(_RATE_HEADERS)} if code == "429" else {}),
        }
        for code in codes
    }


def _components(registry: Registry) -> dict[str, Any]:
    results = [spec.card.result for spec in registry]
    resource = object_schema(
        ["url", "type", "width", "height", "format"],
        url=_URL,
        type={"type": "string", "enum": sorted({r.type for r in results})},
        width={"type": "integer", "minimum": 1},
        height={"type": "integer", "minimum": 1},
        format={"type": "string", "enum": sorted({r.format for r in results})},
        duration={
            "type": "integer",
            "minimum": 0,
            "description": "ms the result lasts; only for a result built from the task's "
            "own inputs (emulator's field; see docs/media.md)",
        },
    )
    task = object_schema(
        ["status", "task_id", "model_id"],
        status={"type": "string", "enum": [status.value for status in TaskStatus]},
        task_id=_TASK_ID,
        model_id={"type": "string", "pattern": "^[^/]+/[^/]+$"},
        submit_time={"type": "integer", "description": "Unix ms"},
        end_time={"type": "integer", "description": "Unix ms"},
        duration={"type": "integer", "minimum": 0, "description": "ms the task took"},
        result_expires_at={"type": "integer", "description": "Unix ms"},
        result=object_schema(
            ["resources"], resources={"type": "array", "items": resource, "minItems": 1}
        ),
        billing=object_schema(
            ["status", "amount"],
            status={"type": "string"},
            amount={"type": "string", "pattern": "^[0-9]+\\.[0-9]{4}$"},
        ),
        error_message={
            "type": "string",
            "description": "Why a failed task failed (emulator's field; see docs)",
        },
    )
    submitted = object_schema(
        ["status", "task_id", "model_id", "get_result"],
        status={"type": "string", "enum": ["pending", "processing"]},
        task_id=_TASK_ID,
        model_id={"type": "string"},
        get_result=object_schema(
            ["method", "url"], method={"type": "string", "enum": ["GET"]}, url=_URL
        ),
    )
    return {
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["code", "message"],
                "additionalProperties": False,
                "properties": {
                    "code": {"type": "integer", "minimum": 400, "maximum": 599},
                    "message": {"type": "string", "pattern": "^[A-Z][^:]*(: .*)?$"},
                },
            },
            "Task": task,
            "TaskResponse": envelope({"$ref": "#/components/schemas/Task"}),
            "SubmittedTask": submitted,
            "SubmitResponse": envelope({"$ref": "#/components/schemas/SubmittedTask"}),
            **account_schemas(),
        },
        "securitySchemes": {
            "adminToken": {
                "type": "apiKey",
                "in": "header",
                "name": "X-Mock-Admin-Token",
                "description": "The server's --admin-token, when it has one (admin API only)",
            },
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "A Modellix API key: `mdlx-` followed by 32 to 64 letters/digits",
            },
        },
    }


def _submit_operation(spec: ModelSpec, suffix: str) -> dict[str, Any]:
    content: dict[str, Any] = {"schema": copy.deepcopy(dict(spec.request_schema))}
    if spec.request_examples:
        content["examples"] = copy.deepcopy(dict(spec.request_examples))
    return {
        "operationId": spec.operation_id + suffix,
        "summary": spec.summary + (" (CLI path)" if suffix else ""),
        "description": spec.description,
        "tags": [spec.model_id],
        "security": [{"bearer": []}],
        "requestBody": {"required": True, "content": {"application/json": content}},
        "responses": {
            "200": json_success("Task submitted", "SubmitResponse"),
            **_errors("400", "401", "402", "404", "405", "413", "415", "429", "500", "503"),
        },
    }


def _file_operation(
    operation_id: str, summary: str, content_types: list[str], *names: str
) -> dict[str, Any]:
    """A download of a file at a path of `names`, which takes a byte range."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    content = {content_type: binary for content_type in content_types}
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "tags": ["files"],
            "parameters": [
                *path_params(*names),
                {
                    "name": "Range",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "A single byte range, e.g. `bytes=0-1023`",
                },
            ],
            "responses": {
                "200": {"description": "The whole file", "content": content},
                "206": {"description": "The requested byte range", "content": content},
                **_errors("404", "405", "416"),
            },
        }
    }


def _admin_paths() -> dict[str, Any]:
    """The admin API, from the same tables that route it."""
    from vidu_lipsync_mock.http.admin_routes import ADMIN_PREFIX, OPERATIONS
    from vidu_lipsync_mock.http.inspector_routes import INSPECTOR_ROUTES

    paths: dict[str, Any] = {}
    for op in (*OPERATIONS, *INSPECTOR_ROUTES):
        media_type = op.media_type.split(";")[0]
        schema = op.schema
        if schema is None:
            schema = envelope({}) if media_type == "application/json" else {"type": "string"}
        operation: dict[str, Any] = {
            "operationId": "admin_" + op.handler,
            "summary": op.summary,
            "tags": ["admin"],
            "responses": {
                "200": {"description": op.summary, "content": {media_type: {"schema": schema}}},
                **_errors("400", "404", "405", "409"),
            },
        }
        if op.path != "/health":  # the guard's answers (see http/admin_guard.py)
            operation["security"] = [{}, {"adminToken": []}]
            operation["responses"].update(_errors("403"))
            operation["responses"]["401"] = {
                **_errors("401")["401"],
                "description": "Missing X-Mock-Admin-Token (a server with an admin token)",
            }
            if op.method != "GET":
                operation["responses"].update(_errors("415"))
        parameters = path_params(*re.findall(r"\{(\w+)\}", op.path)) + [
            {"name": name, "in": "query", "required": False, "schema": dict(schema)}
            for name, schema in op.query.items()
        ]
        if parameters:
            operation["parameters"] = parameters
        if op.body is not None:
            operation["requestBody"] = {
                "required": bool(op.body.get("required")),
                "content": {"application/json": {"schema": dict(op.body)}},
            }
        paths.setdefault(ADMIN_PREFIX + op.path, {})[op.method.lower()] = operation
    return paths


def _result_files(registry: Registry) -> dict[str, list[str]]:
    """Each result file name the models use, with the types it is served with."""
    files: dict[str, list[str]] = {}
    for spec in registry:
        result = spec.card.result
        types = files.setdefault(result.file_name, [])
        if result.content_type not in types:
            types.append(result.content_type)
    return files


def build_openapi(registry: Registry) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for spec in registry:
        paths[f"/api/v1/{spec.model_id}/async"] = {"post": _submit_operation(spec, "")}
        paths[f"/api/v1/{spec.model_id}"] = {"post": _submit_operation(spec, "Cli")}
    paths["/api/v1/tasks/{task_id}"] = {
        "get": {
            "operationId": "getTask",
            "summary": "Get a task's status and result",
            "tags": ["tasks"],
            "security": [{"bearer": []}],
            "parameters": path_params("task_id"),
            "responses": {
                "200": json_success("The task", "TaskResponse"),
                **_errors("401", "404", "405", "429", "500", "503"),
            },
        }
    }
    for file_name, content_types in _result_files(registry).items():
        paths[f"/files/{{task_id}}/{file_name}"] = _file_operation(
            "download" + "".join(part.title() for part in re.split(r"[^A-Za-z0-9]+", file_name)),
            "Download a task's result (what resources[].url points at)",
            content_types,
            "task_id",
        )
    paths["/media/{name}"] = _file_operation(
        "downloadSample",
        "Download a bundled sample input (video, audio, face image)",
        ["*/*"],
        "name",
    )
    paths["/openapi.json"] = {
        "get": {
            "operationId": "getOpenApi",
            "summary": "This document",
            "tags": ["meta"],
            "responses": {
                "200": {
                    "description": "OpenAPI 3.1 document",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }
    paths.update(account_paths(_errors, _file_operation))
    paths.update(_admin_paths())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "vidu-lipsync-mock",
            "version": "0.1.0",
            "description": "Local emulator of the Modellix API for "
            + ", ".join(spec.model_id for spec in registry)
            + ". Paths and bodies follow the provider; see the docs for the fidelity table.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": _components(registry),
    }
