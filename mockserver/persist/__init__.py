"""Durable state: a mock's tasks, files, balances, fault rules and clock in a SQLite file.

The layer sits between the media and the state: `MockState` builds its parts, then hands
them to the `Durability` that `open_durability` gives it (a no-op one without a path).
It imports no HTTP framework: the state calls it, never a request.
"""

from __future__ import annotations

import os

from vidu_lipsync_mock.persist.durability import NO_DURABILITY, Durability, Parts
from vidu_lipsync_mock.persist.statefile import StateFileError

__all__ = [
    "NO_DURABILITY",
    "Durability",
    "Parts",
    "StateFileError",
    "open_durability",
]


def open_durability(path: str | os.PathLike[str] | None) -> Durability:
    """The durable copy kept at `path`, or the no-op one when there is no path. Raises
    `StateFileError` (the file untouched) for a file that cannot be used."""
    if path is None:
        return NO_DURABILITY
    from vidu_lipsync_mock.persist.sqlite_state import SqliteDurability

    return SqliteDurability(path)
