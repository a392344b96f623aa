"""State, reset, and the bounds that keep a long-running mock's memory flat."""

from __future__ import annotations

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock

SUBMIT = "/api/v1/vidu/lip-sync/async"
BODY = {"video_url": "https://example.com/presenter.mp4"}


def test_reset_forgets_everything_but_the_config(
    lipsync_client: httpx.Client, lipsync_mock: LipSyncMock
) -> None:
    lipsync_client.post(SUBMIT, json=BODY)
    lipsync_mock.add_fault("error", status=503, route="poll")
    assert len(lipsync_mock.tasks()) == 1
    assert len(lipsync_mock.journal) == 1

    lipsync_mock.reset()

    assert lipsync_mock.tasks() == []
    assert lipsync_mock.fault_rules() == []
    assert len(lipsync_mock.journal) == 0


def test_a_full_store_drops_the_oldest_finished_task_first() -> None:
    mock = LipSyncMock(clock="manual", max_tasks=3)
    first, second, third = (mock.submit("vidu/lip-sync", BODY, mock.api_key) for _ in range(3))
    mock.force(second.task_id, "success")  # the only finished task

    fourth = mock.submit("vidu/lip-sync", BODY, mock.api_key)

    kept = {task.task_id for task in mock.tasks()}
    assert kept == {first.task_id, third.task_id, fourth.task_id}
    assert mock.store.evicted_for_space == 1


@pytest.mark.lipsync(journal_max_entries=2)
def test_the_journal_keeps_the_newest_entries_and_counts_the_rest(
    lipsync_client: httpx.Client, lipsync_mock: LipSyncMock
) -> None:
    for _ in range(5):
        lipsync_client.get("/api/v1/tasks/task-unknown")
    assert len(lipsync_mock.journal) == 2
    assert lipsync_mock.journal.dropped == 3
