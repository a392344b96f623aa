"""Errors in the provider's own vocabulary.

The real service answers every failure as `{"code": <HTTP status>, "message": "<Category>:
<detail>"}`. The core raises `ApiError` with exactly that pair (and any headers the provider
attaches), so the HTTP edge renders it without knowing why it happened, and the Python API
raises the same object a remote client would have seen.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "ApiError",
    "authentication_failed",
    "body_too_large",
    "insufficient_balance",
    "internal_error",
    "invalid_format",
    "invalid_json",
    "invalid_parameters",
    "method_not_allowed",
    "model_not_found",
    "range_not_satisfiable",
    "route_not_found",
    "task_not_found",
    "unsupported_media_type",
    "value_out_of_range",
]


ECHO_LIMIT = 200


def echo(value: str) -> str:
    """A client-supplied value as an error message may repeat it: control and other
    non-printable characters escaped (a newline must not split a message or inject a
    header line in a log), and cut to `ECHO_LIMIT` characters."""
    shown = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in value[:ECHO_LIMIT])
    return shown + ("…" if len(value) > ECHO_LIMIT else "")


class ApiError(Exception):
    """A failure the client sees as the provider's error envelope."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})

    @property
    def retryable(self) -> bool:
        """The provider's own rule: 429 and 5xx may be retried, other 4xx never."""
        return self.status == 429 or self.status >= 500

    def envelope(self) -> dict[str, object]:
        return {"code": self.status, "message": self.message}

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.message!r})"


def invalid_parameters(detail: str) -> ApiError:
    return ApiError(400, f"Invalid parameters: {detail}")


def invalid_format(detail: str) -> ApiError:
    return ApiError(400, f"Invalid format: {detail}")


def invalid_json() -> ApiError:
    """The provider's verbatim parse-error message."""
    return ApiError(400, "Invalid format: invalid JSON format")


def value_out_of_range(detail: str) -> ApiError:
    return ApiError(400, f"Value out of range: {detail}")


def authentication_failed(detail: str = "invalid API key") -> ApiError:
    return ApiError(401, f"Authentication failed: {detail}")


def insufficient_balance() -> ApiError:
    return ApiError(402, "Insufficient balance: account balance is insufficient or in arrears")


def task_not_found(task_id: str) -> ApiError:
    return ApiError(
        404, f"Resource not found: task '{echo(task_id)}' does not exist or has expired"
    )


def model_not_found(model_id: str) -> ApiError:
    return ApiError(404, f"Resource not found: model '{echo(model_id)}' is not available")


def route_not_found(method: str, path: str) -> ApiError:
    return ApiError(404, f"Resource not found: no endpoint for {echo(method)} {echo(path)}")


def method_not_allowed(method: str, path: str, allowed: list[str]) -> ApiError:
    return ApiError(
        405,
        f"Method not allowed: {echo(method)} is not supported on {echo(path)}",
        {"Allow": ", ".join(allowed)},
    )


def body_too_large(limit: int) -> ApiError:
    return ApiError(413, f"Request too large: request body exceeds {limit} bytes")


def unsupported_media_type(content_type: str) -> ApiError:
    shown = echo(content_type) if content_type else "(none)"
    return ApiError(
        415, f"Unsupported media type: Content-Type must be application/json, got {shown}"
    )


def range_not_satisfiable(size: int) -> ApiError:
    return ApiError(
        416,
        f"Range not satisfiable: the file is {size} bytes long",
        {"Content-Range": f"bytes */{size}"},
    )


def internal_error() -> ApiError:
    return ApiError(500, "Internal server error")
