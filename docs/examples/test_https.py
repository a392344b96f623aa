"""HTTPS like the real service: the live server over TLS, trusted through the session's
certificate authority, and a mock of your own on HTTPS."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest
import requests

from vidu_lipsync_mock import LipSyncMock


@pytest.mark.lipsync(tls=True)
def test_submit_poll_download_over_https(
    lipsync_live: LipSyncMock, lipsync_url: str, lipsync_ca_bundle: str
) -> None:
    assert lipsync_url.startswith("https://127.0.0.1:")
    headers = lipsync_live.auth_headers
    body = {"video_url": f"{lipsync_url}/media/input-video.mp4"}
    # requests takes the authority's file as `verify`.
    submitted = requests.post(
        f"{lipsync_url}/api/v1/vidu/lip-sync/async",
        json=body,
        headers=headers,
        verify=lipsync_ca_bundle,
        timeout=10,
    ).json()["data"]
    poll_url = submitted["get_result"]["url"]
    assert poll_url.startswith("https://")

    lipsync_live.run_until_terminal()
    # httpx takes an SSL context made from it (`verify=<path>` is deprecated in httpx).
    context = ssl.create_default_context(cafile=lipsync_ca_bundle)
    with httpx.Client(verify=context, headers=headers) as client:
        task = client.get(poll_url).json()["data"]
        (resource,) = task["result"]["resources"]
        assert resource["url"].startswith("https://")
        assert client.get(resource["url"]).content[4:8] == b"ftyp"


@pytest.mark.lipsync(tls=True)
def test_code_that_reads_the_environment(
    lipsync_env: dict[str, str], lipsync_ca_bundle: str
) -> None:
    # The variables the official CLI and most HTTP clients read.
    assert lipsync_env["MODELLIX_BASE_URL"].startswith("https://")
    assert lipsync_env["SSL_CERT_FILE"] == lipsync_ca_bundle
    assert lipsync_env["REQUESTS_CA_BUNDLE"] == lipsync_ca_bundle
    assert lipsync_env["CURL_CA_BUNDLE"] == lipsync_ca_bundle
    assert lipsync_env["NODE_EXTRA_CA_CERTS"] == lipsync_ca_bundle
    reply = requests.get(lipsync_env["MODELLIX_BASE_URL"] + "/openapi.json", timeout=10)
    assert reply.status_code == 200


def test_a_mock_of_your_own_on_https(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    with LipSyncMock(tls=True, tls_ca_out=str(ca), clock="manual") as mock:
        assert mock.url.startswith("https://")
        reply = requests.get(mock.url + "/openapi.json", verify=str(ca), timeout=10)
        assert reply.status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(mock.url + "/openapi.json", timeout=10)  # no trust, no answer
