"""The provider's public endpoints and their route table. Each handler hands the request's
plain values to the state (whose `Admission` decides the order of the service's checks),
calls the state and renders the answer: no rules of the service live here, so the Python
API and the HTTP API cannot disagree.

Handlers are plain functions from an `Incoming` request to a `Reply` (see `messages`): the
public app has already read the body, so nothing here awaits, and a fault can run a handler
and then decide what of its answer the client gets.
"""

from __future__ import annotations

from dataclasses import replace

from vidu_lipsync_mock.faults import Fault, deliver_result
from vidu_lipsync_mock.http import wire
from vidu_lipsync_mock.http.account_routes import AccountApi
from vidu_lipsync_mock.http.hosts import HostPolicy
from vidu_lipsync_mock.http.messages import Headers, Incoming, Reply, json_reply, quota_headers
from vidu_lipsync_mock.http.openapi import build_openapi
from vidu_lipsync_mock.http.router import UNROUTED, PublicRoute
from vidu_lipsync_mock.media.library import (
    MediaFile,
    RangeNotSatisfiable,
    content_range,
    parse_range,
)
from vidu_lipsync_mock.service.admission import UPLOAD_ROUTE
from vidu_lipsync_mock.service.errors import ApiError, echo, range_not_satisfiable, task_not_found
from vidu_lipsync_mock.service.quotas import with_quota
from vidu_lipsync_mock.service.tasks import TaskSnapshot
from vidu_lipsync_mock.state import MockState

__all__ = ["PublicApi", "media_reply"]


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
        return Reply(b"", status, content_type, headers, length=len(body))
    return Reply(body, status, content_type, headers)


class PublicApi:
    """Endpoints of the real service, plus the result and sample file hosts."""

    #: Rendered poll answers kept at most (the tasks polled lately); past it they are
    #: dropped whole and re-rendered. Small on purpose: entries are not removed when their
    #: task expires, so this bound is what keeps a long-running server's memory flat.
    RENDERED_LIMIT = 4096

    def __init__(self, state: MockState) -> None:
        self.state = state
        self._hosts = HostPolicy(state.config)
        self.accounts = AccountApi(state, self.base_url)
        self._openapi: bytes | None = None
        self._rendered: dict[str, tuple[tuple[str, str, str], bytes]] = {}
        self._rendered_for: object = None

    def base_url(self, request: Incoming, state: MockState) -> str:
        """The origin URLs in answers lead back to: never an arbitrary `Host` (see
        `hosts`)."""
        hosts = self._hosts
        if hosts.config is not state.config:
            hosts = self._hosts = HostPolicy(state.config)
        return hosts.origin(request.scope, request.headers.get(b"host"))

    def routes(self) -> tuple[PublicRoute, ...]:
        """The table the public app serves: paths, methods, the names rules and the journal use,
        handlers. Only a POST to a model path is a submit (a paid request, to the audit and
        to rules); any request under `/media/` is a request for a sample."""
        read = ("GET", "HEAD")
        accounts = self.accounts
        return (
            PublicRoute("/api/v1/tasks/{task_id}", read, "poll", self.poll),
            PublicRoute("/api/v1/apikey/validate", read, "validate", accounts.validate_key),
            PublicRoute("/api/v1/team/balance", read, "balance", accounts.balance),
            PublicRoute("/api/v1/models", read, "models", accounts.models),
            PublicRoute("/api/v1/media/files", ("POST",), UPLOAD_ROUTE, accounts.upload),
            PublicRoute(
                "/api/v1/media/files/{file_id}", ("DELETE",), "delete_file", accounts.delete_file
            ),
            PublicRoute("/uploads/{token}/{filename}", read, "uploaded", self.uploaded_file),
            PublicRoute(
                "/models/{provider}/{model}/api_schema", read, "schema", accounts.api_schema
            ),
            *(
                PublicRoute(
                    path, ("POST",), "submit", self.submit, refused_as=UNROUTED, exists=self._served
                )
                for path in ("/api/v1/{provider}/{model}/async", "/api/v1/{provider}/{model}")
            ),
            PublicRoute("/files/{task_id}/{filename}", read, "download", self.result_file),
            PublicRoute("/media/{name}", read, "sample", self.sample_file, owns_prefix=True),
            PublicRoute("/openapi.json", read, "openapi", self.openapi),
        )

    def _served(self, params: tuple[str, ...]) -> bool:
        """Whether a model path names a served model (else another method is a 404)."""
        return self.state.registry.get("/".join(params)) is not None

    def submit(self, request: Incoming) -> Reply:
        state = self.state
        provider, model = request.params
        api_key, verdict, spec, params = state.admission.admit_submit(
            request.header(b"authorization"),
            f"{provider}/{model}",
            request.body,
            request.declared_length,
            request.header(b"content-type"),
            request.parsed,
        )
        try:
            task = state.submit(
                spec.model_id,
                params,
                api_key,
                faults=request.task_faults,
                verdict=verdict,
                spec=spec,
            )
        except ApiError as error:
            raise with_quota(error, verdict) from None
        body = wire.submit_body(task, self.base_url(request, state))
        reply = json_reply(body, quota_headers(verdict))
        reply.task_id = task.task_id
        return reply

    def poll(self, request: Incoming) -> Reply:
        state = self.state
        api_key, verdict = state.admission.admit(request.header(b"authorization"))
        try:
            task = state.poll(request.params[0])
            if task.api_key != api_key and not state.same_team(task.api_key, api_key):
                raise task_not_found(task.task_id)  # another team's task: as if unknown
        except ApiError as error:
            raise with_quota(error, verdict) from None
        body = self._task_body(task, self.base_url(request, state))
        return json_reply(body, quota_headers(verdict))

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
        key = (task.status._value_, base, billing)  # `.value` is a Python-level property
        known = rendered.get(task.task_id)
        if known is not None and known[0] == key:
            return known[1]
        media = state.task_result(task)
        body = wire.success_body(wire.task_data(task, base, media, billing))
        rendered[task.task_id] = (key, body)
        return body

    def result_file(self, request: Incoming) -> Reply:
        state = self.state
        task_id, filename = request.params
        task = state.result_task(task_id)
        result = state.task_result(task)
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
                headers: Headers = [(b"etag", media.etag.encode("latin-1"))]
                return Reply(
                    b"", 200, content_type, headers, stream=served.stream, length=media.size
                )
            if served.damaged:
                etag = f'"{fault.kind}-{media.etag.strip(chr(34))}"'
                media = replace(media, data=served.data, etag=etag, mp4=None)
        return media_reply(request, media, int(task.expires_at - state.clock.now()))

    def sample_file(self, request: Incoming) -> Reply:
        name = request.params[0]
        try:
            media = self.state.media.get(name)
        except KeyError:
            raise ApiError(404, f"Resource not found: no sample file '{echo(name)}'") from None
        return media_reply(request, media, 3600)

    def uploaded_file(self, request: Incoming) -> Reply:
        """An uploaded file behind its key-less link, served like a result file."""
        upload = self.state.uploaded(*request.params)
        media = MediaFile(
            name=upload.filename,
            data=upload.data,
            content_type=upload.media.content_type,
            etag=f'"{upload.file_id}"',
            mp4=None,
        )
        return media_reply(request, media, int(upload.expires_at - self.state.clock.now()))

    def openapi(self, request: Incoming) -> Reply:
        if self._openapi is None:
            self._openapi = wire.dumps(build_openapi(self.state.registry))
        return json_reply(self._openapi)
