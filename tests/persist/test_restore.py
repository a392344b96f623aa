"""A state kept in a file, closed and opened again, without sockets: every kind of thing
`--state` keeps comes back as it was, time goes on from where it stood, and what was
changed at run time wins over the settings the state is rebuilt from."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from vidu_lipsync_mock import LipSyncMock, MockConfig
from vidu_lipsync_mock.cli import banner
from vidu_lipsync_mock.service.errors import ApiError
from vidu_lipsync_mock.service.tasks import ByClock, TaskStatus
from vidu_lipsync_mock.state import MockState

KEY = "mdlx-" + "K3y" * 16
OTHER = "mdlx-" + "Zz9" * 16
PARAMS = {"video_url": "https://example.com/v.mp4", "audio_url": "https://example.com/a.mp3"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
START = 2_000_000_000.0


@pytest.fixture
def open_state(tmp_path: Path) -> Iterator[Callable[..., MockState]]:
    """Open (and later close) mocks on one state file, on a manual clock at `START`."""
    opened: list[MockState] = []
    path = tmp_path / "state.db"

    def open_(**settings: Any) -> MockState:
        config = MockConfig.build({"clock": "manual", "state_path": str(path), **settings})
        state = MockState(config)
        opened.append(state)
        return state

    yield open_
    for state in opened:
        state.close()


def restart(state: MockState, open_state: Callable[..., MockState], **settings: Any) -> MockState:
    state.close()
    return open_state(**settings)


def test_a_task_pending_at_the_restart_finishes_on_its_schedule(open_state):
    first = open_state(pending_seconds=10, processing_seconds=20)
    first.set_time(START)
    task = first.submit("vidu/lip-sync", PARAMS, KEY)
    first.advance(5)
    second = restart(first, open_state, pending_seconds=10, processing_seconds=20)
    assert second.now() == START + 5  # the manual clock stands where it stood
    assert second.task(task.task_id).status is TaskStatus.PENDING
    second.advance(5)
    assert second.task(task.task_id).status is TaskStatus.PROCESSING
    second.advance(20)
    done = second.poll(task.task_id)
    assert done.status is TaskStatus.SUCCESS
    assert done.started_at == START + 10
    assert done.finished_at == START + 30
    assert done.params == PARAMS
    assert done.api_key == KEY


def test_every_task_and_its_outcome_come_back(open_state):
    first = open_state(progression="manual")
    first.set_time(START)
    ids = [first.submit("vidu/lip-sync", PARAMS, KEY).task_id for _ in range(50)]
    first.force(ids[0], "success")
    first.force(ids[1], "failed", "the face is not visible")
    first.force(ids[2], "processing")
    first.set_progression(ids[3], ByClock(1, 1))
    second = restart(first, open_state, progression="manual")
    assert {task.task_id for task in second.tasks()} == set(ids)
    assert second.task(ids[0]).status is TaskStatus.SUCCESS
    failed = second.task(ids[1])
    assert (failed.status, failed.error_message) == (TaskStatus.FAILED, "the face is not visible")
    assert second.task(ids[2]).status is TaskStatus.PROCESSING
    second.advance(2)
    assert second.task(ids[3]).status is TaskStatus.SUCCESS
    assert second.task(ids[4]).status is TaskStatus.PENDING


def test_poll_counts_that_move_a_task_survive(open_state):
    first = open_state(progression="polls", processing_on_poll=2, terminal_on_poll=3)
    task = first.submit("vidu/lip-sync", PARAMS, KEY)
    assert first.poll(task.task_id).status is TaskStatus.PENDING
    assert first.poll(task.task_id).status is TaskStatus.PROCESSING
    second = restart(first, open_state, progression="polls")
    assert second.poll(task.task_id).status is TaskStatus.SUCCESS


def test_retention_still_applies_and_expired_rows_leave_the_file(open_state, tmp_path):
    first = open_state(retention_seconds=100, pending_seconds=0, processing_seconds=0)
    first.set_time(START)
    old = first.submit("vidu/lip-sync", PARAMS, KEY)
    first.advance(60)
    young = first.submit("vidu/lip-sync", PARAMS, KEY)
    first.advance(50)  # the first is past its 100 s; the second is not
    second = restart(first, open_state, retention_seconds=100)
    assert [task.task_id for task in second.tasks()] == [young.task_id]
    with sqlite3.connect(tmp_path / "state.db") as db:  # opened beside a closed mock
        second.close()
        rows = [row[0] for row in db.execute("SELECT id FROM tasks")]
    assert rows == [young.task_id]
    assert old.task_id not in rows


def test_a_seeded_run_continues_its_id_sequence(open_state, tmp_path):
    straight = MockState(MockConfig(clock="manual", seed=7))
    expected = [straight.submit("vidu/lip-sync", PARAMS, KEY).task_id for _ in range(6)]
    first = open_state(seed=7)
    got = [first.submit("vidu/lip-sync", PARAMS, KEY).task_id for _ in range(3)]
    first.upload(KEY, "face.png", PNG)  # file ids come from a generator of their own
    second = restart(first, open_state, seed=7)
    got += [second.submit("vidu/lip-sync", PARAMS, KEY).task_id for _ in range(3)]
    assert got == expected


def test_a_balance_set_at_run_time_wins_over_the_config(open_state):
    first = open_state(starting_credit="50")
    first.set_balance(KEY, "12.5")
    second = restart(first, open_state, starting_credit="80")
    assert second.balance(KEY) == 12.5
    assert second.balance(OTHER) == 80.0  # an untouched team starts from the config


def test_a_success_is_charged_once_across_restarts(open_state):
    first = open_state(starting_credit="10", billing_amount="1", progression="manual")
    task = first.submit("vidu/lip-sync", PARAMS, KEY)
    unfinished = first.submit("vidu/lip-sync", PARAMS, KEY)
    assert first.balance(KEY) == 8.0  # two held
    first.force(task.task_id, "success")
    assert first.balance(KEY) == 8.0  # one spent, one still held
    second = restart(first, open_state, starting_credit="10", billing_amount="1")
    assert second.balance(KEY) == 8.0
    assert second.account(KEY).holds == 1
    second.force(unfinished.task_id, "failed")
    third = restart(second, open_state, starting_credit="10", billing_amount="1")
    assert third.balance(KEY) == 9.0
    assert third.account(KEY).spent == Decimal("1.0000")


def test_fault_rules_changed_at_run_time_win_over_the_config(open_state):
    configured = ({"fault": "error", "status": 503, "route": "poll"},)
    first = open_state(faults=configured)
    assert [rule["fault"]["status"] for rule in first.fault_rules()] == [503]
    first.clear_faults()
    added = first.add_fault("error", status=429, route="submit", times=2)
    second = restart(first, open_state, faults=configured)
    rules = second.fault_rules()
    assert [(rule["id"], rule["fault"]["status"]) for rule in rules] == [(added.id, 429)]
    assert second.add_fault("latency", seconds=0.1).id != added.id  # numbering goes on


def test_uploads_come_back_with_their_bytes_and_link(open_state, tmp_path):
    first = open_state()
    kept = first.upload(KEY, "face.png", PNG)
    gone = first.upload(KEY, "other.png", PNG + b"!")
    first.delete_upload(KEY, gone.file_id)
    second = restart(first, open_state)
    back = second.uploaded(kept.link_token, "face.png")
    assert (back.file_id, back.data, back.team) == (kept.file_id, PNG, kept.team)
    assert sorted(p.name for p in (tmp_path / "state.db.files").iterdir()) == [kept.file_id]
    with pytest.raises(ApiError, match="no such file"):
        second.uploaded(gone.link_token, "other.png")


def test_an_altered_upload_is_not_served_after_a_restart(open_state, tmp_path):
    first = open_state()
    kept = first.upload(KEY, "face.png", PNG)
    first.close()
    (tmp_path / "state.db.files" / kept.file_id).write_bytes(PNG + b"tampered")
    second = open_state()
    assert second.uploads.get(kept.file_id, second.now()) is None


def test_the_system_clock_keeps_its_offset(open_state):
    first = open_state(clock="system")
    first.advance(86_400)
    second = restart(first, open_state, clock="system")
    assert second.clock.describe()["offset"] == 86_400


def test_reset_forgets_what_the_file_kept(open_state):
    first = open_state()
    first.submit("vidu/lip-sync", PARAMS, KEY)
    first.set_balance(KEY, 3)
    first.reset()
    second = restart(first, open_state)
    assert second.tasks() == []
    assert second.balance(KEY) == 1_000_000.0


def test_built_results_are_found_again_and_checked(open_state):
    first = open_state()
    task = first.submit("vidu/lip-sync", PARAMS, KEY)
    other = first.submit("vidu/lip-sync", PARAMS, KEY)
    first.durability.result_built(task.task_id, b"built bytes")
    first.durability.result_built(other.task_id, b"other bytes")
    first.durability.result_built("task-gone", b"of a task the store no longer has")
    files = first.durability.describe()["files"]
    (Path(files) / f"result-{other.task_id}").write_bytes(b"tampered")  # digest no longer matches
    second = restart(first, open_state)
    alive = {task.task_id, other.task_id}.__contains__
    assert second.durability.saved_results(alive) == [(task.task_id, b"built bytes")]
    assert second.durability.saved_results(alive) == [(task.task_id, b"built bytes")]
    assert sorted(p.name for p in Path(files).iterdir()) == [f"result-{task.task_id}"]


def test_memory_only_mode_keeps_nothing(tmp_path):
    state = MockState(MockConfig(clock="manual"))
    state.submit("vidu/lip-sync", PARAMS, KEY)
    assert state.durability.enabled is False
    assert state.durability.describe() == {"path": None}
    assert list(tmp_path.iterdir()) == []


def test_a_running_server_deletes_expired_rows_as_it_goes(open_state, tmp_path):
    state = open_state(retention_seconds=10, pending_seconds=0, processing_seconds=0)
    state.durability.PRUNE_EVERY = 4  # every fourth submit (1,024 by default)
    old = [state.submit("vidu/lip-sync", PARAMS, KEY).task_id for _ in range(3)]
    state.advance(60)
    new = state.submit("vidu/lip-sync", PARAMS, KEY).task_id  # the fourth: prunes
    state.close()
    with sqlite3.connect(tmp_path / "state.db") as db:
        rows = [row[0] for row in db.execute("SELECT id FROM tasks")]
    assert rows == [new]
    assert not set(old) & set(rows)


def test_the_banner_says_where_the_state_is_and_what_came_back(tmp_path):
    path = tmp_path / "state.db"
    first = LipSyncMock(clock="manual", state_path=str(path))
    first.submit("vidu/lip-sync", PARAMS, KEY)
    first.close()
    second = LipSyncMock(clock="manual", state_path=str(path))
    try:
        lines = banner(second, "http://127.0.0.1:8000").splitlines()
    finally:
        second.close()
    assert f"  state: {path}; restored tasks: 1, files: 0" in lines
    assert not any("state:" in line for line in banner(LipSyncMock(), "http://x").splitlines())


def test_a_submit_the_file_could_not_keep_costs_nothing(open_state, monkeypatch):
    state = open_state(starting_credit="10", billing_amount="1")

    def full_disk(*args: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(state.durability, "task_created", full_disk)
    with pytest.raises(sqlite3.OperationalError):
        state.submit("vidu/lip-sync", PARAMS, KEY)
    assert state.balance(KEY) == 10.0
