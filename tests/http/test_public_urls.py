"""The origin the public API writes into `get_result.url`, result URLs and upload links
(http/hosts.py): the public base URL, the request's Host when it is one of the mock's own
names, else the address the request arrived at; never an arbitrary Host. The public API
answers whatever the Host, as a cloud API behind a load balancer does (our choice, in
docs/admin-api.md): only the URLs it hands out are chosen with care."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from vidu_lipsync_mock.http.hosts import HostPolicy, host_name

SUBMIT_PATH = "/api/v1/vidu/lip-sync/async"
BODY = {"video_url": "https://example.com/v.mp4", "audio_url": "https://example.com/a.mp3"}


def submit(client, mock, check, host: str | None = None) -> dict:
    headers = {**mock.auth_headers, **({"Host": host} if host is not None else {})}
    return check.success(client.post(SUBMIT_PATH, json=BODY, headers=headers))


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "127.0.0.1:1@evil.example",
        "evil.example/path",
        "user@evil.example",
        "evil.example:8000",
        "a" * 3000,
    ],
)
def test_a_foreign_host_is_answered_but_never_put_into_a_url(client, mock, check, host):
    data = submit(client, mock, check, host)
    task_id = data["task_id"]
    assert data["get_result"]["url"] == f"http://testserver/api/v1/tasks/{task_id}"
    mock.run_until_terminal(task_id)
    headers = {**mock.auth_headers, "Host": host}
    done = check.success(client.get(f"/api/v1/tasks/{task_id}", headers=headers))
    url = done["result"]["resources"][0]["url"]
    assert urlsplit(url).netloc == "testserver", url
    assert "evil" not in url


def test_a_loopback_host_is_followed(client, mock, check):
    data = submit(client, mock, check, "localhost:8123")
    assert data["get_result"]["url"].startswith("http://localhost:8123/api/v1/tasks/")


def test_an_allowed_name_is_followed(make_mock, make_client, check):
    mock = make_mock(allowed_hosts=["mock"])
    data = submit(make_client(mock), mock, check, "mock:8000")
    assert data["get_result"]["url"].startswith("http://mock:8000/api/v1/tasks/")


def test_a_foreign_host_over_a_socket_gets_the_address_it_arrived_at(served, mock, check):
    with httpx.Client(base_url=served) as http:
        headers = {**mock.auth_headers, "Host": "127.0.0.1:1@evil.example"}
        data = check.success(http.post(SUBMIT_PATH, json=BODY, headers=headers))
    assert data["get_result"]["url"] == f"{served}/api/v1/tasks/{data['task_id']}"


def test_the_decisions_are_kept_in_a_bounded_memory(make_mock):
    policy = HostPolicy(make_mock().config)
    scope = {"scheme": "http", "server": ("127.0.0.1", 8000), "root_path": ""}
    for n in range(HostPolicy.LIMIT * 3):
        origin = policy.origin(scope, f"evil{n}.example".encode())
        assert origin == "http://127.0.0.1:8000"
    assert len(policy._origins) <= HostPolicy.LIMIT
    assert len(policy._allowed) <= HostPolicy.LIMIT


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("LocalHost:80", "localhost"),
        ("[::1]:8000", "[::1]"),
        ("mock_service", "mock_service"),
        ("127.0.0.1:1@evil.example", None),
        ("host:65536", None),
        ("host:", None),
        ("[::1", None),
        (" host", None),
    ],
)
def test_host_values_are_read_strictly(value, name):
    assert host_name(value) == name
