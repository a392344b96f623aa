"""The durable copy: every change the state reports, written to SQLite before it returns.

One connection, one lock, autocommit mode with explicit transactions: a submit is one
`INSERT` (plus the id source's position in a seeded run) committed before the state hands
the task back, so before the 200 is sent. WAL mode with `synchronous=NORMAL` makes a
commit a write into the log, not a disk flush: a `kill -9` loses nothing committed (the
operating system has the pages), a power cut may lose the last commits (out of scope)
but leaves the file consistent.

The tasks table has no index on the task id: an index is a second B-tree, and a second
page that every submit's commit writes to the log (a submit's write cost 9 µs with it,
5.5 µs without). The writer gives each row its rowid (increasing, never given twice) and
remembers it for the tasks the store holds; a change to a task is an `UPDATE` by rowid,
and a task it forgot is found by a scan.

Group commit: the server may ask for the writes one thread makes to wait in one open
transaction (`defer_commits` until `stop_deferring`), and commit them all at once
(`commit_deferred`) before it sends any of the answers that depend on them: one commit
per turn of the event loop instead of one per submit. Any write not deferred commits
what is open along with itself. A deferred write that fails rolls the open transaction
back, and `commit_deferred` then says the batch was lost, so its answers are never sent.

Polls write nothing unless the count decides the task's course: a task's status is
derived from the clock and the stored times, so the row written at submit still says
everything after a restart. Uploaded bytes live in files beside the database, written
before their row is committed; the row carries their SHA-256, and a file that does not
match is not served after a restart.

Lock order: the accounts' lock, then this one (a change of credit is written from inside
the accounts); this one, then the task store's. Nothing here calls into the accounts' locked
methods.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vidu_lipsync_mock.faults import FaultEngine
from vidu_lipsync_mock.persist import restore as restoring
from vidu_lipsync_mock.persist.durability import Durability, Parts
from vidu_lipsync_mock.persist.rows import (
    INSERT_SUBMITTED,
    TASK_COLUMNS,
    PolicyCodec,
    rules_text,
    submitted_row,
    task_row,
    team_row,
    upload_row,
)
from vidu_lipsync_mock.persist.statefile import StateFileError, files_folder, open_state_file
from vidu_lipsync_mock.service.accounts import TeamBalance
from vidu_lipsync_mock.service.clock import Clock
from vidu_lipsync_mock.service.tasks import Outcome, Progression, TaskSnapshot
from vidu_lipsync_mock.service.uploads import Upload

__all__ = ["SqliteDurability"]

_NAMES = [name.strip() for name in TASK_COLUMNS.split(",")]
#: A task's row written anew (its old one went), at a rowid of ours.
_INSERT_TASK = (
    f"INSERT INTO tasks (rowid, {TASK_COLUMNS}) VALUES ({', '.join('?' * (len(_NAMES) + 1))})"
)
#: A task that changed after its submit, `task_row`'s values by position and its rowid
#: last: everything but its id and its hold, which only the accounts end (`_credit_changed`).
_UPDATE_TASK = (
    "UPDATE tasks SET "
    + ", ".join(
        f"{name} = ?{index}"
        for index, name in enumerate(_NAMES, 1)
        if name not in ("id", "hold_team", "hold")
    )
    + f" WHERE rowid = ?{len(_NAMES) + 1}"
)
#: Where a task's row is when `_rowids` no longer says (no index on the id: a scan).
_FIND_TASK = "SELECT rowid FROM tasks WHERE id = ? ORDER BY rowid DESC LIMIT 1"
#: Rows are in submit order: expired ones are among the oldest, and looking only there
#: keeps a prune as cheap as the rows it deletes (no index on expiry to pay on each insert).
_PRUNE = (
    "DELETE FROM tasks WHERE rowid IN (SELECT rowid FROM tasks ORDER BY rowid LIMIT 4096) "
    "AND keep_until <= ?"
)
_CLEAR_HOLD = "UPDATE tasks SET hold_team = NULL, hold = NULL WHERE rowid = ?"
_SET_META = "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"
_UPSERT_TEAM = (
    "INSERT INTO teams (team, name, credit, spent, members, pinned) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (team) DO UPDATE SET name = excluded.name, credit = excluded.credit, "
    "spent = excluded.spent, members = excluded.members, "
    "pinned = max(pinned, excluded.pinned)"
)


class SqliteDurability(Durability):
    """A mock's tasks, files, balances, rules and clock, kept in one SQLite file."""

    enabled = True

    #: Task writes between two deletions of rows whose retention has run out (among the
    #: oldest `_PRUNE` looks at; a restart deletes every one).
    PRUNE_EVERY = 1024

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser().absolute()
        self._db, self.existed = open_state_file(self.path)
        self._cursor = self._db.cursor()  # a submit's own: one cursor less to make each time
        self._files = files_folder(self.path)
        self._lock = threading.Lock()
        self._codec = PolicyCodec()
        self._parts: Parts | None = None
        self._writes = 0
        #: Where each task's row is (no index on the id: a second B-tree would cost a
        #: submit a second page to write), for the tasks the store holds; rowids are ours,
        #: increasing, never given twice, so an entry whose row went points at nothing.
        self._rowids: dict[str, int] = {}
        self._next_rowid = 1
        #: How many entries `_rowids` may hold before those of tasks the store no longer
        #: holds are dropped: half as many again as the store's (one scan of them every
        #: `max_tasks / 2` submits, three lookups per submit).
        self._rowids_bound = 1024
        #: What the last restore found, for the admin API and the CLI's banner.
        self.restored: dict[str, int] = {}
        #: The thread whose writes wait for `commit_deferred`, if any (group commit).
        self._deferring: int | None = None
        #: Whether deferred writes are waiting, and whether a failure lost some of them.
        self.uncommitted = False
        self._lost = False

    # -- start ------------------------------------------------------------------------

    def restore(self, parts: Parts) -> None:
        with self._lock:
            try:
                clock = restoring.read_clock(self._db)
                if clock is not None and clock.get("kind") == parts.clock.kind:
                    parts.clock.restore(clock)
                now = parts.clock.now()
                saved = restoring.read(self._db, parts, self._files, self._codec, now)
            except (
                sqlite3.DatabaseError,
                ValueError,
                KeyError,
                TypeError,
                ArithmeticError,
            ) as error:
                self._db.close()
                raise StateFileError(f"state file {self.path}: is damaged ({error})") from None
            restoring.apply(saved, parts)
            last = self._db.execute("SELECT max(rowid) FROM tasks").fetchone()[0]
            restoring.prune(self._db, saved, self._files, now)
            self._rowids = saved.rowids
            self._next_rowid = (last or 0) + 1
            self._rowids_bound = 1024 + parts.store.max_tasks * 3 // 2
            self._parts = parts
            self.restored = {"tasks": len(saved.tasks), "files": len(saved.uploads)}
        parts.clock.on_change = self._clock_moved
        parts.accounts.on_change = self._credit_changed

    # -- tasks ------------------------------------------------------------------------

    def task_created(
        self,
        snapshot: TaskSnapshot,
        progression: Progression,
        retention_seconds: float,
        outcome: Outcome,
    ) -> None:
        parts = self._parts
        assert parts is not None
        task_id = snapshot.task_id
        with self._lock:
            hold = parts.accounts.hold_of(task_id)
            rowid = self._next_rowid
            row = submitted_row(
                rowid, snapshot, progression, retention_seconds, outcome, self._codec, hold
            )
            position = parts.ids.position()
            self._writes += 1
            if position is None and self._writes % self.PRUNE_EVERY:
                self._write(INSERT_SUBMITTED, row, self._cursor)
            else:
                with self._transaction() as db:
                    db.execute(INSERT_SUBMITTED, row)
                    if position is not None:
                        db.execute(_SET_META, ("ids", json.dumps(position)))
                    if not self._writes % self.PRUNE_EVERY:
                        db.execute(_PRUNE, (snapshot.submitted_at,))
            self._next_rowid = rowid + 1
            rowids = self._rowids
            rowids[task_id] = rowid
            if len(rowids) > self._rowids_bound:
                store = parts.store
                self._rowids = {key: at for key, at in rowids.items() if key in store}

    def task_changed(self, task_id: str) -> None:
        parts = self._parts
        assert parts is not None
        with self._lock:
            task = parts.store.saved_task(task_id)
            if task is None:
                return
            db = self._db
            rowid = self._rowids.get(task_id) or self._find(task_id)
            row = task_row(task, self._codec, None)
            if rowid is not None and self._write(_UPDATE_TASK, (*row, rowid), db).rowcount:
                self._rowids[task_id] = rowid  # (found by a scan: not searched for again)
                return
            rowid = self._next_rowid  # its row went (expired while the task lived on)
            hold = parts.accounts.hold_of(task_id)
            self._write(_INSERT_TASK, (rowid, *task_row(task, self._codec, hold)), db)
            self._next_rowid = rowid + 1
            self._rowids[task_id] = rowid

    def _find(self, task_id: str) -> int | None:
        """The rowid of a task `_rowids` has no entry for (rare: a task that left the
        store as its hold was settled), found by a scan; under the lock."""
        found = self._db.execute(_FIND_TASK, (task_id,)).fetchone()
        return None if found is None else int(found[0])

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One transaction, rolled back if any of it fails (a full disk), so that the
        next write does not find it still open; under the lock. A deferred one is left
        open for `commit_deferred`; any other commits what deferred writes left open."""
        db = self._db
        if not db.in_transaction:
            db.execute("BEGIN")
        try:
            yield db
            if self._deferring == threading.get_ident():
                self.uncommitted = True
            else:
                db.execute("COMMIT")
                self.uncommitted = False
        except BaseException:
            self._roll_back()
            raise

    def _write(self, sql: str, values: Any, db: Any) -> Any:
        """One statement on `db` (the connection or its cursor): its own transaction,
        unless it is deferred or deferred writes are open; under the lock."""
        if not self.uncommitted and self._deferring is None:
            return db.execute(sql, values)  # autocommit: the statement is its transaction
        with self._transaction():
            return db.execute(sql, values)

    def _roll_back(self) -> None:
        db = self._db
        if db.in_transaction:
            db.execute("ROLLBACK")
        if self.uncommitted:
            self._lost = True  # answers waiting on the deferred writes must not go out
        self.uncommitted = False

    # -- group commit -----------------------------------------------------------------

    def defer_commits(self) -> None:
        """This thread's writes wait in one open transaction until `commit_deferred`."""
        self._deferring = threading.get_ident()

    def stop_deferring(self) -> None:
        self._deferring = None

    def commit_deferred(self) -> bool:
        """Commit what deferred writes left open: False if some of it is lost (a write
        or this commit failed), when the answers that depend on it must not be sent."""
        with self._lock:
            try:
                if self._db.in_transaction:
                    self._db.execute("COMMIT")
                self.uncommitted = False
            except sqlite3.Error:
                self._roll_back()
            lost, self._lost = self._lost, False
            return not lost

    def polled(self, snapshot: TaskSnapshot) -> None:
        progression = snapshot.progression
        if progression["kind"] == "polls":
            last = int(progression["terminal_on"]) + snapshot.hidden_polls
            if not snapshot.status.terminal or snapshot.polls <= last:
                self.task_changed(snapshot.task_id)
        elif snapshot.hidden_polls and snapshot.polls <= snapshot.hidden_polls + 1:
            self.task_changed(snapshot.task_id)

    def _credit_changed(self, task_id: str | None, team: TeamBalance) -> None:
        """A team's credit changed (called by the accounts, under their lock): the admin
        API set it (`task_id` None), or a task's hold was spent, when the credit and the
        task's cleared hold go in one transaction, so a restart never charges it twice."""
        with self._lock:
            if task_id is None:
                self._write(_UPSERT_TEAM, team_row(team, pinned=True), self._db)
                return
            rowid = self._rowids.get(task_id) or self._find(task_id)
            with self._transaction() as db:
                db.execute(_UPSERT_TEAM, team_row(team, pinned=False))
                if rowid is not None:
                    db.execute(_CLEAR_HOLD, (rowid,))

    # -- files, balances, rules, the clock --------------------------------------------

    def upload_stored(self, upload: Upload) -> None:
        parts = self._parts
        assert parts is not None
        with self._lock:
            self._files.mkdir(mode=0o700, exist_ok=True)
            target = self._files / upload.file_id
            partial = target.with_name(target.name + ".part")
            partial.write_bytes(upload.data)
            os.replace(partial, target)
            digest = hashlib.sha256(upload.data).hexdigest()
            with self._transaction() as db:
                db.execute(
                    "INSERT OR REPLACE INTO uploads (file_id, team, filename, format, size, "
                    "created, expires, token, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    upload_row(upload, digest),
                )
                position = parts.ids.position()
                if position is not None:
                    db.execute(_SET_META, ("ids", json.dumps(position)))

    def upload_deleted(self, file_id: str) -> None:
        with self._lock:
            self._write("DELETE FROM uploads WHERE file_id = ?", (file_id,), self._db)
            (self._files / file_id).unlink(missing_ok=True)

    def rules_changed(self, faults: FaultEngine) -> None:
        text = rules_text(faults.rules(), faults.next_id)
        with self._lock:
            self._write(_SET_META, ("faults", text), self._db)

    def _clock_moved(self, clock: Clock) -> None:
        text = json.dumps({"kind": clock.kind, **clock.saved()})
        with self._lock:
            self._write(_SET_META, ("clock", text), self._db)

    # -- built results ----------------------------------------------------------------

    def result_built(self, task_id: str, data: bytes) -> None:
        with self._lock:
            self._files.mkdir(mode=0o700, exist_ok=True)
            target = self._files / f"result-{task_id}"
            partial = target.with_name(target.name + ".part")
            partial.write_bytes(data)
            os.replace(partial, target)
            digest = hashlib.sha256(data).hexdigest()
            self._write(
                "INSERT OR REPLACE INTO results (task_id, path, digest) VALUES (?, ?, ?)",
                (task_id, target.name, digest),
                self._db,
            )

    def saved_results(self, alive: Callable[[str], bool]) -> list[tuple[str, bytes]]:
        with self._lock:
            rows = self._db.execute("SELECT task_id, path, digest FROM results").fetchall()
        kept: list[tuple[str, bytes]] = []
        gone: list[str] = []
        for task_id, name, digest in rows:
            try:
                data = (self._files / name).read_bytes() if alive(task_id) else b""
            except OSError:
                data = b""
            if data and hashlib.sha256(data).hexdigest() == digest:
                kept.append((task_id, data))
            else:
                gone.append(task_id)
                (self._files / name).unlink(missing_ok=True)
        with self._lock, self._transaction() as db:
            db.executemany("DELETE FROM results WHERE task_id = ?", [(t,) for t in gone])
        return kept

    # -- the whole file ---------------------------------------------------------------

    def wipe(self) -> None:
        with self._lock:
            with self._transaction() as db:
                for table in ("meta", "tasks", "teams", "uploads", "results"):
                    db.execute(f"DELETE FROM {table}")
            shutil.rmtree(self._files, ignore_errors=True)
            self._writes = 0
            self._rowids = {}

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def describe(self) -> dict[str, Any]:
        return {"path": str(self.path), "files": str(self._files), "restored": self.restored}
