"""What the mock keeps of each request, and what it never shows: bounded tasks, bounded
journal entries, redacted keys."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock

SUBMIT = "/api/v1/vidu/lip-sync/async"
URL = "https://example.com/presenter.mp4"


def test_a_field_over_16_kib_is_refused(
    lipsync_client: httpx.Client, lipsync_mock: LipSyncMock
) -> None:
    response = lipsync_client.post(SUBMIT, json={"video_url": URL + "?" + "x" * 20_000})
    assert response.status_code == 400
    assert response.json()["message"] == (
        "Value out of range: parameter 'video_url' must be at most 16384 characters long"
    )
    assert lipsync_mock.tasks() == []


def test_large_unknown_fields_are_summed_up_not_kept(
    lipsync_client: httpx.Client, lipsync_mock: LipSyncMock
) -> None:
    extra = {"trace": "t" * 500_000}  # accepted, as the provider accepts unknown fields
    lipsync_client.post(SUBMIT, json={"video_url": URL, "resolution": "4k", **extra})

    (task,) = lipsync_mock.tasks()
    sent = json.dumps(extra, separators=(",", ":")).encode()
    assert task.params == {
        "video_url": URL,  # declared by the schema: kept whole
        "resolution": "4k",  # small and unknown: kept
        "_mock_omitted": {
            "fields": 1,
            "bytes": len(sent),
            "sha256": hashlib.sha256(sent).hexdigest(),
        },
    }


def test_a_journal_entry_keeps_64_kib_of_a_body_and_says_so(
    lipsync_client: httpx.Client, lipsync_mock: LipSyncMock
) -> None:
    lipsync_client.post(SUBMIT, json={"video_url": URL, "trace": "t" * 500_000})

    entry = lipsync_mock.journal.last
    assert entry is not None
    assert entry.truncated == ("request_body",)
    assert len(entry.request_body or "") == 64 * 1024
    assert entry.request_body_bytes > 500_000  # its size as sent


@pytest.mark.lipsync(journal_max_bytes=250_000)
def test_the_journal_has_a_byte_budget(
    lipsync_client: httpx.Client, lipsync_mock: LipSyncMock
) -> None:
    for _ in range(10):
        lipsync_client.post(SUBMIT, json={"video_url": URL, "trace": "t" * 100_000})
    assert lipsync_mock.journal.bytes <= 250_000
    assert len(lipsync_mock.journal) == 3  # three 64 KiB bodies fit; the oldest went
    assert lipsync_mock.journal.dropped == 7


def test_keys_are_redacted_wherever_a_client_put_them(
    lipsync_client: httpx.Client, lipsync_mock: LipSyncMock
) -> None:
    key = lipsync_mock.api_key
    lipsync_client.get(f"/api/v1/tasks/task-x?api_key={key}", headers={"X-Api-Key": key})

    entry = lipsync_mock.journal.last
    assert entry is not None
    assert key not in json.dumps(entry.as_dict())
    assert entry.query == f"api_key={key[:9]}…{key[-4:]}"
    assert entry.request_headers["x-api-key"] == f"{key[:9]}…{key[-4:]}"
