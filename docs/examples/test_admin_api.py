"""The admin API: the same test verbs over HTTP, for tests in any language."""

from __future__ import annotations

import httpx

from vidu_lipsync_mock import LipSyncMock


def test_drive_the_mock_over_http(lipsync_live: LipSyncMock) -> None:
    with httpx.Client(base_url=lipsync_live.url, headers=lipsync_live.auth_headers) as http:
        admin = "/_mock"
        rule = http.post(
            f"{admin}/faults", json={"fault": "error", "status": 503, "route": "poll", "times": 1}
        )
        assert rule.json()["data"]["schedule"] == {"kind": "times", "n": 1}

        task_id = http.post(
            "/api/v1/vidu/lip-sync/async", json={"video_url": "https://example.com/a.mp4"}
        ).json()["data"]["task_id"]
        assert http.get(f"/api/v1/tasks/{task_id}").status_code == 503

        http.post(f"{admin}/clock/run-until-terminal", json={"task_id": task_id})
        assert http.get(f"/api/v1/tasks/{task_id}").json()["data"]["status"] == "success"

        journal = http.get(f"{admin}/journal", params={"route": "poll"}).json()["data"]
        assert [e["status"] for e in journal["entries"]] == [503, 200]

        forced = http.post(f"{admin}/tasks/{task_id}/force", json={"status": "failed"})
        assert forced.status_code == 409  # a finished task never changes
        assert forced.json()["message"].startswith("Conflict: ")

        assert http.post(f"{admin}/reset").json()["data"] == {"reset": True}
        assert http.get(f"{admin}/tasks").json()["data"] == []
