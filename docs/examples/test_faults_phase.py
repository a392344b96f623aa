"""Phase `before` or `after`: did the service do the work before the answer was lost?

A submit that fails *before* the service sees it created nothing: retrying is safe. A
submit that fails *after* created (and will bill) a task the client never heard of:
resubmitting pays twice. That is the most expensive retry bug in this domain, and the
journal shows it.
"""

from __future__ import annotations

import httpx

from vidu_lipsync_mock import LipSyncMock

SUBMIT = "/api/v1/vidu/lip-sync/async"
BODY = {"video_url": "https://example.com/a.mp4"}


def naive_submit(client: httpx.Client) -> str:
    """A client that resubmits on any 5xx: the bug this page is about."""
    for _ in range(3):
        response = client.post(SUBMIT, json=BODY)
        if response.status_code < 500:
            task_id: str = response.json()["data"]["task_id"]
            return task_id
    raise RuntimeError("gave up")


def test_before_nothing_was_created(
    lipsync_mock: LipSyncMock, lipsync_client: httpx.Client
) -> None:
    lipsync_mock.add_fault("error", status=500, route="submit", phase="before", once=True)
    naive_submit(lipsync_client)
    assert len(lipsync_mock.tasks()) == 1  # the retry was harmless


def test_after_the_retry_pays_twice(
    lipsync_mock: LipSyncMock, lipsync_client: httpx.Client
) -> None:
    lipsync_mock.add_fault("error", status=500, route="submit", phase="after", once=True)
    naive_submit(lipsync_client)

    assert len(lipsync_mock.tasks()) == 2  # two tasks, two bills, one video wanted
    failed, retried = lipsync_mock.journal.entries(route="submit")
    assert (failed.status, failed.fault) == (500, "error:500")
    # The journal keeps the task the lost answer would have named:
    assert {failed.task_id, retried.task_id} == {t.task_id for t in lipsync_mock.tasks()}
