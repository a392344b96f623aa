"""The downstream client's own tests, written with the vidu-lipsync-mock plugin.

Every test runs the real client against the live mock server on virtual time (the
client's `time.sleep` calls advance the mock's clock) and asks the auditor to judge its
retry policy from the journal.
"""

from __future__ import annotations

import pytest
from modellix_client import LipSyncClient, OutcomeUnknown, TaskFailed

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.media.mp4info import probe_mp4

VIDEO = "https://cdn.example.com/presenter.mp4"

pytestmark = pytest.mark.lipsync(fast_forward=True, audit=True, preset="realistic")


def test_lip_sync_returns_a_playable_video(client: LipSyncClient) -> None:
    video = client.lip_sync(VIDEO, "https://cdn.example.com/voice.mp3")
    info = probe_mp4(video)
    assert info.video is not None
    assert info.audio is not None


@pytest.mark.lipsync(
    faults=[
        {"fault": "error", "status": 503, "route": "poll", "times": 2},
        {"fault": "error", "status": 429, "route": "poll", "retry_after": 7, "times": 1},
    ]
)
def test_survives_outages_and_rate_limits_on_polls(
    client: LipSyncClient, lipsync_live: LipSyncMock
) -> None:
    assert probe_mp4(client.lip_sync(VIDEO)).video is not None
    assert [e.status for e in lipsync_live.journal.entries(route="poll")].count(503) == 2


@pytest.mark.lipsync(
    faults=[{"fault": "error", "status": 500, "route": "submit", "phase": "after"}]
)
def test_an_ambiguous_submit_is_reported_not_repeated(
    client: LipSyncClient, lipsync_live: LipSyncMock
) -> None:
    with pytest.raises(OutcomeUnknown):
        client.submit(VIDEO)
    assert len(lipsync_live.journal.entries(route="submit")) == 1
    assert len(lipsync_live.tasks()) == 1  # it was paid for: a human must reconcile it


def test_a_failed_task_raises_with_the_reason(client: LipSyncClient) -> None:
    with pytest.raises(TaskFailed, match="no face detected"):
        client.lip_sync(VIDEO + "?mock=fail")
