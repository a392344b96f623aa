"""The provider's public endpoints. Each handler parses, calls the state, renders: no rules
of the service live here, so the Python API and the HTTP API cannot disagree.

Handlers are plain functions from an `Incoming` request to a `Reply` (see `exchange`):
the edge has already read the body, so nothing here awaits, and a fault can run a handler
and then decide what of its answer the client gets.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace

from vidu_lipsync_mock.faults import Fault, deliver_result
from vidu_lipsync_mock.http import wire
from vidu_lipsync_mock.http.messages import Headers, Incoming, Reply, json_reply
from vidu_lipsync_mock.http.openapi import build_openapi
from vidu_lipsync_mock.media.library import (
    MediaFile,
    RangeNotSatisfiable,
    content_range,
    parse_range,
)
from vidu_lipsync_mock.service.errors import ApiError, body_too_large, echo, range_not_satisfiable
from vidu_lipsync_mock.service.quotas import Verdict
from vidu_lipsync_mock.service.tasks import TaskSnapshot
from vidu_lipsync_mock.state import MockState

__all__ = ["Handler", "PublicApi", "base_url", "media_reply"]

Handler = Callable[[Incoming], Reply]


@functools.lru_cache(maxsize=256)
def _origin(scheme: str, server: object, host: bytes | None, root_path: str) -> str:
    """An origin depends only on these few values, so it is computed once per distinct
    combination instead of building a URL object per request."""
    if host:
        netloc = host.decode("latin-1")
    elif isinstance(server, tuple) and len(server) == 2:
        netloc = str(server[0]) if server[1] is None else f"{server[0]}:{server[1]}"
    else:
        netloc = "localhost"
    return f"{scheme}://{netloc}{root_path}".rstrip("/")


def base_url(request: Incoming, state: MockState) -> str:
    """The origin the client reached us at, so `get_result.url` leads back here."""
    public = state.config.public_base_url
    if public:
        return public.rstrip("/")
    scope = request.scope
    host = request.headers.get(b"host")
    scheme = scope.get("scheme", "http")
    root_path = scope.get("root_path", "")
    if host:  # nearly always (HTTP/1.1 requires it): the server address does not matter
        return _origin(scheme, None, host, root_path)
    server = scope.get("server")
    return _origin(scheme, tuple(server) if server else None, None, root_path)


def _with_quota(error: ApiError, verdict: Verdict | None) -> ApiError:
    """Errors after admission still carry the quota headers, as every response does."""
    if verdict is not None:
        for name, value in verdict.headers().items():
            error.headers.setdefault(name, value)
    return error


def _quota_headers(verdict: Verdict | None) -> Headers | None:
    return None if verdict is None else verdict.raw_headers()


def media_reply(request: Incoming, media: MediaFile, cache_seconds: int) -> Reply:
    """Serve bytes as a CDN would: ETag, `Accept-Ranges`, single ranges with 206, 416 past
    the end, and `If-Range` falling back to the whole file when the validator changed."""
    headers: Headers = [
        (b"accept-ranges", b"bytes"),
        (b"etag", media.etag.encode("latin-1")),
        (b"cache-control", f"private, max-age={max(cache_seconds, 0)}".encode()),
    ]
    range_header = request.header(b"range")
    if_range = request.header(b"if-range")
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
        headers.append((b"content-range", content_range(byte_range, media.size).encode()))
        status = 206
    content_type = media.content_type.encode("latin-1")
    if request.method == "HEAD":
        headers.append((b"content-length", str(len(body)).encode()))
        return Reply(b"", status, content_type, headers)
    return Reply(body, status, content_type, headers)


class PublicApi:
    """Endpoints of the real service, plus the result and sample file hosts."""

    #: Rendered poll answers kept at most (the tasks polled lately); past it they are
    #: dropped whole and re-rendered. Small on purpose: entries are not removed when their
    #: task expires, so this bound is what keeps a long-running server's memory flat.
    RENDERED_LIMIT = 4096

    def __init__(self, state: MockState) -> None:
        self.state = state
        self._openapi: bytes | None = None
        self._rendered: dict[str, tuple[tuple[str, str, str], bytes]] = {}
        self._rendered_for: object = None
        self.handlers: dict[str, Handler] = {
            "poll": self.poll,
            "submit": self.submit,
            "submit_cli": self.submit,
            "download": self.result_file,
            "sample": self.sample_file,
            "openapi": self.openapi,
        }

    def submit(self, request: Incoming) -> Reply:
        state = self.state
        api_key = state.authenticate(request.header(b"authorization"))
        verdict = state.admit(api_key)
        try:
            provider, model = request.params
            spec = state.model(f"{provider}/{model}")
            limit = state.config.max_body_bytes
            declared = request.headers.get(b"content-length", b"")
            if len(request.body) > limit or (declared.isdigit() and int(declared) > limit):
                raise body_too_large(limit)
            content_type = request.header(b"content-type")
            params = request.parsed
            if params is None or not wire.is_json_type(content_type):
                params = wire.parse_json_object(request.body, content_type)
            task = state.submit(
                spec.model_id,
                params,
                api_key,
                faults=request.task_faults,
                verdict=verdict,
                spec=spec,
            )
        except ApiError as error:
            raise _with_quota(error, verdict) from None
        reply = json_reply(
            wire.submit_body(task, base_url(request, state)), _quota_headers(verdict)
        )
        reply.task_id = task.task_id
        return reply

    def poll(self, request: Incoming) -> Reply:
        state = self.state
        api_key = state.authenticate(request.header(b"authorization"))
        verdict = state.admit(api_key)
        try:
            task = state.poll(request.params[0])
        except ApiError as error:
            raise _with_quota(error, verdict) from None
        return json_reply(self._task_body(task, base_url(request, state)), _quota_headers(verdict))

    def _task_body(self, task: TaskSnapshot, base: str) -> bytes:
        """A poll's answer changes only when the task's status does, so the last one
        rendered for each task is kept (per origin), and a client polling a finished task
        costs a lookup. Task ids are unique within a store; a new store (a reset) starts
        the cache afresh."""
        state = self.state
        rendered = self._rendered
        if self._rendered_for is not state.store or len(rendered) >= self.RENDERED_LIMIT:
            rendered.clear()
            self._rendered_for = state.store
        billing = state.config.billing_amount
        key = (task.status.value, base, billing)
        known = rendered.get(task.task_id)
        if known is not None and known[0] == key:
            return known[1]
        media = state.result_media(task.model_id)
        body = wire.success_body(wire.task_data(task, base, media, billing))
        rendered[task.task_id] = (key, body)
        return body

    def result_file(self, request: Incoming) -> Reply:
        state = self.state
        task_id, filename = request.params
        task = state.result_task(task_id)
        result = state.result_media(task.model_id)
        if filename != result.spec.file_name:
            raise ApiError(404, f"Resource not found: no such file for task '{echo(task_id)}'")
        media = result.file
        fault = task.result_fault
        if isinstance(fault, Fault):
            served = deliver_result(fault, media.data)
            if served.status != 200:
                raise ApiError(served.status, served.message)
            if served.stream is not None:
                content_type = media.content_type.encode("latin-1")
                headers: Headers = [
                    (b"content-length", str(media.size).encode()),
                    (b"etag", media.etag.encode("latin-1")),
                ]
                return Reply(b"", 200, content_type, headers, stream=served.stream)
            if served.damaged:
                etag = f'"{fault.kind}-{media.etag.strip(chr(34))}"'
                media = replace(media, data=served.data, etag=etag, mp4=None)
        remaining = int(task.expires_at - state.clock.now())
        return media_reply(request, media, remaining)

    def sample_file(self, request: Incoming) -> Reply:
        name = request.params[0]
        try:
            media = self.state.media.get(name)
        except KeyError:
            raise ApiError(404, f"Resource not found: no sample file '{echo(name)}'") from None
        return media_reply(request, media, 3600)

    def openapi(self, request: Incoming) -> Reply:
        if self._openapi is None:
            self._openapi = wire.dumps(build_openapi(self.state.registry))
        return json_reply(self._openapi)
