"""HTTPS like the real service, over real sockets on 127.0.0.1: a local certificate
authority made with trustme (or the user's own certificate), https URLs in every answer,
clients that trust the authority and clients that do not, the transport limits under TLS,
`serve --tls`, and the plugin's `--lipsync-tls`, `tls=True` and `lipsync_ca_bundle`."""

from __future__ import annotations

import http.client
import os
import queue
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import trustme

from vidu_lipsync_mock import LipSyncMock, MockConfig
from vidu_lipsync_mock.cli import main
from vidu_lipsync_mock.config import ConfigError
from vidu_lipsync_mock.tls import client_environment, default_ca_path, issue_local_certificate

SUBMIT_PATH = "/api/v1/vidu/lip-sync/async"
SERVE = (sys.executable, "-m", "vidu_lipsync_mock", "serve", "--port", "0")
SAMPLES = {
    "video_url": "input-video.mp4",
    "audio_url": "input-audio.mp3",
    "reference_face_image_url": "face.jpg",
}


def urls_in(value: Any) -> list[str]:
    """Every URL anywhere in a JSON answer."""
    if isinstance(value, dict):
        return [url for item in value.values() for url in urls_in(item)]
    if isinstance(value, list):
        return [url for item in value for url in urls_in(item)]
    return [value] if isinstance(value, str) and "://" in value else []


@pytest.fixture
def https_mock(make_mock: Callable[..., LipSyncMock], tmp_path: Path) -> LipSyncMock:
    """A mock serving HTTPS from an authority it made, whose file is tmp_path/ca.pem."""
    mock = make_mock(tls=True, tls_ca_out=str(tmp_path / "ca.pem"))
    mock.start()
    return mock


def _with_httpx(ca: Path) -> Iterator[Callable[..., tuple[int, bytes]]]:
    with httpx.Client(verify=ssl.create_default_context(cafile=str(ca)), timeout=10) as http:

        def call(method: str, url: str, **kwargs: Any) -> tuple[int, bytes]:
            response = http.request(method, url, **kwargs)
            return response.status_code, response.content

        yield call


def _with_requests(ca: Path) -> Iterator[Callable[..., tuple[int, bytes]]]:
    with requests.Session() as session:

        def call(method: str, url: str, **kwargs: Any) -> tuple[int, bytes]:
            with session.request(method, url, verify=str(ca), timeout=10, **kwargs) as r:
                return r.status_code, r.content

        yield call


@pytest.mark.parametrize("client", [_with_httpx, _with_requests], ids=["httpx", "requests"])
def test_submit_poll_download_over_https_with_every_url_https(
    https_mock: LipSyncMock, tmp_path: Path, client: Callable[..., Any]
) -> None:
    import json

    url = https_mock.url
    assert url.startswith("https://127.0.0.1:")
    body = {field: f"{url}/media/{name}" for field, name in SAMPLES.items()}
    auth = https_mock.auth_headers
    for call in client(tmp_path / "ca.pem"):
        status, raw = call("POST", url + SUBMIT_PATH, json=body, headers=auth)
        assert status == 200
        submitted = json.loads(raw)
        poll_url = submitted["data"]["get_result"]["url"]
        assert poll_url.startswith(url + "/api/v1/tasks/")
        answers = [submitted]
        for _ in range(5):
            status, raw = call("GET", poll_url, headers=auth)
            assert status == 200
            answers.append(json.loads(raw))
            if answers[-1]["data"]["status"] == "success":
                break
            https_mock.advance(5)
        assert answers[-1]["data"]["status"] == "success"
        urls = [u for answer in answers for u in urls_in(answer)]
        (resource,) = answers[-1]["data"]["result"]["resources"]
        assert resource["url"] in urls
        assert len(set(urls)) == 2  # the poll URL and the result
        assert all(u.startswith("https://127.0.0.1:") for u in urls), urls
        status, video = call("GET", resource["url"])
        assert status == 200
        assert video[4:8] == b"ftyp"
        status, sample = call("GET", body["video_url"])
        assert (status, sample[4:8]) == (200, b"ftyp")


def test_without_tls_ca_out_the_authority_is_a_file_per_port_of_the_user(
    make_mock: Callable[..., LipSyncMock],
) -> None:
    mock = make_mock(tls=True)
    url = mock.start()
    ca = mock.ca_bundle
    assert ca is not None
    try:
        assert ca == default_ca_path(int(url.rsplit(":", 1)[1]))
        assert ca.parent.name == f"vidu-lipsync-mock-{os.getuid()}"
        assert ca.parent.stat().st_mode & 0o077 == 0
        assert requests.get(url + "/openapi.json", verify=str(ca), timeout=10).status_code == 200
    finally:
        mock.stop()
        ca.unlink()
    assert mock.ca_bundle is None


def test_a_client_without_the_authority_fails_verification(https_mock: LipSyncMock) -> None:
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(https_mock.url + "/openapi.json", timeout=10)
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        requests.get(https_mock.url + "/openapi.json", timeout=10)


def test_plain_http_to_the_https_port_gets_no_answer(https_mock: LipSyncMock) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(https_mock.url.replace("https://", "http://") + "/openapi.json", timeout=10)


def test_the_users_own_certificate_is_served_and_no_authority_made(
    make_mock: Callable[..., LipSyncMock], tmp_path: Path
) -> None:
    authority = trustme.CA()
    leaf = authority.issue_cert("127.0.0.1")
    cert, key, ca = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "theirs.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    authority.cert_pem.write_to_path(str(ca))
    mock = make_mock(tls_cert=str(cert), tls_key=str(key))
    url = mock.start()
    assert url.startswith("https://")
    assert mock.ca_bundle is None
    reply = requests.get(url + "/openapi.json", verify=str(ca), timeout=10)
    assert reply.status_code == 200
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cert.pem", "key.pem", "theirs.pem"]


def test_a_missing_certificate_file_is_named(make_mock: Callable[..., LipSyncMock]) -> None:
    mock = make_mock(tls_cert="/nonexistent/cert.pem")
    with pytest.raises(ConfigError, match=r"tls_cert /nonexistent/cert.pem is not a file"):
        mock.start()


def test_tls_settings_that_do_not_go_together() -> None:
    with pytest.raises(ConfigError, match="tls_key needs tls_cert"):
        MockConfig(tls=True, tls_key="key.pem")
    with pytest.raises(ConfigError, match="tls_ca_out"):
        MockConfig(tls_ca_out="ca.pem")
    with pytest.raises(ConfigError, match="tls_ca_out"):
        MockConfig(tls=True, tls_cert="cert.pem", tls_ca_out="ca.pem")


def test_an_unwritable_authority_file_is_named(
    make_mock: Callable[..., LipSyncMock], tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("")
    mock = make_mock(tls=True, tls_ca_out=str(tmp_path / "a-file" / "ca.pem"))
    with pytest.raises(ConfigError, match=r"cannot write .*a-file"):
        mock.start()


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX user ids")
def test_a_default_directory_of_another_user_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    uid = os.getuid()
    assert default_ca_path(8000) == tmp_path / f"vidu-lipsync-mock-{uid}" / "ca-8000.pem"
    (tmp_path / f"vidu-lipsync-mock-{uid + 1}").mkdir()  # ours, under another user's name
    monkeypatch.setattr(os, "getuid", lambda: uid + 1)
    with pytest.raises(ConfigError, match="belongs to another user: set tls_ca_out"):
        default_ca_path(8000)


def test_tls_settings_are_flags_and_toml_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    assert main(["config", "--tls", "--tls-ca-out", "ca.pem"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["tls"], shown["tls_ca_out"], shown["tls_cert"]) == (True, "ca.pem", None)
    toml = tmp_path / "mock.toml"
    toml.write_text('tls_cert = "cert.pem"\ntls_key = "key.pem"\n')
    assert main(["config", "--config", str(toml)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["tls"], shown["tls_cert"], shown["tls_key"]) == (False, "cert.pem", "key.pem")


def test_without_trustme_tls_fails_at_start_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "trustme", None)  # `import trustme` raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'vidu-lipsync-mock\[tls\]'"):
        issue_local_certificate(tmp_path / "ca.pem", tmp_path / "server.pem")
    assert main(["serve", "--tls", "--port", "0", "--tls-ca-out", str(tmp_path / "ca.pem")]) == 2
    assert "vidu-lipsync-mock[tls]" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# -- the transport limits and the connection registry under TLS ---------------------------


def _tls_socket(mock: LipSyncMock, ca: Path) -> ssl.SSLSocket:
    port = int(mock.url.rsplit(":", 1)[1])
    context = ssl.create_default_context(cafile=str(ca))
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def test_an_oversized_head_gets_431_over_tls(
    make_mock: Callable[..., LipSyncMock], tmp_path: Path
) -> None:
    mock = make_mock(tls=True, tls_ca_out=str(tmp_path / "ca.pem"), max_header_bytes=1024)
    mock.start()
    port = int(mock.url.rsplit(":", 1)[1])
    context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=5)
    try:
        connection.request("GET", "/openapi.json", headers={"X-Big": "b" * 2048})
        response = connection.getresponse()
        assert response.status == 431
        assert b"exceed 1024 bytes" in response.read()
    finally:
        connection.close()


def test_a_silent_tls_client_is_cut_off_after_the_head_timeout(
    make_mock: Callable[..., LipSyncMock], tmp_path: Path
) -> None:
    mock = make_mock(tls=True, tls_ca_out=str(tmp_path / "ca.pem"), head_timeout_seconds=0.3)
    mock.start()
    with _tls_socket(mock, tmp_path / "ca.pem") as sock:
        sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n")  # the head never ends
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408 ")


class TlsOverRawSocket:
    """A TLS client over a socket it reads itself, so a test sees what TCP did: Python's
    `SSLSocket` reports a reset that follows the server's session tickets as an EOF."""

    def __init__(self, mock: LipSyncMock, ca: Path) -> None:
        port = int(mock.url.rsplit(":", 1)[1])
        self.raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        context = ssl.create_default_context(cafile=str(ca))
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname="127.0.0.1")
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self.incoming.write(self.raw.recv(65536))
        self._flush()

    def _flush(self) -> None:
        if pending := self.outgoing.read():
            self.raw.sendall(pending)

    def send(self, data: bytes) -> None:
        self.tls.write(data)
        self._flush()

    def read_answer_head(self) -> bytes:
        while True:
            try:
                return self.tls.read(65536)
            except ssl.SSLWantReadError:
                self.incoming.write(self.raw.recv(65536))

    def read_raw_until_closed(self) -> None:
        while self.raw.recv(65536):
            pass


def test_tls_connections_are_registered_so_faults_can_reset_them(
    https_mock: LipSyncMock, tmp_path: Path
) -> None:
    connections = https_mock.app.state.connections
    client = TlsOverRawSocket(https_mock, tmp_path / "ca.pem")
    with client.raw:
        client.send(b"HEAD /media/face.jpg HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.read_answer_head().startswith(b"HTTP/1.1 200")
        assert len(connections) == 1
        https_mock.add_fault({"fault": "reset", "route": "sample"})
        client.send(b"GET /media/face.jpg HTTP/1.1\r\nHost: x\r\n\r\n")
        with pytest.raises(ConnectionResetError):
            client.read_raw_until_closed()
    assert https_mock.journal.last is not None
    assert https_mock.journal.last.outcome == "reset"


def test_an_idle_tls_connection_does_not_hold_up_stop(https_mock: LipSyncMock, tmp_path: Path):
    """A TLS close waits for the client's close_notify, which an idle pooled connection
    never sends: the server drops idle connections instead of waiting (its shutdown
    budget is 2 s, after which the socket would be left open)."""
    context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    with httpx.Client(verify=context) as client:
        assert client.get(https_mock.url + "/openapi.json").status_code == 200
        started = time.monotonic()
        https_mock.stop()
        assert time.monotonic() - started < 1.0


def test_an_idle_tls_connection_is_dropped_when_its_keep_alive_is_up(
    make_mock: Callable[..., LipSyncMock], tmp_path: Path
) -> None:
    mock = make_mock(tls=True, tls_ca_out=str(tmp_path / "ca.pem"), keep_alive_seconds=0.3)
    mock.start()
    client = TlsOverRawSocket(mock, tmp_path / "ca.pem")
    with client.raw:
        client.send(b"HEAD /media/face.jpg HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.read_answer_head().startswith(b"HTTP/1.1 200")
        client.read_raw_until_closed()  # the socket's 5 s timeout fails the test
    connections = mock.app.state.connections
    deadline = time.monotonic() + 2  # the server's loop unregisters it right after
    while len(connections) and time.monotonic() < deadline:
        time.sleep(0.01)  # real-time: the server thread unregisters the closed socket
    assert len(connections) == 0


CLIENTS_OF_OTHER_LANGUAGES = {
    "curl": ["curl", "-sf", "{url}/_mock/health"],
    "node": ["node", "-e", "fetch('{url}/_mock/health').then(r => process.exit(r.ok ? 0 : 1))"],
    "python": [sys.executable, "-c", "import urllib.request as u; u.urlopen('{url}/_mock/health')"],
}


@pytest.mark.parametrize("name", sorted(CLIENTS_OF_OTHER_LANGUAGES))
def test_the_printed_variables_make_other_clients_trust_the_authority(
    https_mock: LipSyncMock, tmp_path: Path, name: str
) -> None:
    argv = [part.format(url=https_mock.url) for part in CLIENTS_OF_OTHER_LANGUAGES[name]]
    if shutil.which(argv[0]) is None:
        pytest.skip(f"{argv[0]} is not on PATH")
    trusting = {**os.environ, **client_environment(tmp_path / "ca.pem", https_mock.url)}
    distrusting = {k: v for k, v in trusting.items() if k not in client_environment("", "")}
    for env, trusted in ((trusting, True), (distrusting, False)):
        result = subprocess.run(argv, env=env, capture_output=True, timeout=30, check=False)
        assert (result.returncode == 0) is trusted, result.stderr


# -- serve --tls ---------------------------------------------------------------------------


class Served:
    """`vidu-lipsync-mock serve` in a subprocess; its output until the TLS lines are in."""

    def __init__(self, *flags: str) -> None:
        argv = [*SERVE, *flags]
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        lines: queue.Queue[str | None] = queue.Queue()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        self.lines: list[str] = []
        while not any("MODELLIX_BASE_URL" in line for line in self.lines):
            line = lines.get(timeout=30)
            assert line is not None, "".join(self.lines)
            self.lines.append(line.rstrip("\n"))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(*flags: str) -> Served:
        started.append(Served(*flags))
        return started[-1]

    yield start
    for served in started:
        served.stop()


def test_serve_tls_prints_the_authority_and_the_variables_that_trust_it(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"
    served = serve("--tls", "--tls-ca-out", str(ca), "--clock", "manual")
    url = served.lines[0].removeprefix("vidu-lipsync-mock listening on ")
    assert url.startswith("https://127.0.0.1:")
    variables = dict(
        line.strip().removeprefix("export ").split("=", 1)
        for line in served.lines
        if line.strip().startswith("export ")
    )
    assert variables == {
        "SSL_CERT_FILE": str(ca),
        "REQUESTS_CA_BUNDLE": str(ca),
        "CURL_CA_BUNDLE": str(ca),
        "NODE_EXTRA_CA_CERTS": str(ca),
        "MODELLIX_BASE_URL": url,
    }
    assert any(f"certificate authority {ca}" in line for line in served.lines)
    reply = requests.get(url + "/openapi.json", verify=str(ca), timeout=10)
    assert reply.status_code == 200


def test_serve_tls_writes_the_authority_to_a_temporary_file_by_default(
    serve: Callable[..., Served],
) -> None:
    served = serve("--tls")
    (line,) = [line for line in served.lines if line.strip().startswith("export SSL_CERT_FILE=")]
    ca = Path(line.split("=", 1)[1])
    port = served.lines[0].rsplit(":", 1)[1]
    assert ca.name == f"ca-{port}.pem"
    assert ca.parent.name.startswith("vidu-lipsync-mock")
    assert ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
    ca.unlink()


def test_serve_with_a_missing_certificate_exits_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [*SERVE, "--tls-cert", str(tmp_path / "missing.pem")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert f"tls_cert {tmp_path / 'missing.pem'} is not a file" in result.stderr


# -- the pytest plugin ---------------------------------------------------------------------

PLUGIN_TESTS = """
import ssl
from pathlib import Path

import httpx
import pytest
import requests


@pytest.mark.lipsync(tls=True)
def test_marked_live_server_is_https(lipsync_live, lipsync_url, lipsync_ca_bundle, lipsync_env):
    assert lipsync_url.startswith("https://127.0.0.1:")
    assert lipsync_env["SSL_CERT_FILE"] == lipsync_ca_bundle
    assert lipsync_env["MODELLIX_BASE_URL"] == lipsync_url
    body = {"video_url": lipsync_url + "/media/input-video.mp4"}
    answer = requests.post(
        lipsync_url + "/api/v1/vidu/lip-sync/async", json=body,
        headers=lipsync_live.auth_headers, verify=lipsync_ca_bundle, timeout=10,
    ).json()
    assert answer["data"]["get_result"]["url"].startswith("https://")
    context = ssl.create_default_context(cafile=lipsync_ca_bundle)
    with httpx.Client(verify=context) as client:
        assert client.get(answer["data"]["get_result"]["url"],
                          headers=lipsync_live.auth_headers).status_code == 200


def test_unmarked_live_server_is_plain(lipsync_url, lipsync_env):
    assert lipsync_url.startswith(EXPECTED)
    assert ("SSL_CERT_FILE" in lipsync_env) == EXPECTED.startswith("https")


def test_in_process_mock_ignores_the_option(lipsync_mock, lipsync_client):
    assert not lipsync_mock.config.tls
    assert lipsync_client.get("/openapi.json").status_code == 200


def test_remote_reaches_the_session_server(lipsync_remote):
    assert lipsync_remote.url.startswith(EXPECTED)
    assert lipsync_remote.health()


def test_the_bundle_is_one_file_for_the_session(lipsync_ca_bundle, request):
    assert Path(lipsync_ca_bundle).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert request.getfixturevalue("lipsync_ca_bundle") == lipsync_ca_bundle
"""


def test_the_marker_makes_the_live_server_https(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(PLUGIN_TESTS.replace("EXPECTED", repr("http://")))
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=5)


def test_the_option_makes_the_session_server_https(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(PLUGIN_TESTS.replace("EXPECTED", repr("https://")))
    pytester.runpytest("-p", "no:cacheprovider", "--lipsync-tls").assert_outcomes(passed=5)


def test_the_ini_key_makes_the_session_server_https(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nlipsync_tls = true\n")
    pytester.makepyfile(PLUGIN_TESTS.replace("EXPECTED", repr("https://")))
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=5)


def test_the_in_process_mock_refuses_the_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.lipsync(tls=True)
        def test_in_process(lipsync_client):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*in-process mock has no socket*use lipsync_live*"])
