"""One test module, two modes: the in-process mock and a server driven over its admin API
(`RemoteMock`) answer the same calls with the same objects (the `MockApi` protocol)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.pytest_plugin.protocol import MockApi
from vidu_lipsync_mock.pytest_plugin.remote import RemoteMock
from vidu_lipsync_mock.pytest_plugin.transport import SyncMockTransport
from vidu_lipsync_mock.service.tasks import TaskStatus


@pytest.fixture(params=["in-process", "remote"])
def mock_and_client(request: pytest.FixtureRequest) -> Iterator[tuple[MockApi, httpx.Client]]:
    if request.param == "in-process":
        local: LipSyncMock = request.getfixturevalue("lipsync_mock")
        with httpx.Client(
            transport=SyncMockTransport(local.app),
            base_url="http://lipsync.test",
            headers=local.auth_headers,
        ) as http:
            yield local, http
    else:
        # lipsync_remote drives the server named by --lipsync-url, else the session's own.
        remote: RemoteMock = request.getfixturevalue("lipsync_remote")
        with httpx.Client(base_url=remote.url, headers=remote.auth_headers) as http:
            yield remote, http


def test_same_calls_same_objects(mock_and_client: tuple[MockApi, httpx.Client]) -> None:
    mock, http = mock_and_client
    mock.add_fault("error", status=503, route="poll", times=1)
    body = {"video_url": "https://cdn.example/in.mp4"}
    task_id = http.post("/api/v1/vidu/lip-sync/async", json=body).json()["data"]["task_id"]
    assert http.get(f"/api/v1/tasks/{task_id}").status_code == 503

    (task,) = mock.tasks()  # a TaskSnapshot in both modes
    assert (task.task_id, task.status) == (task_id, TaskStatus.PENDING)
    mock.run_until_terminal()
    assert mock.task(task_id).status is TaskStatus.SUCCESS
    assert mock.fault_rules()[0]["hits"] == 1
    assert [e.status for e in mock.journal.entries(route="poll")] == [503]
    assert mock.account(mock.api_key).balance < 1_000_000  # charged for the success
