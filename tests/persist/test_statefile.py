"""Files `--state` must refuse, each with a sentence naming the path and the problem, and
each left byte for byte as it was."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from vidu_lipsync_mock import MockConfig
from vidu_lipsync_mock.persist import StateFileError, open_durability
from vidu_lipsync_mock.persist.statefile import APPLICATION_ID, SCHEMA_VERSION
from vidu_lipsync_mock.state import MockState

KEY = "mdlx-" + "K3y" * 16
PARAMS = {"video_url": "https://example.com/v.mp4"}


def our_state_file(path: Path) -> bytes:
    state = MockState(MockConfig(clock="manual", state_path=str(path)))
    state.submit("vidu/lip-sync", PARAMS, KEY)
    state.close()
    return path.read_bytes()


def foreign_sqlite(path: Path) -> bytes:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (body TEXT)")
        db.execute("INSERT INTO notes VALUES ('mine')")
    db.close()
    return path.read_bytes()


def newer_schema(path: Path) -> bytes:
    our_state_file(path)
    data = bytearray(path.read_bytes())
    data[60:64] = (SCHEMA_VERSION + 1).to_bytes(4, "big")
    path.write_bytes(bytes(data))
    return bytes(data)


def damaged(path: Path) -> bytes:
    data = bytearray(our_state_file(path))
    data[100:] = b"\xa5" * (len(data) - 100)  # the header survives, the pages do not
    path.write_bytes(bytes(data))
    return bytes(data)


def not_sqlite(path: Path) -> bytes:
    path.write_bytes(b"name,size\nholiday.mp4,1234\n" * 10)
    return path.read_bytes()


CASES: list[tuple[Callable[[Path], bytes], str]] = [
    (not_sqlite, "is not a SQLite database"),
    (foreign_sqlite, "is a SQLite database of another program"),
    (newer_schema, f"schema {SCHEMA_VERSION + 1}; this one reads up to {SCHEMA_VERSION}"),
    (damaged, "is damaged"),
]


@pytest.mark.parametrize(("make", "problem"), CASES, ids=[make.__name__ for make, _ in CASES])
def test_a_file_that_is_not_ours_is_refused_and_left_as_it_was(tmp_path, make, problem):
    path = tmp_path / "state.db"
    before = make(path)
    with pytest.raises(StateFileError) as refused:
        MockState(MockConfig(state_path=str(path)))
    assert str(refused.value).startswith(f"state file {path}: ")
    assert problem in str(refused.value)
    assert path.read_bytes() == before


def test_a_file_in_use_by_another_mock_is_refused(tmp_path):
    path = tmp_path / "state.db"
    first = open_durability(path)
    try:
        with pytest.raises(StateFileError, match="in use by another process"):
            open_durability(path)
    finally:
        first.close()
    open_durability(path).close()  # free again once the first let go


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only permissions")
def test_a_read_only_file_is_refused(tmp_path):
    path = tmp_path / "state.db"
    before = our_state_file(path)
    path.chmod(0o444)
    with pytest.raises(StateFileError, match="is read-only"):
        open_durability(path)
    assert path.read_bytes() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only permissions")
def test_a_read_only_folder_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "state.db"
    before = our_state_file(path)
    folder.chmod(0o555)
    try:
        with pytest.raises(StateFileError, match=r"folder .* is read-only"):
            open_durability(path)
        assert path.read_bytes() == before
    finally:
        folder.chmod(0o755)


def test_a_folder_or_a_missing_folder_is_refused(tmp_path):
    with pytest.raises(StateFileError, match="is a directory"):
        open_durability(tmp_path)
    with pytest.raises(StateFileError, match="does not exist"):
        open_durability(tmp_path / "nowhere" / "state.db")
    assert list(tmp_path.iterdir()) == []


def test_a_new_file_is_marked_as_ours_and_private(tmp_path):
    path = tmp_path / "state.db"
    open_durability(path).close()
    header = path.read_bytes()[:100]
    assert int.from_bytes(header[68:72], "big") == APPLICATION_ID
    assert int.from_bytes(header[60:64], "big") == SCHEMA_VERSION
    assert path.stat().st_mode & 0o777 == 0o600  # it holds the clients' API keys


def test_an_empty_file_becomes_a_state_file(tmp_path):
    path = tmp_path / "state.db"
    path.touch()
    open_durability(path).close()
    assert path.read_bytes()[:16] == b"SQLite format 3\x00"


def test_a_path_the_process_may_not_write_is_refused(tmp_path, monkeypatch):
    """What a read-only file or disk looks like to the check, whoever runs the suite (root
    writes through permission bits, so the two tests above skip under root)."""
    path = tmp_path / "state.db"
    before = our_state_file(path)
    monkeypatch.setattr(os, "access", lambda target, mode: Path(target) != path)
    with pytest.raises(StateFileError, match=f"state file {path}: is read-only"):
        open_durability(path)
    monkeypatch.setattr(os, "access", lambda target, mode: Path(target) != tmp_path)
    with pytest.raises(StateFileError, match=f"its folder {tmp_path} is read-only"):
        open_durability(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE teams SET credit = 'plenty'",
        "UPDATE tasks SET params = '{not json'",
        "UPDATE tasks SET status = 'lost'",
        'INSERT INTO meta VALUES (\'faults\', \'{"rules": [{"fault": "no-such-kind"}]}\')',
    ],
)
def test_rows_that_make_no_sense_are_refused_as_damage(tmp_path, sql):
    path = tmp_path / "state.db"
    state = MockState(MockConfig(clock="manual", state_path=str(path)))
    state.submit("vidu/lip-sync", PARAMS, KEY)
    state.set_balance(KEY, 5)
    state.close()
    with sqlite3.connect(path) as db:
        db.execute(sql)
    db.close()
    before = path.read_bytes()
    with pytest.raises(StateFileError, match=f"state file {path}: is damaged"):
        MockState(MockConfig(state_path=str(path)))
    assert path.read_bytes() == before
