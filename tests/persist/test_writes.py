"""How the state file's writer finds a task's row without an index on the id: by the
rowid it gave the row, remembered for the tasks the store holds. Whatever it remembers
or forgets, a change lands on the task's one row, a restart finds the task as it was
left, nothing is charged twice, and a write that fails leaves the file usable."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from vidu_lipsync_mock import MockConfig
from vidu_lipsync_mock.persist.rows import params_text
from vidu_lipsync_mock.persist.statefile import APPLICATION_ID, SCHEMA
from vidu_lipsync_mock.service.tasks import TaskStatus
from vidu_lipsync_mock.state import MockState

KEY = "mdlx-" + "K3y" * 16
PARAMS = {"video_url": "https://example.com/v.mp4", "audio_url": "https://example.com/a.mp3"}
BILLED = {"starting_credit": "10", "billing_amount": "1", "progression": "manual"}


@pytest.fixture
def open_state(tmp_path: Path) -> Iterator[Callable[..., MockState]]:
    """Open mocks on one state file (a manual clock); each is closed at the end."""
    opened: list[MockState] = []

    def open_(**settings: Any) -> MockState:
        config = MockConfig.build(
            {"clock": "manual", "state_path": str(tmp_path / "state.db"), **settings}
        )
        opened.append(MockState(config))
        return opened[-1]

    yield open_
    for state in opened:
        state.close()


def rows_by_id(path: Path) -> dict[str, int]:
    """How many rows the file holds for each task id (read beside a closed mock)."""
    with closing(sqlite3.connect(path)) as db:
        counted = db.execute("SELECT id, count(*) FROM tasks GROUP BY id").fetchall()
    return dict(counted)


def test_changes_after_a_restart_land_on_the_restored_row(open_state, tmp_path):
    first = open_state(**BILLED)
    ids = [first.submit("vidu/lip-sync", PARAMS, KEY).task_id for _ in range(3)]
    first.close()
    second = open_state(**BILLED)
    second.force(ids[1], "success")
    second.force(ids[2], "failed", "the face is not visible")
    second.close()
    assert rows_by_id(tmp_path / "state.db") == dict.fromkeys(ids, 1)
    third = open_state(**BILLED)
    assert [third.task(task_id).status for task_id in ids] == [
        TaskStatus.PENDING,
        TaskStatus.SUCCESS,
        TaskStatus.FAILED,
    ]
    assert third.balance(KEY) == 8.0  # one spent, one held, one given back
    assert third.account(KEY).holds == 1


def test_a_task_whose_row_the_writer_forgot_is_found_by_its_id(open_state, tmp_path):
    first = open_state(**BILLED)
    ids = [first.submit("vidu/lip-sync", PARAMS, KEY).task_id for _ in range(3)]
    first.durability._rowids.clear()  # as if trimmed: the rows must be searched for
    first.force(ids[0], "success")  # its status and its spent hold both find the row
    first.close()
    assert rows_by_id(tmp_path / "state.db") == dict.fromkeys(ids, 1)
    second = open_state(**BILLED)
    assert second.task(ids[0]).status is TaskStatus.SUCCESS
    assert second.balance(KEY) == 7.0  # charged once: its hold is not restored
    assert second.account(KEY).holds == 2
    assert second.account(KEY).spent == 1


def test_a_task_whose_row_went_is_written_anew_with_its_hold(open_state, tmp_path):
    first = open_state(**BILLED)
    task = first.submit("vidu/lip-sync", PARAMS, KEY).task_id
    first.durability._db.execute("DELETE FROM tasks")  # as if pruned while it lived on
    first.force(task, "processing")
    first.close()
    second = open_state(**BILLED)
    assert second.task(task).status is TaskStatus.PROCESSING
    assert second.account(KEY).holds == 1
    second.force(task, "success")
    second.close()
    assert open_state(**BILLED).balance(KEY) == 9.0


def test_what_the_writer_remembers_stays_bounded(open_state):
    state = open_state(max_tasks=8, progression="manual")
    ids = [state.submit("vidu/lip-sync", PARAMS, KEY).task_id for _ in range(1100)]
    remembered = state.durability._rowids
    assert len(remembered) <= 1024 + 8 * 3 // 2
    assert set(ids[-8:]) <= set(remembered)  # every task the store holds is still there
    state.force(ids[-1], "success")
    state.close()
    assert open_state(max_tasks=8).task(ids[-1]).status is TaskStatus.SUCCESS


def test_a_file_of_schema_1_is_read_and_written(tmp_path, open_state):
    """Version 1 had a unique index on the task id; its files keep working."""
    path = tmp_path / "state.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute(f"PRAGMA application_id={APPLICATION_ID}")
        db.execute("PRAGMA user_version=1")
        db.executescript(SCHEMA.replace("id TEXT NOT NULL,", "id TEXT NOT NULL UNIQUE,"))
    first = open_state(**BILLED)
    task = first.submit("vidu/lip-sync", PARAMS, KEY).task_id
    first.close()
    second = open_state(**BILLED)
    second.force(task, "success")
    second.close()
    assert rows_by_id(path) == {task: 1}
    third = open_state(**BILLED)
    assert third.task(task).status is TaskStatus.SUCCESS
    assert third.balance(KEY) == 9.0


def test_a_write_that_fails_half_way_leaves_the_file_usable(open_state, tmp_path):
    """A seeded run writes a submit and its id position in one transaction; when the
    second write fails (a full disk), the submit fails whole, and the next one works."""
    state = open_state(seed=3, **BILLED)
    db = state.durability._db
    db.execute(
        "CREATE TEMP TRIGGER full_disk BEFORE INSERT ON meta "
        "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
    )
    with pytest.raises(sqlite3.IntegrityError, match="disk is full"):
        state.submit("vidu/lip-sync", PARAMS, KEY)
    assert not db.in_transaction
    db.execute("DROP TRIGGER full_disk")
    kept = state.submit("vidu/lip-sync", PARAMS, KEY).task_id
    state.close()
    assert list(rows_by_id(tmp_path / "state.db")) == [kept]
    again = open_state(seed=3, **BILLED)
    assert [task.task_id for task in again.tasks()] == [kept]
    assert again.balance(KEY) == 9.0  # the failed submit cost nothing


@pytest.mark.parametrize(
    "params",
    [
        PARAMS,
        {
            "video_url": 'https://example.com/"quoted"\\path',
            "note": "visage, \u00e9t\u00e9 \U0001f600",
        },
        {"video_url": "https://example.com/v.mp4", "bbox": [1, 2], "fps": 25.0, "on": True},
        {},
    ],
)
def test_parameters_are_written_as_json_dumps_writes_them(params):
    assert params_text(params) == json.dumps(params)
    assert json.loads(params_text(params)) == params


def test_commits_reach_the_log_and_the_log_the_disk_before_a_checkpoint(open_state):
    """WAL with `synchronous=NORMAL`: what a `kill -9` needs (each commit written to the
    log before it returns) and a file a power cut cannot damage; not `OFF`."""
    db = open_state().durability._db
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert db.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
