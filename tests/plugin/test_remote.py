"""`RemoteMock` drives a server in another process with the in-process verbs, and gives
the same answers as the in-process API for the same operations."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.pytest_plugin.remote import RemoteMock
from vidu_lipsync_mock.service.errors import ApiError

SUBMIT = "/api/v1/vidu/lip-sync/async"


def test_remote_verbs_match_the_in_process_ones() -> None:
    local = LipSyncMock(clock="manual", seed=5)
    served = LipSyncMock(clock="manual", seed=5)
    with served, RemoteMock(served.start()) as remote, httpx.Client(base_url=served.url) as http:
        remote.set_time(local.now())
        rule = remote.add_fault("error", status=503, route="poll", times=1)
        local.add_fault("error", status=503, route="poll", times=1)
        assert rule == local.fault_rules()[0]
        task_id = http.post(
            SUBMIT, json={"video_url": "https://v"}, headers=served.auth_headers
        ).json()["data"]["task_id"]
        assert http.get(f"/api/v1/tasks/{task_id}", headers=served.auth_headers).status_code == 503
        assert remote.fault_rules()[0]["hits"] == 1
        assert remote.fault_trace()[0]["status"] == 503
        assert remote.advance(1.5) == served.now()
        assert remote.task(task_id).status == "processing"
        forced = remote.force(task_id, "failed", "no face")
        assert (forced.status, forced.error_message) == ("failed", "no face")
        assert [t.task_id for t in remote.tasks("failed")] == [task_id]
        entries = remote.journal.entries(route="poll")
        assert [(e.status, e.fault) for e in entries] == [(503, "error:503")]
        assert remote.journal.last is not None
        assert remote.journal.count() == 2
        assert remote.use_profile("provider-outage", seed=3)[0]["fault"]["status"] == 503
        assert remote.remove_fault("rule-404") is False
        with pytest.raises(ApiError) as refused:
            remote.force(task_id, "success")
        assert refused.value.status == 409
        remote.reset()
        assert remote.tasks() == []
        assert remote.journal.count() == 0
        assert remote.crashes() == []


def test_lipsync_remote_drives_a_server_started_elsewhere(pytester: pytest.Pytester) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "vidu_lipsync_mock", "serve", "--port", "0", "--clock", "manual"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split()[-1]
        pytester.makepyfile(
            """
            import httpx

            def test_remote(lipsync_remote):
                key = "Bearer mdlx-" + "a" * 48
                with httpx.Client(base_url=lipsync_remote.url, headers={"Authorization": key}) as http:
                    task = http.post("/api/v1/vidu/lip-sync", json={"video_url": "https://v"}).json()["data"]
                    lipsync_remote.run_until_terminal(task["task_id"])
                    assert http.get(task["get_result"]["url"]).json()["data"]["status"] == "success"
                assert lipsync_remote.journal.count(route="poll") == 1
            """
        )
        pytester.runpytest("--lipsync-url", url).assert_outcomes(passed=1)
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()


def test_remote_balances_match_the_in_process_ones_and_never_carry_a_key() -> None:
    served = LipSyncMock(clock="manual")
    key = served.api_key
    with served, RemoteMock(served.start()) as remote, httpx.Client(base_url=served.url) as http:
        assert remote.balance(key) == served.balance(key) == 1_000_000.0
        updated = remote.set_balance(key, "0.1")
        assert float(updated.balance) == 0.1 == served.balance(key)
        assert served.account(key) == remote.account(key)
        assert float(remote.account(key).balance) == 0.1
        refused = http.post(SUBMIT, json={"video_url": "https://v"}, headers=served.auth_headers)
        assert refused.status_code == 402
        listing = remote.accounts()
        assert key not in str(listing)
        assert [k.fingerprint for k in listing[0].keys] == [updated.team]
        raw = http.put(f"/_mock/accounts/{key}/balance", json={"balance": 5})
        assert raw.status_code == 404  # a key in a URL is refused, never looked up
        assert served.balance(key) == 0.1
