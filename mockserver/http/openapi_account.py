"""The `/openapi.json` entries of the endpoints around the model calls: the key check, the
team's balance, the model listing and schema, and uploaded files (`account_routes`).

Kept beside `openapi` rather than in it so each module stays one reading's length;
`openapi.build_openapi` merges these paths and schemas into the one document.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vidu_lipsync_mock.service.catalogue import MAX_PAGE, MAX_PAGE_SIZE

__all__ = [
    "account_paths",
    "account_schemas",
    "envelope",
    "json_success",
    "object_schema",
    "path_params",
]

_PATH_STRING = {"type": "string"}


def envelope(data: dict[str, Any]) -> dict[str, Any]:
    """The provider's success envelope around `data`, as a JSON schema."""
    return {
        "type": "object",
        "required": ["code", "message", "data"],
        "properties": {
            "code": {"type": "integer", "const": 0},
            "message": {"type": "string", "const": "success"},
            "data": data,
        },
    }


def object_schema(required: list[str], **properties: Any) -> dict[str, Any]:
    """A JSON object with these properties, of which `required` must be present."""
    schema: dict[str, Any] = {"type": "object"}
    if required:
        schema["required"] = required
    return {**schema, "properties": properties}


def path_params(*names: str) -> list[dict[str, Any]]:
    """Required text parameters of a path, by name."""
    return [
        {"name": name, "in": "path", "required": True, "schema": _PATH_STRING} for name in names
    ]


def account_schemas() -> dict[str, Any]:
    """Components: what each success answer holds."""
    model = {
        "type": "object",
        "required": ["slug", "type"],
        "properties": {
            name: {"type": "string"}
            for name in (
                "slug",
                "name",
                "provider",
                "provider_slug",
                "type",
                "category",
                "description",
                "docs_url",
            )
        },
    }
    return {
        "KeyValidation": envelope(object_schema(["is_valid"], is_valid={"type": "boolean"})),
        "Balance": envelope(object_schema(["balance"], balance={"type": "number"})),
        "ModelList": {
            "type": "object",
            "required": ["code", "message", "models", "total", "page", "page_size"],
            "properties": {
                "code": {"type": "integer", "const": 0},
                "message": {"type": "string", "const": "success"},
                "models": {"type": "array", "items": model},
                "total": {"type": "integer", "minimum": 0},
                "page": {"type": "integer", "minimum": 1},
                "page_size": {"type": "integer", "minimum": 1},
            },
        },
        "UploadedFile": envelope(
            object_schema(
                ["file_id", "url", "type", "filename", "size", "created_at"],
                file_id={"type": "string", "pattern": "^file-"},
                url={"type": "string", "pattern": "^https?://"},
                type={"type": "string"},
                filename={"type": "string"},
                size={"type": "integer", "minimum": 1},
                created_at={"type": "integer", "description": "Unix milliseconds"},
            )
        ),
    }


def json_success(description: str, schema: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def account_paths(
    errors: Callable[..., dict[str, Any]],
    file_operation: Callable[..., dict[str, Any]],
) -> dict[str, Any]:
    """The paths, given `openapi`'s builders of error responses and file downloads."""
    secured: list[dict[str, list[str]]] = [{"bearer": []}]
    read_errors = errors("401", "402", "405", "429", "500", "503")
    page = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}
    page_size = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}
    return {
        "/api/v1/apikey/validate": {
            "get": {
                "operationId": "validateApiKey",
                "summary": "Whether the key is valid (a bad key gets the 401)",
                "tags": ["account"],
                "security": secured,
                "responses": {"200": json_success("Valid", "KeyValidation"), **read_errors},
            }
        },
        "/api/v1/team/balance": {
            "get": {
                "operationId": "getTeamBalance",
                "summary": "The team's credit in USD",
                "tags": ["account"],
                "security": secured,
                "responses": {"200": json_success("The balance", "Balance"), **read_errors},
            }
        },
        "/api/v1/models": {
            "get": {
                "operationId": "listModels",
                "summary": "The model catalogue, filtered and paged",
                "tags": ["models"],
                "security": secured,
                "parameters": [
                    {"name": name, "in": "query", "required": False, "schema": schema}
                    for name, schema in (
                        ("type", _PATH_STRING),
                        ("category", _PATH_STRING),
                        ("page", page),
                        ("page_size", page_size),
                    )
                ],
                "responses": {
                    "200": json_success("One page of models", "ModelList"),
                    **errors("400", "401", "402", "405", "429", "500", "503"),
                },
            }
        },
        "/api/v1/media/files": {
            "post": {
                "operationId": "uploadFile",
                "summary": "Upload a video, audio or image file (one part named `file`)",
                "tags": ["files"],
                "security": secured,
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": object_schema(
                                ["file"],
                                file={"type": "string", "format": "binary", "minLength": 1},
                            )
                        }
                    },
                },
                "responses": {
                    "200": json_success("The stored file", "UploadedFile"),
                    **errors("400", "401", "402", "405", "413", "415", "429", "500", "503"),
                },
            }
        },
        "/api/v1/media/files/{file_id}": {
            "delete": {
                "operationId": "deleteFile",
                "summary": "Delete one of the team's files",
                "tags": ["files"],
                "security": secured,
                "parameters": path_params("file_id"),
                "responses": {
                    "204": {"description": "Deleted"},
                    **errors("401", "402", "404", "405", "429", "500", "503"),
                },
            }
        },
        "/uploads/{token}/{filename}": file_operation(
            "downloadUpload",
            "An uploaded file, behind its key-less link (what the upload's `url` is)",
            ["*/*"],
            "token",
            "filename",
        ),
        "/models/{provider}/{model}/api_schema": {
            "get": {
                "operationId": "getModelSchema",
                "summary": "A model's contract, its server this mock (no key needed)",
                "tags": ["models"],
                "parameters": path_params("provider", "model"),
                "responses": {
                    "200": {
                        "description": "The model's OpenAPI fragment",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    **errors("404", "405"),
                },
            }
        },
    }
