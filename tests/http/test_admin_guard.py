"""The admin API's door (http/admin_guard.py), in-process: which Hosts, origins, bodies and
tokens reach `/_mock/*`, and that every refusal is the provider's envelope and changes
nothing. (Over a real socket and from the command line: tests/e2e/test_admin_exposure.py.)
"""

from __future__ import annotations

import hmac
from typing import Any

import pytest

from vidu_lipsync_mock.http import admin_guard

TOKEN = "s3cret-admin-token-0123456789"
RULE = {"fault": "error", "status": 503}
JSON = {"Content-Type": "application/json"}


def refused(check: Any, response: Any, status: int, start: str) -> None:
    """A refusal: the envelope with `status`, declared by the document, whose message
    starts with `start` and is bounded."""
    shown = check.error(response, status)
    assert shown.startswith(start), shown
    assert len(shown) < 400, shown


# --- Host ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "localhost:9999",
        "127.0.0.1",
        "127.0.0.1:8000",
        "127.0.0.2:1",
        "[::1]",
        "[::1]:8000",
        "LOCALHOST:80",
    ],
)
def test_loopback_names_with_any_port_reach_the_admin_api(client, check, host):
    check.success(client.get("/_mock/config", headers={"Host": host}))


def test_the_name_the_client_used_in_process_is_the_mocks_own(make_client, mock, check):
    # In-process the connection "arrives at" the client's base URL, so its name is allowed
    # with nothing to configure: the plugin's http://lipsync.test, Starlette's testserver.
    for base_url in ("http://lipsync.test", "http://testserver", "https://mock:8443"):
        check.success(make_client(mock, base_url=base_url).get("/_mock/config"))


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:8000",
        "127.0.0.1.evil.example",
        "127.0.0.1:1@evil.example",
        "localhost:99999",
        "local host",
        "",
    ],
)
def test_a_foreign_or_malformed_host_is_refused_and_changes_nothing(client, mock, check, host):
    response = client.post("/_mock/faults", json=RULE, headers={"Host": host})
    refused(check, response, 403, "Forbidden: the admin API answers only to the mock's own")
    assert mock.fault_rules() == []
    refused(check, client.get("/_mock/journal", headers={"Host": host}), 403, "Forbidden: ")


def test_allowed_hosts_and_the_public_base_urls_host_are_the_mocks_own(make_mock, make_client):
    mock = make_mock(allowed_hosts=["mock", "Proxy.Internal"], public_base_url="https://api.test")
    client = make_client(mock)
    for host in ("mock", "mock:8000", "proxy.internal", "api.test", "api.test:443"):
        assert client.get("/_mock/config", headers={"Host": host}).status_code == 200, host
    assert client.get("/_mock/config", headers={"Host": "other"}).status_code == 403


def test_a_huge_host_is_refused_with_a_bounded_echo(client, check):
    response = client.get("/_mock/tasks", headers={"Host": "h" * 5000})
    refused(check, response, 403, "Forbidden: ")


def test_health_answers_any_host_origin_and_no_token(make_mock, make_client, check):
    client = make_client(make_mock(admin_token=TOKEN))
    headers = {"Host": "mock-service:8000", "Origin": "https://elsewhere.example"}
    assert check.success(client.get("/_mock/health", headers=headers))["status"] == "ok"


# --- origin -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "http://testserver:8080"},  # another port is another origin
        {"Origin": "null"},  # a sandboxed frame or a file:// page
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # a page on localhost:3000, say
    ],
)
def test_a_cross_origin_request_is_refused(client, mock, check, headers):
    response = client.post("/_mock/faults", json=RULE, headers=headers)
    refused(check, response, 403, "Forbidden: cross-")
    assert mock.fault_rules() == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://testserver"},
        {"Origin": "HTTP://TestServer"},
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},  # typed into the address bar
    ],
)
def test_the_mocks_own_origin_is_let_in(client, mock, check, headers):
    check.success(client.post("/_mock/faults", json=RULE, headers=headers))
    assert len(mock.fault_rules()) == 1


def test_the_public_base_urls_origin_is_the_mocks_own(make_mock, make_client, check):
    mock = make_mock(public_base_url="https://mock.example/base")
    client = make_client(mock)
    check.success(client.get("/_mock/tasks", headers={"Origin": "https://mock.example"}))


# --- bodies of writes ---------------------------------------------------------------------


def test_the_csrf_of_the_issue_is_closed(client, mock, check):
    """A cross-site page can send `text/plain` without asking first; it is never acted on,
    whether or not the browser says where it came from."""
    body = b'{"fault": "error", "status": 503}'
    plain = {"Content-Type": "text/plain"}
    for headers in (plain, {**plain, "Origin": "https://evil.example"}):
        response = client.post("/_mock/faults", content=body, headers=headers)
        assert response.status_code in (403, 415)
    refused(
        check,
        client.post("/_mock/faults", content=body, headers=plain),
        415,
        "Unsupported media type: Content-Type must be application/json, got text/plain",
    )
    assert mock.fault_rules() == []


@pytest.mark.parametrize(
    ("method", "path", "content_type", "content"),
    [
        ("POST", "/_mock/faults", "application/x-www-form-urlencoded", b"fault=error"),
        ("POST", "/_mock/reset", "multipart/form-data; boundary=x", b""),
        ("POST", "/_mock/reset", "text/plain", b""),  # a form with no fields
        ("PUT", "/_mock/clock", None, b'{"now": 2000000000}'),  # a body of no stated type
        ("DELETE", "/_mock/faults", "text/plain", b"x"),
    ],
)
def test_a_write_that_is_not_json_is_refused_415(
    client, mock, check, method, path, content_type, content
):
    mock.add_fault(RULE)
    before = (mock.fault_rules(), mock.now())
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = client.request(method, path, content=content, headers=headers)
    refused(check, response, 415, "Unsupported media type: Content-Type must be application/json")
    assert (mock.fault_rules(), mock.now()) == before


def test_a_huge_content_type_is_echoed_bounded(client, check):
    response = client.post("/_mock/reset", headers={"Content-Type": "text/" + "x" * 3000})
    refused(check, response, 415, "Unsupported media type: ")


def test_json_writes_and_writes_without_a_body_are_accepted(client, mock, check):
    check.success(client.post("/_mock/faults", json=RULE))
    charset = {"Content-Type": "application/json; charset=utf-8"}
    check.success(
        client.request("PUT", "/_mock/clock", content=b'{"now": 2000000000}', headers=charset)
    )
    check.success(client.request("DELETE", "/_mock/faults"))  # no body, no type
    check.success(client.post("/_mock/reset"))
    assert mock.fault_rules() == []


# --- the token ----------------------------------------------------------------------------


@pytest.fixture
def guarded(make_mock, make_client):
    mock = make_mock(admin_token=TOKEN)
    return mock, make_client(mock)


def test_with_a_token_every_admin_call_but_health_needs_it(guarded, check):
    mock, client = guarded
    missing = client.post("/_mock/faults", json=RULE)
    refused(check, missing, 401, "Authentication failed: missing X-Mock-Admin-Token header")
    wrong = client.post("/_mock/faults", json=RULE, headers={"X-Mock-Admin-Token": TOKEN + "x"})
    refused(check, wrong, 403, "Forbidden: wrong X-Mock-Admin-Token")
    assert mock.fault_rules() == []
    for path in ("/_mock/config", "/_mock/journal", "/_mock/tasks", "/_mock/nowhere"):
        assert client.get(path).status_code == 401, path
    check.success(client.post("/_mock/faults", json=RULE, headers={"X-Mock-Admin-Token": TOKEN}))
    assert len(mock.fault_rules()) == 1
    check.success(client.get("/_mock/health"))


def test_the_token_is_compared_in_constant_time(guarded, monkeypatch):
    _, client = guarded
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(admin_guard.hmac, "compare_digest", spy)
    client.get("/_mock/config", headers={"X-Mock-Admin-Token": "guess"})
    assert compared == [(b"guess", TOKEN.encode())]


def test_the_token_is_not_shown_by_the_admin_api(guarded):
    _, client = guarded
    shown = client.get("/_mock/config", headers={"X-Mock-Admin-Token": TOKEN})
    assert shown.json()["data"]["admin_token"] == "[redacted]"
    assert TOKEN not in shown.text


def test_the_public_api_ignores_the_token_and_the_guard(guarded, check):
    mock, client = guarded
    submit = client.post(
        "/api/v1/vidu/lip-sync/async",
        json={"video_url": "https://example.com/v.mp4"},
        headers={**mock.auth_headers, "Origin": "https://app.example"},
    )
    check.success(submit)
