"""The `lipsync` marker: configure one test's mock (or a module's, or a class's)."""

from __future__ import annotations

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock

# Every test in this module gets tasks that finish on the second poll...
pytestmark = pytest.mark.lipsync(progression="polls", processing_on_poll=1, terminal_on_poll=2)

SUBMIT = "/api/v1/vidu/lip-sync/async"
BODY = {"video_url": "https://example.com/a.mp4"}


def test_module_marker_applies(lipsync_client: httpx.Client) -> None:
    task_id = lipsync_client.post(SUBMIT, json=BODY).json()["data"]["task_id"]
    statuses = [
        lipsync_client.get(f"/api/v1/tasks/{task_id}").json()["data"]["status"] for _ in range(2)
    ]
    assert statuses == ["processing", "success"]


# ...and the closest marker wins, keyword by keyword.
@pytest.mark.lipsync(progression="manual")
def test_function_marker_wins(lipsync_mock: LipSyncMock) -> None:
    assert lipsync_mock.default_progression.describe() == {"kind": "manual"}


@pytest.mark.lipsync(faults=[{"fault": "error", "status": 503, "route": "poll", "times": 1}])
def test_faults_from_the_marker(lipsync_client: httpx.Client) -> None:
    task_id = lipsync_client.post(SUBMIT, json=BODY).json()["data"]["task_id"]
    assert lipsync_client.get(f"/api/v1/tasks/{task_id}").status_code == 503
    assert lipsync_client.get(f"/api/v1/tasks/{task_id}").status_code == 200


ALLOWED = "mdlx-" + "a1" * 24


@pytest.mark.lipsync(strict_keys=[ALLOWED])
def test_strict_keys_refuse_every_other_key(lipsync_client: httpx.Client) -> None:
    refused = lipsync_client.post(SUBMIT, json=BODY)  # the fixture's own key is not listed
    assert refused.status_code == 401
    assert refused.json() == {"code": 401, "message": "Authentication failed: invalid API key"}
    accepted = lipsync_client.post(
        SUBMIT, json=BODY, headers={"Authorization": f"Bearer {ALLOWED}"}
    )
    assert accepted.status_code == 200


@pytest.mark.lipsync(seed=1234)
def test_a_seed_fixes_task_ids(lipsync_mock: LipSyncMock) -> None:
    first = lipsync_mock.submit("vidu/lip-sync", BODY, lipsync_mock.api_key).task_id
    lipsync_mock.reset()
    assert lipsync_mock.submit("vidu/lip-sync", BODY, lipsync_mock.api_key).task_id == first
