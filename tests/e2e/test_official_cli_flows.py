"""The official CLI's flows (modellix-cli 0.0.7 to 0.0.10), replayed as black-box HTTP over a
real socket: the requests each command makes, in order, and the checks it applies to each
answer (from the study of its source, /work/wt/cli-flows.md, section 9 the checklist).

`Cli` below is a model of the CLI's transport and validators, not the CLI: the origin
rule, the headers it sends (no User-Agent, no Accept), `is_valid` a boolean, `balance` a
finite number, `models[].slug` strings, the schema's shape, task ids and their equality,
resource URLs, the upload record, the download policy. Waits are the mock's manual clock,
never real sleeps.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import json
import math
import re
import ssl
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.service.keys import make_api_key

TASK_ID = re.compile(r"^[A-Za-z0-9._~:/+@=-]{1,512}$")
FILE_ID = re.compile(r"^[A-Za-z0-9._~:+@=-]{1,512}$")
SUCCESS = {"success", "succeeded", "completed"}
FAILURE = {"failed", "error", "canceled", "cancelled"}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(60)
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "[::1]"}


class CliError(Exception):
    """What the CLI reports and exits non-zero with."""


def resolve_base_url(value: str) -> str:
    """`resolveBaseUrl()`: https, or http on a loopback name; an origin with no path."""
    url = urlsplit(value)
    host = url.netloc.rsplit(":", 1)[0] if not url.netloc.startswith("[") else "[::1]"
    if url.scheme != "https" and not (url.scheme == "http" and host in LOOPBACK_HOSTS):
        raise CliError("Modellix API base URL must use HTTPS (HTTP is allowed only for localhost).")
    if url.path not in ("", "/") or url.query or url.fragment or "@" in url.netloc:
        raise CliError("Modellix API base URL must be an origin without a path.")
    return f"{url.scheme}://{url.netloc}"


def check_url(value: Any) -> str:
    if not isinstance(value, str):
        raise CliError("Invalid task resource URL.")
    url = urlsplit(value)
    if url.scheme not in ("http", "https") or url.username or url.password:
        raise CliError(f"Unsupported task resource URL protocol: {url.scheme}:")
    return value


def download_policy(url: str, *, allow_insecure_http: bool, allow_private_network: bool) -> None:
    """`validateDownloadUrlPolicy`: refused before any request is sent."""
    parts = urlsplit(url)
    if parts.scheme == "http" and not allow_insecure_http:
        raise CliError("Refusing an insecure HTTP resource URL.")
    host = parts.hostname or ""
    if not allow_private_network:
        private = host == "localhost" or host.endswith(".localhost")
        with contextlib.suppress(ValueError):  # a name, not an address literal
            private = private or not ipaddress.ip_address(host).is_global
        if private:
            raise CliError("Refusing a private or reserved resource host.")


class Cli:
    """The CLI's requests and checks against one origin with one key."""

    def __init__(self, base_url: str, api_key: str, verify: ssl.SSLContext | bool = True) -> None:
        self.origin = resolve_base_url(base_url)
        self.key = api_key
        self.http = httpx.Client(base_url=self.origin, timeout=15, verify=verify)
        for name in ("user-agent", "accept", "accept-encoding"):
            del self.http.headers[name]  # the CLI sends none of these

    def close(self) -> None:
        self.http.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        auth: bool = True,
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.key}"} if auth else {}
        if content is not None:
            headers["Content-Type"] = content_type or "application/json"
        reply = self.http.request(method, path, headers=headers, content=content)
        if not 200 <= reply.status_code < 300:
            message = reply.json().get("message") if method == "GET" else None
            raise CliError(f"Modellix API error ({reply.status_code}). {message or ''}".strip())
        if method == "DELETE" and not reply.content:
            return None
        try:
            return json.loads(reply.content)
        except ValueError:
            raise CliError("Modellix API protocol error: expected a JSON response.") from None

    # -- commands ---------------------------------------------------------------------

    def validate(self) -> bool:
        valid = self.call("GET", "/api/v1/apikey/validate")["data"].get("is_valid")
        if not isinstance(valid, bool):
            raise CliError("Modellix API protocol error: expected data.is_valid to be a boolean.")
        return valid

    def balance(self) -> str:
        balance = self.call("GET", "/api/v1/team/balance")["data"]["balance"]
        if isinstance(balance, bool) or not isinstance(balance, (int, float)):
            raise CliError("expected data.balance to be a number")
        if not math.isfinite(balance):
            raise CliError("expected data.balance to be finite")
        return f"${balance:.4f} USD"

    def doctor(self) -> list[str]:
        try:
            valid = self.validate()
        except CliError as error:
            return [f"[FAIL] connectivity: {error}"]
        if not valid:
            return ["[FAIL] validation: The API key is invalid or inactive."]
        return ["[PASS] validation", f"[PASS] balance: {self.balance()}"]

    def models(self) -> list[dict[str, Any]]:
        answer = self.call("GET", "/api/v1/models")
        if not isinstance(answer, dict) or not isinstance(answer.get("models"), list):
            raise CliError("expected a models array")
        for model in answer["models"]:
            slug = model.get("slug") if isinstance(model, dict) else None
            if not isinstance(slug, str) or not slug.strip() or len(slug) > 256:
                raise CliError("every model needs a string slug")
        return list(answer["models"])

    def describe(self, slug: str) -> dict[str, Any]:
        for model in self.models():
            if model["slug"].lower() == slug.lower():
                return model
        raise CliError(f"Model not found: {slug}")

    def get_schema(self, slug: str) -> dict[str, Any]:
        provider, model = slug.split("/")
        path = f"/models/{quote(provider, safe='')}/{quote(model, safe='')}/api_schema"
        schema = self.call("GET", path, auth=False)
        if not isinstance(schema.get("servers"), list) or not isinstance(schema.get("post"), dict):
            raise CliError("expected servers and post")
        post = schema["post"]
        if not isinstance(post.get("requestBody"), dict) or not isinstance(
            post.get("responses"), dict
        ):
            raise CliError("expected post.requestBody and post.responses")
        endpoint = urlsplit(schema["servers"][0]["url"])
        resolve_base_url(f"{endpoint.scheme}://{endpoint.netloc}")
        if endpoint.query or endpoint.fragment:
            raise CliError("the schema's server URL has a query or fragment")
        return schema

    def run(self, slug: str, body: dict[str, Any]) -> str:
        answer = self.call("POST", f"/api/v1/{slug}", content=json.dumps(body).encode())
        task_id = answer.get("data", {}).get("task_id")
        if not isinstance(task_id, str) or not TASK_ID.match(task_id):
            raise CliError("a successful response without a usable task ID: outcome unknown")
        return task_id

    def task(self, task_id: str) -> dict[str, Any]:
        data = self.call("GET", f"/api/v1/tasks/{quote(task_id, safe='')}")["data"]
        status = data.get("status")
        if not isinstance(status, str) or not status.strip() or len(status) > 64:
            raise CliError("expected data.status to be a non-empty safe string.")
        if data.get("task_id") != task_id:
            raise CliError(f"Invalid response for task {task_id}: received a different task ID.")
        return dict(data)

    def resources(self, data: dict[str, Any]) -> list[str]:
        found = (data.get("result") or {}).get("resources", data.get("resources", []))
        return [check_url(r["url"] if isinstance(r, dict) else r) for r in found]

    def wait(self, mock: LipSyncMock, task_id: str, interval: float = 2.0) -> Iterator[str]:
        """Poll at once, then every `interval` (the mock's clock), yielding each status."""
        while True:
            status = self.task(task_id)["status"]
            yield status
            if status.lower() in SUCCESS | FAILURE:
                return
            mock.advance(interval)

    def upload(self, name: str, data: bytes, mime: str) -> dict[str, Any]:
        boundary = f"modellix-cli-{uuid.uuid4().hex}{uuid.uuid4().hex[:4]}"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f"filename=\"{name}\"; filename*=UTF-8''{quote(name)}\r\n"
            f"Content-Type: {mime}\r\n\r\n"
        )
        body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
        answer = self.call(
            "POST",
            "/api/v1/media/files",
            content=body,
            content_type=f"multipart/form-data; boundary={boundary}",
        )
        record = answer["data"]
        assert FILE_ID.match(record["file_id"])
        assert isinstance(record["type"], str)
        assert len(record["type"]) <= 128
        url = urlsplit(record["url"])
        resolve_base_url(f"{url.scheme}://{url.netloc}")
        assert isinstance(record["filename"], str)
        assert isinstance(record["size"], int)
        assert record["size"] >= 0
        assert isinstance(record["created_at"], int)  # Unix ms, as production sends
        assert record["created_at"] >= 0
        return dict(record)

    def delete(self, file_id: str) -> None:
        if not FILE_ID.match(file_id):
            raise CliError("bad file id")
        self.call("DELETE", f"/api/v1/media/files/{quote(file_id, safe='')}")

    def download(self, url: str, *, insecure: bool = False, private: bool = False) -> bytes:
        download_policy(url, allow_insecure_http=insecure, allow_private_network=private)
        reply = self.http.get(url, headers={"User-Agent": "modellix-cli"}, follow_redirects=True)
        if not 200 <= reply.status_code < 300:
            raise CliError(f"download failed: {reply.status_code}")
        return reply.content


@pytest.fixture
def served() -> Iterator[LipSyncMock]:
    mock = LipSyncMock(clock="manual", rate_limit=0)
    mock.start(host="127.0.0.1")
    try:
        yield mock
    finally:
        mock.stop()
        assert mock.crashes == []


@pytest.fixture
def cli(served: LipSyncMock) -> Iterator[Cli]:
    client = Cli(served.url, served.api_key)
    yield client
    client.close()


def requests_seen(mock: LipSyncMock) -> list[tuple[str, str]]:
    return [(e.method, e.path) for e in mock.journal.entries()]


def test_the_mock_is_an_origin_the_cli_accepts(served: LipSyncMock) -> None:
    assert resolve_base_url(served.url) == served.url.rstrip("/")
    with pytest.raises(CliError):
        resolve_base_url(served.url + "/api")  # it cannot be mounted under a prefix


def test_doctor_validates_then_reads_the_balance(cli: Cli, served: LipSyncMock) -> None:
    assert cli.doctor() == ["[PASS] validation", "[PASS] balance: $1000000.0000 USD"]
    assert requests_seen(served) == [
        ("GET", "/api/v1/apikey/validate"),
        ("GET", "/api/v1/team/balance"),
    ]


def test_doctor_with_a_bad_key_stops_at_connectivity(served: LipSyncMock) -> None:
    cli = Cli(served.url, "mdlx-nope")
    try:
        (line,) = cli.doctor()
    finally:
        cli.close()
    assert line.startswith("[FAIL] connectivity: Modellix API error (401).")
    assert requests_seen(served) == [("GET", "/api/v1/apikey/validate")]


@pytest.mark.parametrize("command", ["init", "auth login"])
def test_init_and_login_send_one_validation(cli: Cli, served: LipSyncMock, command: str) -> None:
    assert cli.validate() is True
    assert requests_seen(served) == [("GET", "/api/v1/apikey/validate")]


@pytest.mark.parametrize("command", ["auth status", "auth whoami"])
def test_status_validates_and_shows_the_balance(
    cli: Cli, served: LipSyncMock, command: str
) -> None:
    assert cli.validate() is True
    served.set_balance(served.api_key, "12.5")
    assert cli.balance() == "$12.5000 USD"
    assert [path for _, path in requests_seen(served)] == [
        "/api/v1/apikey/validate",
        "/api/v1/team/balance",
    ]


def test_model_list_and_describe(cli: Cli, served: LipSyncMock) -> None:
    models = cli.models()
    assert [m for m in models if m["type"].lower() == "video"] == models  # --type video
    assert cli.describe("VIDU/Lip-Sync")["slug"] == "vidu/lip-sync"  # case-insensitive
    with pytest.raises(CliError, match="Model not found"):
        cli.describe("vidu/nothing")
    assert requests_seen(served) == [("GET", "/api/v1/models")] * 3


def test_model_get_schema_needs_no_key_and_points_at_the_mock(
    cli: Cli, served: LipSyncMock
) -> None:
    schema = cli.get_schema("vidu/lip-sync")
    assert schema["servers"][0]["url"] == f"{cli.origin}/api/v1/vidu/lip-sync/async"
    (entry,) = served.journal.entries()
    assert entry.api_key is None  # sent without Authorization
    with pytest.raises(CliError, match="404"):
        cli.get_schema("vidu/nothing")


def test_model_run_with_wait_polls_at_once_then_every_interval(
    cli: Cli, served: LipSyncMock
) -> None:
    task_id = cli.run("vidu/lip-sync", {"video_url": "https://example.com/v.mp4"})
    statuses = list(cli.wait(served, task_id, interval=2.0))
    assert statuses == ["pending", "processing", "success"]  # 1 s pending, then 2 s running
    data = cli.task(task_id)
    (url,) = cli.resources(data)
    assert url.startswith(cli.origin + "/files/")
    seen = requests_seen(served)
    assert seen[0] == ("POST", "/api/v1/vidu/lip-sync")  # no /async: the CLI's path
    assert seen[1:] == [("GET", f"/api/v1/tasks/{task_id}")] * 4
    polls = [e.clock_time for e in served.journal.entries(route="poll")]
    assert polls[0] == served.journal.entries(route="submit")[0].clock_time  # immediately
    assert [b - a for a, b in itertools.pairwise(polls[:3])] == [2.0, 2.0]  # the wait


def test_task_get_and_wait_check_the_task_id(cli: Cli, served: LipSyncMock) -> None:
    first = cli.run("vidu/lip-sync", {"video_url": "https://example.com/a.mp4"})
    second = cli.run("vidu/lip-sync", {"video_url": "https://example.com/b.mp4"})
    assert cli.task(first)["task_id"] == first
    served.run_until_terminal()
    assert [cli.task(t)["status"] for t in (first, second)] == ["success", "success"]


def test_task_wait_ends_on_another_teams_task(served: LipSyncMock, cli: Cli) -> None:
    task_id = cli.run("vidu/lip-sync", {"video_url": "https://example.com/a.mp4"})
    stranger = Cli(served.url, make_api_key("stranger"))
    try:
        with pytest.raises(CliError, match=r"\(404\)"):
            next(stranger.wait(served, task_id))
    finally:
        stranger.close()


def test_task_download_needs_both_flags_for_a_loopback_http_url(
    cli: Cli, served: LipSyncMock
) -> None:
    task_id = cli.run("vidu/lip-sync", {"video_url": "https://example.com/a.mp4"})
    served.run_until_terminal(task_id)
    (url,) = cli.resources(cli.task(task_id))
    before = len(served.journal.entries())
    for flags in ({}, {"insecure": True}, {"private": True}):
        with pytest.raises(CliError, match="Refusing"):
            cli.download(url, **flags)
    assert len(served.journal.entries()) == before  # refused before any request
    video = cli.download(url, insecure=True, private=True)
    assert video[4:8] == b"ftyp"
    assert served.journal.entries()[-1].api_key is None  # a CDN link: no key sent


def test_file_upload_then_use_then_delete(cli: Cli, served: LipSyncMock) -> None:
    record = cli.upload("face photo.png", PNG, "image/png")
    assert (record["filename"], record["size"], record["type"]) == (
        "face photo.png",
        len(PNG),
        "image/png",
    )
    assert cli.download(record["url"], insecure=True, private=True) == PNG
    task_id = cli.run(
        "vidu/lip-sync",
        {"video_url": "https://example.com/a.mp4", "reference_face_image_url": record["url"]},
    )
    assert TASK_ID.match(task_id)
    cli.delete(record["file_id"])
    with pytest.raises(CliError, match=r"\(404\)"):
        cli.delete(record["file_id"])
    assert [m for m, p in requests_seen(served) if p.startswith("/api/v1/media/files/")] == [
        "DELETE",
        "DELETE",
    ]


def test_over_https_the_download_needs_only_the_private_network_flag() -> None:
    """The real service is https only: against `serve --tls` (trusted through the CA file it
    writes, as `NODE_EXTRA_CA_CERTS` makes the CLI trust it), every URL handed out is https,
    so `task download` needs no `--allow-insecure-http`; a server on 127.0.0.1 still needs
    `--allow-private-network`, by the CLI's own rule."""
    mock = LipSyncMock(clock="manual", rate_limit=0, tls=True)
    mock.start(host="127.0.0.1")
    try:
        assert mock.url.startswith("https://")
        assert mock.ca_bundle is not None
        trust = ssl.create_default_context(cafile=str(mock.ca_bundle))
        cli = Cli(mock.url, mock.api_key, verify=trust)
        try:
            assert cli.doctor()[0] == "[PASS] validation"
            task_id = cli.run("vidu/lip-sync", {"video_url": "https://example.com/a.mp4"})
            mock.run_until_terminal(task_id)
            (url,) = cli.resources(cli.task(task_id))
            assert url.startswith("https://127.0.0.1:")
            with pytest.raises(CliError, match="private or reserved"):
                cli.download(url)
            assert cli.download(url, private=True)[4:8] == b"ftyp"
        finally:
            cli.close()
    finally:
        mock.stop()
    assert mock.crashes == []
