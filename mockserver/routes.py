"""The provider's public endpoints. Each handler parses, calls the state, renders: no rules
of the service live here, so the Python API and the HTTP API cannot disagree."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from dataclasses import replace

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from . import wire
from .errors import ApiError, body_too_large, echo, range_not_satisfiable
from .faults import CREATED_TASK_KEY, DEFAULT_MESSAGES, MAX_DELAY_SECONDS, TASK_FAULTS_KEY, Fault
from .media import MediaFile, RangeNotSatisfiable, content_range, parse_range
from .openapi import build_openapi
from .ratelimit import Verdict
from .state import MockState

__all__ = ["PublicApi", "json_response"]

JSON = "application/json"


def json_response(
    body: bytes, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(body, status_code=status, media_type=JSON, headers=headers)


@functools.lru_cache(maxsize=256)
def _origin(scheme: str, host: str, port: int | None, host_header: str, root_path: str) -> str:
    """Building a URL object per request showed up in profiles; an origin depends only on
    these few values, so it is computed once per distinct combination."""
    netloc = host_header or (host if port is None else f"{host}:{port}")
    return f"{scheme}://{netloc}{root_path}".rstrip("/")


def base_url(request: Request, state: MockState) -> str:
    """The origin the client reached us at, so `get_result.url` leads back here."""
    if state.config.public_base_url:
        return state.config.public_base_url.rstrip("/")
    scope = request.scope
    server = scope.get("server") or ("localhost", None)
    return _origin(
        scope.get("scheme", "http"),
        str(server[0]),
        server[1],
        request.headers.get("host", ""),
        scope.get("root_path", ""),
    )


async def read_limited_body(request: Request, limit: int) -> bytes:
    """Read a body but stop at `limit` bytes: a huge upload costs us nothing past it."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise body_too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise body_too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _with_quota(error: ApiError, verdict: Verdict | None) -> ApiError:
    """Errors after admission still carry the quota headers, as every response does."""
    if verdict is not None:
        for name, value in verdict.headers().items():
            error.headers.setdefault(name, value)
    return error


def media_response(request: Request, media: MediaFile, cache_seconds: int) -> Response:
    """Serve bytes as a CDN would: ETag, `Accept-Ranges`, single ranges with 206, 416 past
    the end, and `If-Range` falling back to the whole file when the validator changed."""
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": media.etag,
        "Cache-Control": f"private, max-age={max(cache_seconds, 0)}",
    }
    range_header = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range.strip() != media.etag:
        range_header = None
    try:
        byte_range = parse_range(range_header, media.size)
    except RangeNotSatisfiable:
        raise range_not_satisfiable(media.size) from None
    if byte_range is None:
        body = media.data
        status = 200
    else:
        body = media.data[byte_range.start : byte_range.stop]
        headers["Content-Range"] = content_range(byte_range, media.size)
        status = 206
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(b"", status_code=status, media_type=media.content_type, headers=headers)
    return Response(body, status_code=status, media_type=media.content_type, headers=headers)


def _damaged(media: MediaFile, fault: Fault) -> MediaFile:
    """A result file broken the way storage and CDNs break them."""
    data = media.data
    if fault.kind == "result_truncated":
        data = data[: len(data) // 2]
    else:  # result_corrupt: keep the length, overwrite the structure after `ftyp`
        data = data[:32] + bytes(b ^ 0x5A for b in data[32:96]) + data[96:]
    return replace(media, data=data, etag=f'"{fault.kind}-{media.etag.strip(chr(34))}"', mp4=None)


def _slow(media: MediaFile, seconds: float) -> Response:
    seconds = min(seconds, MAX_DELAY_SECONDS)
    pieces = 20
    step = max(1, -(-media.size // pieces))

    async def drip() -> AsyncIterator[bytes]:
        for offset in range(0, media.size, step):
            await asyncio.sleep(seconds / pieces)
            yield media.data[offset : offset + step]

    return StreamingResponse(
        drip(),
        media_type=media.content_type,
        headers={"Content-Length": str(media.size), "ETag": media.etag},
    )


class ProviderConvertor(Convertor[str]):
    """A provider name: any path segment but `tasks`, which is the poll path's own, so a
    POST to `/api/v1/tasks/{id}` is a wrong method (405), not a submit to a model."""

    regex = "(?!tasks/)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("provider", ProviderConvertor())


class PublicApi:
    """Endpoints of the real service, plus the result and sample file hosts."""

    def __init__(self, state: MockState) -> None:
        self.state = state
        self._openapi: bytes | None = None

    def routes(self) -> list[Route]:
        return [
            Route("/api/v1/tasks/{task_id}", self.poll, methods=["GET"], name="poll"),
            Route(
                "/api/v1/{provider:provider}/{model}/async",
                self.submit,
                methods=["POST"],
                name="submit",
            ),
            Route(
                "/api/v1/{provider:provider}/{model}",
                self.submit,
                methods=["POST"],
                name="submit_cli",
            ),
            Route(
                "/files/{task_id}/{filename}", self.result_file, methods=["GET"], name="download"
            ),
            Route("/media/{name}", self.sample_file, methods=["GET"], name="sample"),
            Route("/openapi.json", self.openapi, methods=["GET"], name="openapi"),
        ]

    async def submit(self, request: Request) -> Response:
        state = self.state
        api_key = state.authenticate(request.headers.get("authorization"))
        verdict = state.admit(api_key)
        try:
            spec = state.model(f"{request.path_params['provider']}/{request.path_params['model']}")
            raw = await read_limited_body(request, state.config.max_body_bytes)
            params = wire.parse_json_object(raw, request.headers.get("content-type"))
            task = state.submit(
                spec.model_id,
                params,
                api_key,
                faults=request.scope.get(TASK_FAULTS_KEY, ()),
                verdict=verdict,
            )
        except ApiError as error:
            raise _with_quota(error, verdict) from None
        request.scope[CREATED_TASK_KEY] = task.task_id
        body = wire.success_body(wire.submit_data(task, base_url(request, state)))
        return json_response(body, headers=verdict.headers() if verdict else None)

    async def poll(self, request: Request) -> Response:
        state = self.state
        api_key = state.authenticate(request.headers.get("authorization"))
        verdict = state.admit(api_key)
        try:
            task = state.poll(request.path_params["task_id"])
        except ApiError as error:
            raise _with_quota(error, verdict) from None
        data = wire.task_data(
            task, base_url(request, state), state.result_media(), state.config.billing_amount
        )
        return json_response(
            wire.success_body(data), headers=verdict.headers() if verdict else None
        )

    async def result_file(self, request: Request) -> Response:
        state = self.state
        task_id = request.path_params["task_id"]
        if request.path_params["filename"] != "result.mp4":
            raise ApiError(404, f"Resource not found: no such file for task '{echo(task_id)}'")
        task = state.result_task(task_id)
        media = state.media.result_video()
        fault = task.result_fault
        if isinstance(fault, Fault):
            if fault.kind == "result_error":
                status = int(fault.options.get("status", 403))
                raise ApiError(status, DEFAULT_MESSAGES.get(status, "Internal server error"))
            if fault.kind == "result_slow":
                return _slow(media, float(fault.options.get("seconds", 5.0)))
            media = _damaged(media, fault)
        remaining = int(task.expires_at - state.clock.now())
        return media_response(request, media, remaining)

    async def sample_file(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in self.state.media.names():
            raise ApiError(404, f"Resource not found: no sample file '{echo(name)}'")
        return media_response(request, self.state.media.get(name), 3600)

    async def openapi(self, request: Request) -> Response:
        if self._openapi is None:
            self._openapi = wire.dumps(build_openapi(self.state.registry))
        return json_response(self._openapi)
