"""The admin API's door as a socket and a command line see it: the Host header on a real
connection, `serve` refusing to listen beyond loopback without a token (and warning with
one), and `RemoteMock` sending the token."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.config import ConfigError
from vidu_lipsync_mock.pytest_plugin.remote import RemoteMock
from vidu_lipsync_mock.service.errors import ApiError

TOKEN = "e2e-admin-token-0123456789abcdef"
SUBMIT_PATH = "/api/v1/vidu/lip-sync/async"
BODY = {"video_url": "https://example.com/v.mp4"}


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vidu_lipsync_mock", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def live(make_mock):
    def start(**settings) -> tuple[LipSyncMock, str]:
        mock = make_mock(**settings)
        return mock, mock.start(host="127.0.0.1")

    return start


def test_the_host_header_on_a_real_connection(live):
    mock, url = live()
    port = url.rsplit(":", 1)[1]
    with httpx.Client(base_url=url) as http:
        assert http.get("/_mock/config").status_code == 200  # Host: 127.0.0.1:<port>
        assert http.get("/_mock/config", headers={"Host": f"localhost:{port}"}).status_code == 200
        rebound = http.get("/_mock/journal", headers={"Host": f"attacker.example:{port}"})
        assert rebound.status_code == 403
        assert rebound.json()["code"] == 403
        assert http.get("/_mock/health", headers={"Host": "mock:8000"}).status_code == 200
        evil = {**mock.auth_headers, "Host": "127.0.0.1:1@evil.example"}
        submitted = http.post(SUBMIT_PATH, json=BODY, headers=evil)
    assert submitted.status_code == 200
    task_id = submitted.json()["data"]["task_id"]
    assert submitted.json()["data"]["get_result"]["url"] == f"{url}/api/v1/tasks/{task_id}"
    assert mock.crashes == []


def test_a_cross_site_text_plain_post_is_refused_over_a_socket(live):
    mock, url = live()
    headers = {"Content-Type": "text/plain", "Origin": "https://evil.example"}
    with httpx.Client(base_url=url) as http:
        response = http.post("/_mock/faults", content=b'{"fault": "error"}', headers=headers)
        plain = http.post(
            "/_mock/faults", content=b'{"fault": "error"}', headers=headers | {"Origin": url}
        )
    assert response.status_code == 403
    assert plain.status_code == 415
    assert mock.fault_rules() == []


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.1"])
def test_serve_beyond_loopback_without_a_token_refuses_to_start(host):
    result = run_cli("serve", "--host", host, "--port", "0")
    assert result.returncode == 2
    assert "--admin-token" in result.stderr
    assert "listening" not in result.stdout


def test_start_beyond_loopback_without_a_token_is_refused(make_mock):
    with pytest.raises(ConfigError, match="--admin-token"):
        make_mock().start(host="0.0.0.0")


def test_serve_with_a_token_warns_and_the_admin_api_needs_the_token(tmp_path):
    # Listens on every interface for a moment (with a token): the only way to see what a
    # real start beyond loopback prints. The test itself talks to 127.0.0.1 only.
    stderr_path = tmp_path / "stderr.txt"
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vidu_lipsync_mock", "serve", "--host", "0.0.0.0",
             "--port", "0", "--admin-token", TOKEN],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            banner = proc.stdout.readline().decode()
            assert banner.startswith("vidu-lipsync-mock listening on http://0.0.0.0:"), banner
            port = int(banner.rsplit(":", 1)[1])
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                assert http.get("/_mock/health").status_code == 200
                assert http.get("/_mock/config").status_code == 401
                shown = http.get("/_mock/config", headers={"X-Mock-Admin-Token": TOKEN})
            assert shown.status_code == 200
            assert TOKEN not in shown.text
        finally:
            proc.terminate()
            proc.wait(15)
            proc.stdout.close()
    warning = stderr_path.read_text()
    assert "warning: the admin API (/_mock) is reachable from the network on 0.0.0.0" in warning
    assert "X-Mock-Admin-Token" in warning


def test_allowed_host_is_a_repeatable_flag_and_is_checked():
    shown = run_cli("config", "--allowed-host", "mock", "--allowed-host", "proxy.internal")
    assert shown.returncode == 0, shown.stderr
    assert '"mock",\n    "proxy.internal"' in shown.stdout
    bad = run_cli("config", "--allowed-host", "mock:8000")
    assert bad.returncode == 2
    assert "allowed_hosts: 'mock:8000' is not a host name" in bad.stderr


def test_remote_mock_sends_the_token(live):
    mock, url = live(admin_token=TOKEN)
    with RemoteMock(url, admin_token=TOKEN) as remote:
        remote.add_fault("error", status=503, route="poll")
        assert len(remote.fault_rules()) == 1
        assert remote.journal.to_jsonl() == ""
    with RemoteMock(url) as anonymous, pytest.raises(ApiError) as refused:
        anonymous.fault_rules()
    assert refused.value.status == 401
    assert len(mock.fault_rules()) == 1
