"""Reading a state file back into a freshly built state, then dropping what has expired.

Every read comes first and every change to the parts after it succeeded: a file that
turns out damaged half-way is refused without the state having taken half of it, and
nothing is deleted from a file that could not be read. Order matters: the clock is put
back first (expiry is judged by it), then rules, teams, tasks, the holds of tasks still
kept, and files.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from vidu_lipsync_mock.faults import Rule
from vidu_lipsync_mock.persist.durability import Parts
from vidu_lipsync_mock.persist.rows import (
    TASK_COLUMNS,
    PolicyCodec,
    rules_from_text,
    task_from_row,
    upload_from_row,
)
from vidu_lipsync_mock.service.tasks import Task
from vidu_lipsync_mock.service.uploads import Upload

__all__ = ["Saved", "apply", "prune", "read", "read_clock"]


@dataclass
class Saved:
    """What a state file holds, read and decoded, before any of it is applied."""

    ids: list[int] | None = None
    rules: tuple[list[Rule], int] | None = None
    teams: list[tuple[str, str | None, Decimal, Decimal, dict[str, str | None], bool]] = field(
        default_factory=list
    )
    tasks: list[Task] = field(default_factory=list)
    holds: list[tuple[str, str, Decimal]] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
    #: Each restored task's rowid (the latest, should an id have two rows).
    rowids: dict[str, int] = field(default_factory=dict)
    #: The first row id kept when the newest `max_tasks` rows were taken (older go).
    oldest_rowid: int | None = None


def read_clock(db: sqlite3.Connection) -> dict[str, Any] | None:
    """The clock's saved state (its kind, offset and anchors), if it was ever moved."""
    row = db.execute("SELECT value FROM meta WHERE key = 'clock'").fetchone()
    return None if row is None else dict(json.loads(row[0]))


def read(
    db: sqlite3.Connection, parts: Parts, files: Path, codec: PolicyCodec, now: float
) -> Saved:
    """Decode everything still current at `now` (the restored clock's reading); raises
    `sqlite3.DatabaseError`, `ValueError`, `KeyError`, `TypeError` or `ArithmeticError`
    (a bad amount) for a file that is not what its header promised."""
    saved = Saved()
    meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    if "ids" in meta:
        saved.ids = [int(count) for count in json.loads(meta["ids"])]
    if "faults" in meta:
        saved.rules = rules_from_text(meta["faults"])
    saved.teams = [
        (team, name, Decimal(credit), Decimal(spent), dict(json.loads(members)), bool(pinned))
        for team, name, credit, spent, members, pinned in db.execute(
            "SELECT team, name, credit, spent, members, pinned FROM teams ORDER BY rowid"
        )
    ]
    limit = parts.store.max_tasks
    rows = db.execute(
        f"SELECT rowid, {TASK_COLUMNS} FROM tasks WHERE keep_until > ? ORDER BY rowid DESC LIMIT ?",
        (now, limit),
    ).fetchall()
    rows.reverse()
    if len(rows) == limit:
        saved.oldest_rowid = rows[0][0]
    saved.tasks = [task_from_row(row[1:], codec) for row in rows]
    saved.rowids = {row[1]: row[0] for row in rows}
    saved.holds = [(row[1], row[18], Decimal(row[19])) for row in rows if row[19] is not None]
    for row in db.execute(
        "SELECT file_id, team, filename, format, size, created, expires, token, digest "
        "FROM uploads WHERE expires > ? ORDER BY rowid",
        (now,),
    ).fetchall():
        try:
            data = (files / row[0]).read_bytes()
        except OSError:
            continue  # its file went missing: the row goes with the expired ones
        if hashlib.sha256(data).hexdigest() == row[8]:
            saved.uploads.append(upload_from_row(row, data))
    return saved


def apply(saved: Saved, parts: Parts) -> None:
    """Put what was read into the parts; what was changed at run time wins over the
    config the parts were built from (fault rules, balances)."""
    if saved.ids is not None:
        parts.ids.skip(saved.ids)
    if saved.rules is not None:
        parts.faults.restore(*saved.rules)
    for team in saved.teams:
        parts.accounts.restore_team(*team)
    parts.store.restore(saved.tasks)
    store = parts.store
    parts.accounts.restore_holds(hold for hold in saved.holds if hold[0] in store)
    for upload in saved.uploads:
        parts.uploads.restore(upload)


def prune(db: sqlite3.Connection, saved: Saved, files: Path, now: float) -> None:
    """Delete rows and files that were not restored: expired, or past `max_tasks`."""
    db.execute("BEGIN")
    db.execute("DELETE FROM tasks WHERE keep_until <= ?", (now,))
    if saved.oldest_rowid is not None:
        db.execute("DELETE FROM tasks WHERE rowid < ?", (saved.oldest_rowid,))
    kept = {upload.file_id for upload in saved.uploads}
    gone = [row[0] for row in db.execute("SELECT file_id FROM uploads") if row[0] not in kept]
    db.executemany("DELETE FROM uploads WHERE file_id = ?", [(file_id,) for file_id in gone])
    tasks = {task.task_id for task in saved.tasks}
    ended = [row[0] for row in db.execute("SELECT task_id FROM results") if row[0] not in tasks]
    db.executemany("DELETE FROM results WHERE task_id = ?", [(task_id,) for task_id in ended])
    kept |= {f"result-{task_id}" for task_id in tasks}  # built results (`result_built`)
    db.execute("COMMIT")
    if files.is_dir():
        for path in files.iterdir():
            if path.name not in kept:
                path.unlink(missing_ok=True)
