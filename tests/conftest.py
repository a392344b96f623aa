"""Shared fixtures for the HTTP-level and end-to-end tests.

* `mock` / `make_mock`: in-process mocks on a manual clock; every one is stopped at teardown
  and the test fails if the server hid a crash of its own behind a 500.
* `client` / `make_client`: a synchronous client over `httpx.ASGITransport` (no socket);
  `async_client_for(mock)`: the asynchronous `httpx.AsyncClient` it wraps.
* `served`: the same mock on a real loopback socket.
* `contract`: checks a response against the schema the served `/openapi.json` declares for
  its path, method and status (jsonschema, `$ref`s resolved inside the document) and against
  the provider's envelope from NOTES.md.

Helpers are reached through fixtures rather than imported, because `tests/` is not a package.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from vidu_lipsync_mock import LipSyncMock

SUBMIT_PATH = "/api/v1/vidu/lip-sync/async"
SUBMIT_CLI_PATH = "/api/v1/vidu/lip-sync"
MODEL_ID = "vidu/lip-sync"
VALID_BODY: dict[str, str] = {
    "video_url": "https://example.com/presenter.mp4",
    "audio_url": "https://example.com/voiceover.mp3",
}

OPENAPI_URI = "urn:vidu-lipsync-mock:openapi"
# "<Category>: <detail>", the category capitalised words (NOTES.md, "Errors").
ERROR_MESSAGE = re.compile(r"[A-Z][a-z]*(?: [a-z]+)*: \S.*")
_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class ContractError(AssertionError):
    """A response the served OpenAPI document or the provider's envelope does not allow."""


def _pointer(*parts: str) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def _template_regex(template: str) -> re.Pattern[str]:
    pieces = re.split(r"(\{[^}/]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in pieces if p))


class Contract:
    """What `/openapi.json` promises, checked against real responses."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        resource = DRAFT202012.create_resource(document)
        self.registry: Registry[Any] = Registry().with_resource(OPENAPI_URI, resource)
        paths: Mapping[str, Any] = document["paths"]
        # OpenAPI: concrete paths win over templated ones when both match.
        self._templates = sorted(
            ((template, _template_regex(template)) for template in paths),
            key=lambda item: (item[0].count("{"), item[0]),
        )

    def validator(self, pointer: str) -> Draft202012Validator:
        return Draft202012Validator({"$ref": f"{OPENAPI_URI}#{pointer}"}, registry=self.registry)

    def template_for(self, path: str) -> str | None:
        for template, regex in self._templates:
            if regex.fullmatch(path):
                return template
        return None

    def declared_methods(self, template: str) -> set[str]:
        return {m.upper() for m in self.document["paths"][template] if m in _HTTP_METHODS}

    def check(self, response: httpx.Response) -> None:
        """Raise `ContractError` unless the response is one the document allows."""
        request = response.request
        self.check_raw(
            request.method,
            request.url.path,
            response.status_code,
            response.headers,
            response.content,
        )

    def check_raw(
        self, method: str, path: str, status: int, headers: Mapping[str, str], body: bytes
    ) -> None:
        lowered = {k.lower(): v for k, v in headers.items()}
        content_type = lowered.get("content-type", "").split(";", 1)[0].strip().lower()
        template = self.template_for(path)
        operation_method = "get" if method.upper() == "HEAD" else method.lower()
        operation = None
        if template is not None:
            operation = self.document["paths"][template].get(operation_method)
        if operation is None:
            # Outside every declared operation only the router's own answers are possible:
            # 404 (no such path or model) and 405 (path known, method not).
            if status not in (404, 405):
                raise ContractError(f"{method} {path} -> {status}: not a documented operation")
            if status == 405 and template is not None:
                allowed = {m.strip().upper() for m in lowered.get("allow", "").split(",")}
                allowed.discard("")
                expected = self.declared_methods(template)
                if "GET" in expected:
                    expected.add("HEAD")
                if allowed != expected:
                    raise ContractError(
                        f"405 Allow {sorted(allowed)} != methods declared for {template} "
                        f"{sorted(expected)}"
                    )
            pointer = _pointer("components", "schemas", "Error")
            self._validate_json(pointer, content_type, body, f"{method} {path} -> {status}")
            self.check_envelope(status, body)
            return
        responses = operation["responses"]
        key = str(status) if str(status) in responses else "default"
        if key not in responses:
            raise ContractError(
                f"{method} {path} -> {status}: the document declares only {sorted(responses)} "
                f"for {operation_method.upper()} {template}"
            )
        declared = responses[key].get("content", {})
        if not declared:
            return
        if content_type in declared:
            media = content_type
        elif "*/*" in declared:
            media = "*/*"
        else:
            raise ContractError(
                f"{method} {path} -> {status}: Content-Type {content_type!r} not among "
                f"{sorted(declared)}"
            )
        where = f"{method} {path} -> {status}"
        if method.upper() == "HEAD":
            if body:
                raise ContractError(f"{where}: a HEAD response must have no body")
            return
        if media == "application/json":
            base = ("paths", template, operation_method, "responses", key, "content", media)
            self._validate_json(_pointer(*base, "schema"), content_type, body, where)
            if status >= 400:
                self.check_envelope(status, body)
            elif template.startswith("/api/"):
                self.check_success_envelope(body)

    def _validate_json(self, pointer: str, content_type: str, body: bytes, where: str) -> None:
        if content_type != "application/json":
            raise ContractError(f"{where}: Content-Type {content_type!r}, expected JSON")
        try:
            value = json.loads(body)
        except ValueError as error:
            raise ContractError(f"{where}: body is not JSON: {body[:200]!r}") from error
        errors = sorted(self.validator(pointer).iter_errors(value), key=str)
        if errors:
            details = "; ".join(
                f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors
            )
            raise ContractError(f"{where}: body does not match {pointer}: {details}")

    @staticmethod
    def check_envelope(status: int, body: bytes) -> None:
        """NOTES.md: `{"code": <same as HTTP status>, "message": "<Category>: <detail>"}`."""
        value = json.loads(body)
        if not isinstance(value, dict) or set(value) != {"code", "message"}:
            raise ContractError(f"error body must have exactly code and message: {value!r}")
        if value["code"] != status or type(value["code"]) is not int:
            raise ContractError(f"error code {value['code']!r} differs from HTTP {status}")
        if not isinstance(value["message"], str) or not ERROR_MESSAGE.fullmatch(value["message"]):
            raise ContractError(f"error message not '<Category>: <detail>': {value['message']!r}")

    @staticmethod
    def check_success_envelope(body: bytes) -> None:
        value = json.loads(body)
        if not isinstance(value, dict) or set(value) != {"code", "message", "data"}:
            raise ContractError(f"success body must have exactly code, message, data: {value!r}")
        if value["code"] != 0 or type(value["code"]) is not int or value["message"] != "success":
            raise ContractError(f"success envelope must be code 0 / 'success': {value!r}")


class Checks:
    """Assertions tests share: each also runs the full contract check."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract

    def success(self, response: httpx.Response) -> dict[str, Any]:
        assert response.status_code == 200, (response.status_code, response.text)
        self.contract.check(response)
        data: dict[str, Any] = response.json()["data"]
        return data

    def error(self, response: httpx.Response, status: int, message: str | None = None) -> str:
        assert response.status_code == status, (response.status_code, response.text)
        self.contract.check(response)
        body = response.json()
        assert body == {"code": status, "message": body["message"]}
        if message is not None:
            assert body["message"] == message
        text: str = body["message"]
        return text


class ASGIClient:
    """A synchronous client over `httpx.ASGITransport`: one event loop, one AsyncClient.

    (Starlette's TestClient is deprecated together with httpx, and warnings are errors.)
    """

    def __init__(self, app: Any, base_url: str = "http://testserver") -> None:
        self._loop = asyncio.new_event_loop()
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._loop.run_until_complete(self.http.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("HEAD", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def close(self) -> None:
        try:
            self._loop.run_until_complete(self.http.aclose())
        finally:
            self._loop.close()


def _finish(mock: LipSyncMock) -> None:
    mock.stop()
    crashes = list(mock.crashes)
    assert not crashes, "the mock crashed (client saw a 500):\n" + "\n".join(
        f"{c.method} {c.path}\n{c.traceback}" for c in crashes
    )


@pytest.fixture
def make_mock() -> Iterator[Callable[..., LipSyncMock]]:
    """`make_mock(**settings)`: a LipSyncMock on a manual clock, stopped and crash-checked."""
    made: list[LipSyncMock] = []

    def make(**settings: Any) -> LipSyncMock:
        settings.setdefault("clock", "manual")
        mock = LipSyncMock(**settings)
        made.append(mock)
        return mock

    yield make
    for mock in made:
        _finish(mock)


@pytest.fixture
def mock(make_mock: Callable[..., LipSyncMock]) -> LipSyncMock:
    return make_mock()


@pytest.fixture
def make_client(mock: LipSyncMock) -> Iterator[Callable[..., ASGIClient]]:
    """`make_client(target=mock, base_url=...)`: a sync ASGI client, closed at teardown."""
    made: list[ASGIClient] = []

    def make(target: LipSyncMock | None = None, base_url: str = "http://testserver") -> ASGIClient:
        client = ASGIClient((target or mock).app, base_url)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., ASGIClient]) -> ASGIClient:
    return make_client()


@pytest.fixture
def async_client_for() -> Callable[..., httpx.AsyncClient]:
    """`async with async_client_for(mock) as http:` inside a coroutine run by asyncio.run."""

    def make(target: LipSyncMock, base_url: str = "http://testserver") -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=target.app), base_url=base_url)

    return make


@pytest.fixture
def served(mock: LipSyncMock) -> str:
    """`mock` on a real loopback socket; its base URL. (`mock` stops it at teardown.)"""
    return mock.start()


@pytest.fixture(scope="session")
def openapi_document() -> dict[str, Any]:
    """The document a mock serves at /openapi.json, fetched over HTTP."""
    mock = LipSyncMock(clock="manual")
    client = ASGIClient(mock.app)
    try:
        response = client.get("/openapi.json")
    finally:
        client.close()
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    document: dict[str, Any] = response.json()
    return document


@pytest.fixture(scope="session")
def contract(openapi_document: dict[str, Any]) -> Contract:
    return Contract(openapi_document)


@pytest.fixture(scope="session")
def check(contract: Contract) -> Checks:
    return Checks(contract)


@pytest.fixture
def submit(client: ASGIClient, mock: LipSyncMock, check: Checks) -> Callable[..., str]:
    """`submit(**body_overrides)`: submit a valid task through `client`; its task id."""

    def do(**overrides: Any) -> str:
        response = client.post(
            SUBMIT_PATH, json={**VALID_BODY, **overrides}, headers=mock.auth_headers
        )
        task_id: str = check.success(response)["task_id"]
        return task_id

    return do


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--modellix-api-key",
        default=None,
        help="A key for the real Modellix API: runs the live drift probe "
        "(tests/proxy/test_live_probe.py) against it; $MODELLIX_API_KEY works too.",
    )
