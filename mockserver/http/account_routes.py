"""The provider's endpoints around the model calls: the key check, the team's balance, the
model listing and schema, and the team's uploaded files (with their key-less links).

Official clients call these before and beside a submit (the CLI's `doctor`, `auth`,
`init`, `model list/describe/get-schema` and `file upload/delete`). Like the model
endpoints in `public_routes`, each handler hands plain values to the state's admission and
accounts and renders the answer; the rules live in `service`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, quote

from vidu_lipsync_mock.http import wire
from vidu_lipsync_mock.http.messages import Incoming, Reply, json_reply, quota_headers
from vidu_lipsync_mock.http.multipart import read_file_part
from vidu_lipsync_mock.service.catalogue import list_models
from vidu_lipsync_mock.service.errors import ApiError, echo
from vidu_lipsync_mock.service.quotas import with_quota
from vidu_lipsync_mock.service.uploads import Upload
from vidu_lipsync_mock.state import MockState

__all__ = ["AccountApi", "upload_path"]

#: Query strings longer than this are not read past (a listing takes three parameters).
_QUERY_LIMIT = 4096


def upload_path(upload: Upload) -> str:
    """Where an upload is served: its secret token, then its name (the name a client
    saves it under), like a signed CDN link."""
    return f"/uploads/{upload.link_token}/{quote(upload.filename, safe='')}"


class AccountApi:
    """Handlers for the key, balance, catalogue and file endpoints of one mock. `origin`
    gives the origin a request reached us at (`PublicApi.base_url`)."""

    def __init__(self, state: MockState, origin: Callable[[Incoming, MockState], str]) -> None:
        self.state = state
        self.origin = origin

    def validate_key(self, request: Incoming) -> Reply:
        """`GET /api/v1/apikey/validate`: a key let in is valid; any other gets the 401."""
        _, verdict = self.state.admission.admit(request.header(b"authorization"))
        return json_reply(wire.success_body({"is_valid": True}), quota_headers(verdict))

    def balance(self, request: Incoming) -> Reply:
        """`GET /api/v1/team/balance`: the team's credit, a JSON number."""
        state = self.state
        api_key, verdict = state.admission.admit(request.header(b"authorization"))
        body = wire.success_body({"balance": state.balance(api_key)})
        return json_reply(body, quota_headers(verdict))

    def models(self, request: Incoming) -> Reply:
        """`GET /api/v1/models`: the catalogue, a top-level `models` array and its page."""
        state = self.state
        _, verdict = state.admission.admit(request.header(b"authorization"))
        raw = bytes(request.scope.get("query_string", b""))[:_QUERY_LIMIT]
        query: dict[str, str] = {}
        for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
            query.setdefault(name, value)
        try:
            page = list_models(state.registry.cards(), query)
        except ApiError as error:
            raise with_quota(error, verdict) from None
        body = {
            "code": 0,
            "message": wire.SUCCESS_MESSAGE,
            "models": page.models,
            "total": page.total,
            "page": page.page,
            "page_size": page.page_size,
        }
        return json_reply(wire.dumps(body), quota_headers(verdict))

    def upload(self, request: Incoming) -> Reply:
        """`POST /api/v1/media/files`: the key, the quota, the size (413), the form (415,
        400), then the file itself (400 empty, 415 unknown, 429 team full)."""
        state = self.state
        api_key, verdict = state.admission.admit_upload(
            request.header(b"authorization"), request.body, request.declared_length
        )
        try:
            part = read_file_part(request.body, request.header(b"content-type"))
            upload = state.upload(api_key, part.filename, part.data)
        except ApiError as error:
            raise with_quota(error, verdict) from None
        data = {
            "file_id": upload.file_id,
            "url": self.origin(request, state) + upload_path(upload),
            "type": upload.media.content_type,
            "filename": upload.filename,
            "size": upload.size,
            "created_at": upload.created_at_ms,
        }
        return json_reply(wire.success_body(data), quota_headers(verdict))

    def delete_file(self, request: Incoming) -> Reply:
        """`DELETE /api/v1/media/files/{file_id}`: 204 and no body; 404 for a file the team
        does not have."""
        state = self.state
        api_key, verdict = state.admission.admit(request.header(b"authorization"))
        try:
            state.delete_upload(api_key, request.params[0])
        except ApiError as error:
            raise with_quota(error, verdict) from None
        return Reply(b"", 204, None, quota_headers(verdict))

    def api_schema(self, request: Incoming) -> Reply:
        """`GET /models/{provider}/{model}/api_schema`: the model's contract, no key needed,
        its server being this mock's submit path (what `model get-schema` prints)."""
        provider, model = request.params
        spec = self.state.registry.get(f"{provider}/{model}")
        if spec is None:
            raise ApiError(404, f"Model Not Found: '{echo(provider)}/{echo(model)}'")
        content: dict[str, Any] = {"schema": spec.request_schema}
        if spec.request_examples:
            content["examples"] = spec.request_examples
        document = {
            "servers": [
                {"url": f"{self.origin(request, self.state)}/api/v1/{spec.model_id}/async"}
            ],
            "post": {
                "summary": spec.summary,
                "description": spec.description,
                "operationId": spec.operation_id,
                "requestBody": {"content": {"application/json": content}},
                "responses": spec.responses,
            },
        }
        return json_reply(wire.dumps(document))
