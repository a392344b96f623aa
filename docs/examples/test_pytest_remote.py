"""Driving a mock server through its admin API, as for one started in another process."""

from __future__ import annotations

import httpx

from vidu_lipsync_mock.pytest_plugin.remote import RemoteMock

KEY = "Bearer mdlx-" + "a" * 48


def test_remote_control(lipsync_remote: RemoteMock) -> None:
    lipsync_remote.add_fault("error", status=503, route="poll", times=1)
    with httpx.Client(base_url=lipsync_remote.url, headers={"Authorization": KEY}) as http:
        task = http.post("/api/v1/vidu/lip-sync", json={"video_url": "https://v.mp4"}).json()
        poll_url = task["data"]["get_result"]["url"]
        assert http.get(poll_url).status_code == 503  # the fault, once
        lipsync_remote.run_until_terminal()
        assert http.get(poll_url).json()["data"]["status"] == "success"
    assert [entry.status for entry in lipsync_remote.journal.entries(route="poll")] == [503, 200]
