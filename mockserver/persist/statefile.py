"""Opening a state file: refusing anything that is not ours, and making a new one.

A user points `--state` at a path; what lies there may be our file, nothing, or
something else entirely (a typo naming another project's database, a half-copied file, a
file written by a newer release, a path on a read-only disk). Everything but our own file
of a schema this release reads is refused at start with one sentence naming the path and
the problem, and the file is left exactly as it was: the checks read its 100-byte SQLite
header directly, before SQLite opens anything for writing.

Our file is marked in that header: `application_id` says "vidu-lipsync-mock" and
`user_version` the schema's version. Both are written before the file switches to WAL
mode, so they sit in the main file and not in a write-ahead log a `kill -9` left behind.
The connection takes SQLite's exclusive lock for its lifetime (`locking_mode=EXCLUSIVE`):
one process per state file, and a second one is told so instead of silently sharing it.

WAL mode with `synchronous=NORMAL`: a commit is written to the log (handed to the
operating system) before it returns, so a `kill -9` of the process loses no commit; the
log is flushed to the disk before each checkpoint copies it into the file, so a power cut
may lose the last commits but leaves the file consistent. (`synchronous=OFF` would save
about 1 µs per submit and risk a damaged file on a power cut.)
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

__all__ = [
    "APPLICATION_ID",
    "SCHEMA",
    "SCHEMA_VERSION",
    "StateFileError",
    "files_folder",
    "open_state_file",
]

#: "VDLM" as a big-endian integer: our mark in the SQLite header.
APPLICATION_ID = 0x56444C4D
#: The schema this release writes; a file with a larger one is refused, not downgraded.
#: Version 1 had a unique index on the task id; version 2 has none (the writer finds a
#: task's row by its rowid), and a version-1 file is read and written as it is.
SCHEMA_VERSION = 2
_MAGIC = b"SQLite format 3\x00"

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE tasks (
    id TEXT NOT NULL, model TEXT NOT NULL, api_key TEXT NOT NULL,
    submitted REAL NOT NULL, policy TEXT NOT NULL, retention REAL NOT NULL,
    outcome TEXT NOT NULL, message TEXT, anchor REAL NOT NULL, status TEXT NOT NULL,
    started REAL, finished REAL, polls INTEGER NOT NULL, since_anchor INTEGER NOT NULL,
    hidden INTEGER NOT NULL, params TEXT NOT NULL, result_fault TEXT,
    hold_team TEXT, hold TEXT, keep_until REAL NOT NULL
);
CREATE TABLE teams (
    team TEXT PRIMARY KEY, name TEXT, credit TEXT NOT NULL, spent TEXT NOT NULL,
    members TEXT NOT NULL, pinned INTEGER NOT NULL
);
CREATE TABLE uploads (
    file_id TEXT PRIMARY KEY, team TEXT NOT NULL, filename TEXT NOT NULL,
    format TEXT NOT NULL, size INTEGER NOT NULL, created REAL NOT NULL,
    expires REAL NOT NULL, token TEXT NOT NULL, digest TEXT NOT NULL
);
CREATE TABLE results (task_id TEXT PRIMARY KEY, path TEXT NOT NULL, digest TEXT NOT NULL);
"""


class StateFileError(ValueError):
    """A state file that cannot be used; the message names the path and the problem."""


def files_folder(path: Path) -> Path:
    """Where uploaded files live: a folder beside the database, named after it."""
    return path.with_name(path.name + ".files")


def _problem(path: Path, text: str) -> StateFileError:
    return StateFileError(f"state file {path}: {text}")


def _check_header(path: Path) -> bool:
    """Whether `path` holds our file (False: nothing there yet, or an empty file)."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(100)
    except IsADirectoryError:
        raise _problem(path, "is a directory, not a file") from None
    except PermissionError:
        raise _problem(path, "cannot be read (permission denied)") from None
    except OSError as error:
        raise _problem(path, f"cannot be read ({error.strerror})") from None
    if not header:
        return False
    if len(header) < 100 or not header.startswith(_MAGIC):
        raise _problem(path, "is not a SQLite database (damaged, or another kind of file)")
    application_id = int.from_bytes(header[68:72], "big")
    version = int.from_bytes(header[60:64], "big")
    if application_id != APPLICATION_ID:
        raise _problem(path, "is a SQLite database of another program, not a mock state file")
    if version > SCHEMA_VERSION:
        raise _problem(
            path,
            f"was written by a newer release (schema {version}; this one reads up to "
            f"{SCHEMA_VERSION}): upgrade vidu-lipsync-mock or use another file",
        )
    return True


def _check_writable(path: Path, exists: bool) -> None:
    folder = path.parent
    if not folder.is_dir():
        raise _problem(path, f"its folder {folder} does not exist")
    if exists and not os.access(path, os.R_OK | os.W_OK):
        raise _problem(path, "is read-only: the mock must write every change to it")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _problem(
            path, f"its folder {folder} is read-only: SQLite writes its log beside the file"
        )
    files = files_folder(path)
    if files.exists() and not (files.is_dir() and os.access(files, os.W_OK | os.X_OK)):
        raise _problem(path, f"the uploads folder {files} is not a writable folder")


def open_state_file(path: str | os.PathLike[str]) -> tuple[sqlite3.Connection, bool]:
    """The connection to a checked (or new) state file, and whether it existed.

    Raises `StateFileError` for anything but our file of a schema we read; the file is
    then untouched."""
    target = Path(path).expanduser().absolute()
    exists = target.exists() or target.is_symlink()
    ours = _check_header(target) if exists else False
    _check_writable(target, exists)
    try:
        connection = sqlite3.connect(
            target, isolation_level=None, check_same_thread=False, timeout=0.0
        )
    except sqlite3.Error as error:
        raise _problem(target, f"cannot be opened ({error})") from None
    try:
        connection.execute("PRAGMA locking_mode=EXCLUSIVE")
        if ours:
            connection.execute("SELECT count(*) FROM meta").fetchone()  # takes the lock
        else:
            if not exists:
                os.chmod(target, 0o600)  # it holds the clients' API keys
            connection.execute(f"PRAGMA application_id={APPLICATION_ID}")
            connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            connection.executescript(f"BEGIN; {SCHEMA} COMMIT;")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.OperationalError as error:
        connection.close()
        if "locked" in str(error):
            raise _problem(
                target, "is in use by another process (one process per state file)"
            ) from None
        raise _problem(target, f"cannot be used ({error})") from None
    except sqlite3.DatabaseError as error:
        connection.close()
        raise _problem(target, f"is damaged ({error})") from None
    return connection, ours
