"""The admin API's door: its own host names, the same origin, JSON writes, and a token."""

from __future__ import annotations

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.pytest_plugin.remote import RemoteMock
from vidu_lipsync_mock.service.errors import ApiError

TOKEN = "a-long-random-admin-token-0123"


def test_a_page_elsewhere_cannot_drive_the_mock(lipsync_live: LipSyncMock) -> None:
    with httpx.Client(base_url=lipsync_live.url) as http:
        # DNS rebinding: a name the attacker controls, resolving to 127.0.0.1.
        rebound = http.get("/_mock/journal", headers={"Host": "attacker.example"})
        assert rebound.status_code == 403
        assert rebound.json()["message"].startswith("Forbidden: the admin API answers only")
        # A cross-site page posting text/plain, which a browser sends without asking.
        plain = http.post(
            "/_mock/faults", content='{"fault": "error"}', headers={"Content-Type": "text/plain"}
        )
        assert plain.status_code == 415
        foreign = http.post(
            "/_mock/faults", json={"fault": "error"}, headers={"Origin": "https://evil.example"}
        )
        assert foreign.status_code == 403
        assert lipsync_live.fault_rules() == []
        # The public API answers any Host, but never builds a URL from a foreign one.
        submitted = http.post(
            "/api/v1/vidu/lip-sync/async",
            json={"video_url": "https://example.com/a.mp4"},
            headers={**lipsync_live.auth_headers, "Host": "127.0.0.1:1@evil.example"},
        ).json()["data"]
        assert submitted["get_result"]["url"].startswith(lipsync_live.url + "/api/v1/tasks/")


def test_a_token_guards_every_admin_call_but_health() -> None:
    with LipSyncMock(clock="manual", admin_token=TOKEN) as mock:
        with httpx.Client(base_url=mock.url) as http:
            assert http.get("/_mock/health").status_code == 200  # for readiness probes
            assert http.get("/_mock/config").status_code == 401
            headers = {"X-Mock-Admin-Token": TOKEN}
            assert http.get("/_mock/config", headers=headers).json()["data"]["admin_token"] == (
                "[redacted]"
            )
        with RemoteMock(mock.url, admin_token=TOKEN) as remote:
            remote.advance(30)
        with RemoteMock(mock.url) as anonymous, pytest.raises(ApiError) as refused:
            anonymous.advance(30)
        assert refused.value.status == 401
