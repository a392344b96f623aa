"""Run with `pytest --lipsync-progression manual --lipsync-rate-limit 3`: command-line
options configure every test's mock, and the marker still wins over them."""

from __future__ import annotations

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock

SUBMIT = "/api/v1/vidu/lip-sync/async"


def test_options_reach_the_mock(lipsync_mock: LipSyncMock, lipsync_client: httpx.Client) -> None:
    assert lipsync_mock.default_progression.describe() == {"kind": "manual"}
    codes = [lipsync_client.get("/api/v1/tasks/task-x").status_code for _ in range(4)]
    assert codes == [404, 404, 404, 429]  # three requests a minute, then refused


@pytest.mark.lipsync(rate_limit=0)
def test_the_marker_wins(lipsync_client: httpx.Client) -> None:
    codes = {lipsync_client.get("/api/v1/tasks/task-x").status_code for _ in range(10)}
    assert codes == {404}
