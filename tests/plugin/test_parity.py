"""One API, two modes: the same tests run against the in-process mock and against a
server driven over its admin API (`RemoteMock`), through the `MockApi` protocol, and the
two give the same objects for the same history."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from decimal import Decimal

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.faults import Fault
from vidu_lipsync_mock.http.admin_routes import account_record, task_record
from vidu_lipsync_mock.pytest_plugin.protocol import MockApi
from vidu_lipsync_mock.pytest_plugin.records import account_from_record, task_from_record
from vidu_lipsync_mock.pytest_plugin.remote import RemoteMock
from vidu_lipsync_mock.pytest_plugin.transport import SyncMockTransport
from vidu_lipsync_mock.service.accounts import TeamBalance
from vidu_lipsync_mock.service.errors import ApiError
from vidu_lipsync_mock.service.keys import redact
from vidu_lipsync_mock.service.tasks import TaskSnapshot, TaskStatus

SUBMIT = "/api/v1/vidu/lip-sync/async"


@pytest.fixture(params=["in-process", "remote"])
def mode(request: pytest.FixtureRequest) -> Iterator[tuple[MockApi, httpx.Client]]:
    """The mock under test, in either mode, and an HTTP client wired to it."""
    mock: MockApi
    with ExitStack() as stack:
        if request.param == "in-process":
            local: LipSyncMock = request.getfixturevalue("lipsync_mock")
            transport: httpx.BaseTransport = SyncMockTransport(local.app)
            base_url = "http://lipsync.test"
            mock = local
        else:
            server: LipSyncMock = request.getfixturevalue("lipsync_server")
            remote = stack.enter_context(RemoteMock(server.url))
            remote.reset()
            transport, base_url, mock = httpx.HTTPTransport(), server.url, remote
        headers = mock.auth_headers
        yield (
            mock,
            stack.enter_context(
                httpx.Client(transport=transport, base_url=base_url, headers=headers)
            ),
        )


def submit(http: httpx.Client) -> str:
    answer = http.post(SUBMIT, json={"video_url": "https://v.example/a.mp4"})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["data"]["task_id"])


def test_tasks_are_snapshots_moved_by_the_clock(mode: tuple[MockApi, httpx.Client]) -> None:
    mock, http = mode
    task_id = submit(http)
    [task] = mock.tasks()
    assert isinstance(task, TaskSnapshot)
    assert (task.task_id, task.status) == (task_id, TaskStatus.PENDING)
    assert mock.tasks("success") == []
    mock.advance(mock.task(task_id).progression["pending_seconds"])
    assert mock.task(task_id).status is TaskStatus.PROCESSING
    mock.run_until_terminal(task_id)
    done = mock.task(task_id)
    assert (done.status, done.duration_ms is not None) == (TaskStatus.SUCCESS, True)
    assert mock.tasks(TaskStatus.SUCCESS) == [done]


def test_force_answers_the_task(mode: tuple[MockApi, httpx.Client]) -> None:
    mock, http = mode
    task_id = submit(http)
    forced = mock.force(task_id, "failed", "no face")
    assert (forced.status, forced.error_message) == (TaskStatus.FAILED, "no face")
    assert http.get(f"/api/v1/tasks/{task_id}").json()["data"]["status"] == "failed"
    with pytest.raises(ApiError) as refused:
        mock.task("task-" + "0" * 24)
    assert refused.value.status == 404


def test_faults_rules_and_trace(mode: tuple[MockApi, httpx.Client]) -> None:
    mock, http = mode
    mock.add_fault("error", status=503, route="models", times=1)
    [rule] = mock.fault_rules()
    assert (rule["fault"], rule["match"]) == ({"kind": "error", "status": 503}, {"route": "models"})
    assert http.get("/api/v1/models").status_code == 503
    assert http.get("/api/v1/models").status_code == 200
    assert mock.fault_rules()[0]["hits"] == 1
    assert [(t["rule"], t["status"]) for t in mock.fault_trace()] == [(rule["id"], 503)]
    assert mock.remove_fault(rule["id"]) is True
    assert mock.remove_fault(rule["id"]) is False
    mock.use_profile("provider-outage", seed=1)
    assert mock.fault_rules() != []
    mock.clear_faults()
    assert mock.fault_rules() == []


def test_journal(mode: tuple[MockApi, httpx.Client]) -> None:
    mock, http = mode
    submit(http)
    http.get("/api/v1/models")
    assert len(mock.journal) == 2
    assert [e.route for e in mock.journal.entries()] == ["submit", "models"]
    assert mock.journal.count(route="submit") == 1
    assert mock.journal.last is not None
    assert mock.journal.last.route == "models"
    assert '"route":"submit"' in mock.journal.to_jsonl(route="submit")
    mock.journal.clear()
    assert mock.journal.count() == 0


def test_clock_and_fast_forward(mode: tuple[MockApi, httpx.Client]) -> None:
    mock, _ = mode
    start = mock.now()
    assert mock.clock.now() == start
    assert mock.advance(5) == start + 5
    assert mock.set_time(start + 60) == mock.clock.now() == start + 60
    with mock.fast_forward():
        time.sleep(30)  # advances the mock's clock instead of waiting
    assert mock.now() == start + 90


def test_accounts_and_key(mode: tuple[MockApi, httpx.Client]) -> None:
    mock, http = mode
    assert http.get("/api/v1/team/balance").json()["data"]["balance"] == mock.balance(mock.api_key)
    updated = mock.set_balance(mock.api_key, "0")
    assert isinstance(updated, TeamBalance)
    assert updated.balance == Decimal("0") == mock.account(mock.api_key).balance
    assert http.post(SUBMIT, json={"video_url": "https://v"}).status_code == 402


def test_both_modes_give_the_same_objects_for_the_same_history() -> None:
    local = LipSyncMock(clock="manual", seed=9)
    served = LipSyncMock(clock="manual", seed=9)
    with served, RemoteMock(served.start()) as remote:
        remote.set_time(local.now())
        for mock, transport, base in (
            (local, SyncMockTransport(local.app), "http://lipsync.test"),
            (remote, httpx.HTTPTransport(), served.url),
        ):
            mock.add_fault("result_error", route="submit", times=1)
            with httpx.Client(transport=transport, base_url=base, headers=mock.auth_headers) as h:
                first, second = submit(h), submit(h)
            mock.advance(1)
            mock.force(second, "failed", "no face")
            assert (first, second) == (local.tasks()[0].task_id, local.tasks()[1].task_id)
        shown = [t._replace(api_key=redact(t.api_key)) for t in local.tasks()]
        assert remote.tasks() == shown
        assert remote.tasks()[0].result_fault is not None
        assert remote.account(remote.api_key) == local.account(local.api_key)


def test_records_read_back_what_the_admin_api_renders() -> None:
    mock = LipSyncMock(clock="manual", seed=3)
    params = {"video_url": "https://v"}
    faults = [Fault("result_error", {"status": 410})]
    task_id = mock.submit("vidu/lip-sync", params, mock.api_key, faults=faults).task_id
    mock.advance(1)
    snapshot = mock.task(task_id)
    assert snapshot.result_fault is not None
    assert snapshot.scheduled_end is not None
    assert task_from_record(task_record(snapshot)) == snapshot._replace(
        api_key=redact(snapshot.api_key)
    )
    mock.set_balance(mock.api_key, "12.3456")
    account = mock.account(mock.api_key)
    assert account_from_record(account_record(account)) == account
