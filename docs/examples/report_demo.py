"""A test that fails on purpose, to show the `lipsync` section of its report.

Not collected by default (its name does not start with `test_`); run it by name:
`pytest docs/examples/report_demo.py --lipsync-seed 7`.
"""

from __future__ import annotations

import httpx
import pytest

SUBMIT = "/api/v1/vidu/lip-sync/async"


@pytest.mark.lipsync(faults=[{"fault": "error", "status": 503, "route": "poll", "times": 2}])
def test_a_client_without_retries(lipsync_client: httpx.Client) -> None:
    task_id = lipsync_client.post(SUBMIT, json={"video_url": "https://example.com/a.mp4"}).json()[
        "data"
    ]["task_id"]
    poll = lipsync_client.get(f"/api/v1/tasks/{task_id}")
    assert poll.status_code == 200  # fails: the first poll gets the injected 503
