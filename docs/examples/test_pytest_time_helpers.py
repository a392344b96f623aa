"""Time helpers on the mock: `now`, `advance`, `set_time`, `run_until_terminal`."""

from __future__ import annotations

import pytest

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.service.tasks import TransitionError

BODY = {"video_url": "https://example.com/a.mp4"}


def test_run_until_terminal_for_every_task(lipsync_mock: LipSyncMock) -> None:
    first = lipsync_mock.submit("vidu/lip-sync", BODY, lipsync_mock.api_key)
    lipsync_mock.advance(2)
    second = lipsync_mock.submit("vidu/lip-sync", BODY, lipsync_mock.api_key)

    lipsync_mock.run_until_terminal()  # no id: until every task has ended

    assert {t.status for t in lipsync_mock.tasks()} == {"success"}
    assert lipsync_mock.now() == second.submitted_at + 3
    assert lipsync_mock.task(first.task_id).finished_at == first.submitted_at + 3


@pytest.mark.lipsync(progression="polls")
def test_time_cannot_finish_a_task_that_waits_for_polls(lipsync_mock: LipSyncMock) -> None:
    lipsync_mock.submit("vidu/lip-sync", BODY, lipsync_mock.api_key)
    with pytest.raises(TransitionError, match="time alone will not finish it"):
        lipsync_mock.run_until_terminal()


@pytest.mark.lipsync(preset="realistic")
def test_run_until_terminal_refuses_to_jump_past_its_limit(lipsync_mock: LipSyncMock) -> None:
    lipsync_mock.submit("vidu/lip-sync", BODY, lipsync_mock.api_key)
    with pytest.raises(TransitionError, match="over the 60 s limit"):
        lipsync_mock.run_until_terminal(limit=60)
