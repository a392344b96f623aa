"""What a long-running server keeps of each request, over a real socket on 127.0.0.1: a task
keeps its declared fields and a summary of the rest, a journal entry at most 64 KiB of a
body, the journal reads leave nothing behind, and no key is ever shown in full."""

from __future__ import annotations

import gc
import hashlib
import json
from collections.abc import Callable, Iterator

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.journal.entry import Entry
from vidu_lipsync_mock.journal.journal import BODY_LIMIT
from vidu_lipsync_mock.service.keys import redact
from vidu_lipsync_mock.service.validation import FIELD_LIMIT

SUBMIT_PATH = "/api/v1/vidu/lip-sync/async"
KEY = "mdlx-" + "M3m0ry" * 8
AUTH = {"Authorization": f"Bearer {KEY}"}
URL = "https://example.com/presenter.mp4"


@pytest.fixture
def live(make_mock: Callable[..., LipSyncMock]) -> Iterator[tuple[LipSyncMock, httpx.Client]]:
    mock = make_mock(rate_limit=0)
    client = httpx.Client(base_url=mock.start(), timeout=30)
    yield mock, client
    client.close()


def test_a_megabyte_submit_keeps_a_summary_in_its_task_and_64_kib_in_its_entry(
    live: tuple[LipSyncMock, httpx.Client],
) -> None:
    _mock, client = live
    padding = "p" * 1_000_000
    body = json.dumps({"video_url": URL, "padding": padding}).encode()
    response = client.post(
        SUBMIT_PATH, content=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 200
    task_id = response.json()["data"]["task_id"]
    task = client.get(f"/_mock/tasks/{task_id}").json()["data"]
    encoded = json.dumps({"padding": padding}, separators=(",", ":")).encode()
    assert task["params"] == {
        "video_url": URL,
        "_mock_omitted": {
            "fields": 1,
            "bytes": len(encoded),
            "sha256": hashlib.sha256(encoded).hexdigest(),
        },
    }
    (entry,) = client.get("/_mock/journal", params={"route": "submit"}).json()["data"]["entries"]
    assert entry["truncated"] == ["request_body"]
    assert entry["request_body_bytes"] == len(body)
    assert len(entry["request_body"]) == BODY_LIMIT


def test_a_declared_field_over_the_cap_is_refused_over_the_wire(
    live: tuple[LipSyncMock, httpx.Client],
) -> None:
    mock, client = live
    response = client.post(SUBMIT_PATH, json={"video_url": "v" * (FIELD_LIMIT + 1)}, headers=AUTH)
    assert response.status_code == 400
    assert response.json() == {
        "code": 400,
        "message": (
            f"Value out of range: parameter 'video_url' must be at most {FIELD_LIMIT} "
            "characters long"
        ),
    }
    assert mock.tasks() == []


def test_no_key_is_shown_in_full_wherever_the_client_put_it(
    live: tuple[LipSyncMock, httpx.Client],
) -> None:
    mock, client = live
    client.get(f"/api/v1/tasks/task-none?api_key={KEY}&key={KEY}", headers=AUTH)
    client.get("/api/v1/tasks/task-none", headers={"X-Api-Key": KEY, "Api-Key": KEY})
    client.get("/api/v1/tasks/task-none", headers={"X-Token": f"Bearer {KEY}"})
    client.post(SUBMIT_PATH, json={"video_url": URL, "note": KEY}, headers=AUTH)
    shown = client.get("/_mock/journal").text + client.get("/_mock/journal.jsonl").text
    assert KEY not in shown
    assert redact(KEY) in shown
    assert len(mock.journal) == 4


def test_reading_the_journal_under_load_leaves_no_entry_behind(
    live: tuple[LipSyncMock, httpx.Client],
) -> None:
    """The soak leak: `/_mock/journal?limit=50` every few requests used to keep each read's
    entries alive in the journal, beyond the entries it still held."""
    mock, client = live
    for round_ in range(60):
        for _ in range(5):
            client.get("/api/v1/tasks/task-none", headers=AUTH)
        read = client.get("/_mock/journal", params={"limit": 50}).json()["data"]["entries"]
        assert len(read) == min(50, 5 * (round_ + 1))
    gc.collect()
    assert sum(1 for thing in gc.get_objects() if isinstance(thing, Entry)) == 0
    assert len(mock.journal) == 300
