"""A mock that keeps its state in a file: stop it, start another on the same file, and the
task, its schedule, the balance and the fault rules are still there."""

from __future__ import annotations

from pathlib import Path

import httpx

from vidu_lipsync_mock import LipSyncMock

SUBMIT = "/api/v1/vidu/lip-sync/async"
BODY = {"video_url": "https://example.com/presenter.mp4"}


def test_a_restarted_mock_finds_what_it_answered(tmp_path: Path) -> None:
    state = tmp_path / "mock-state.db"
    first = LipSyncMock(
        clock="manual", pending_seconds=10, processing_seconds=20, state_path=str(state)
    )
    with first, httpx.Client(base_url=first.url, headers=first.auth_headers) as client:
        task_id = client.post(SUBMIT, json=BODY).json()["data"]["task_id"]
        first.advance(15)  # 5 s into processing
        first.set_balance(first.api_key, 42)
        first.add_fault("error", status=503, route="models")
    first.close()  # or the process dies: every answer was committed before it was sent

    second = LipSyncMock(
        clock="manual", pending_seconds=10, processing_seconds=20, state_path=str(state)
    )
    second.api_key = first.api_key
    with second, httpx.Client(base_url=second.url, headers=second.auth_headers) as client:
        assert client.get(f"/api/v1/tasks/{task_id}").json()["data"]["status"] == "processing"
        second.advance(15)  # the clock went on from where it stood
        assert client.get(f"/api/v1/tasks/{task_id}").json()["data"]["status"] == "success"
        assert client.get("/api/v1/team/balance").json()["data"]["balance"] == 42
        assert client.get("/api/v1/models").status_code == 503  # the rule added at run time
    second.close()
