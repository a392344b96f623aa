"""The journal: every request the mock answered, and how, for the test to judge."""

from __future__ import annotations

import json

import httpx

from vidu_lipsync_mock import LipSyncMock

SUBMIT = "/api/v1/vidu/lip-sync/async"


def test_what_the_client_did(lipsync_mock: LipSyncMock, lipsync_client: httpx.Client) -> None:
    lipsync_mock.add_fault("error", status=503, route="poll", once=True)
    task_id = lipsync_client.post(SUBMIT, json={"video_url": "https://example.com/a.mp4"}).json()[
        "data"
    ]["task_id"]
    lipsync_mock.advance(5)
    lipsync_client.get(f"/api/v1/tasks/{task_id}")
    lipsync_client.get(f"/api/v1/tasks/{task_id}")

    submit, failed, ok = lipsync_mock.journal.entries()
    assert (submit.route, submit.status, submit.task_id) == ("submit", 200, task_id)
    assert submit.request_json() == {"video_url": "https://example.com/a.mp4"}
    assert failed.fault == "error:503"
    assert ok.fault is None
    assert ok.clock_time - submit.clock_time == 5  # the mock's clock, not the wall's
    assert submit.api_key is not None
    assert "…" in submit.api_key

    assert lipsync_mock.journal.count(route="poll") == 2
    assert lipsync_mock.journal.count(faulted=True) == 1
    assert lipsync_mock.journal.entries(task_id=task_id, status=200)[-1] is ok

    lines = lipsync_mock.journal.to_jsonl(route="poll").splitlines()
    assert [json.loads(line)["status"] for line in lines] == [503, 200]
