"""Ids a client is handed: task ids, file ids, and the secret part of a file's link.

A real service's ids cannot be guessed: knowing one task id must not let a client name
another team's task, and an upload's link works without an API key, so its path is the only
thing guarding the file. The mock draws them from the operating system's generator
(`os.urandom`, `secrets`). A run with a seed wants the opposite, the same ids every time so
a recorded exchange replays byte for byte, and draws them from generators seeded from it
instead.

Every submit needs a task id, and one draw from the system generator costs more than the
rest of the id's making, so task ids are drawn a block at a time (one `os.urandom` call for
256 ids): as unpredictable, since each comes from the system generator all the same. Task
ids come from `random.Random(seed)` exactly as they always have (a seeded run keeps its
ids); file ids and link tokens come from a second generator of their own, so uploading a
file in a seeded run does not shift the task ids that follow.
"""

from __future__ import annotations

import os
import random
import secrets
from collections.abc import Callable, Iterator

__all__ = ["BLOCK", "IdSource"]

#: Task ids drawn at once.
BLOCK = 256


def _system_task_ids() -> list[str]:
    """A block of task ids from the system generator: 12 random bytes (96 bits) each."""
    digits = os.urandom(12 * BLOCK).hex(",", -12)  # 24 digits, a comma, 24 digits...
    return ("task-" + digits.replace(",", ",task-")).split(",")  # C calls, no Python loop


class IdSource:
    """Fresh ids: unguessable, or replayable from `seed`.

    Thread-safe without a lock: an id is one C-level step (`next` on a list's iterator, or
    one `getrandbits`), atomic under the GIL. Two threads that find the block used up at
    once each draw a new one; one of the two is dropped, and no id is handed out twice.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seeded = seed is not None
        self._task_block: Callable[[], list[str]]
        self._file_bits: Callable[[int], int]
        if seed is None:
            self._task_block = _system_task_ids
            self._file_bits = secrets.randbits
        else:
            task_bits = random.Random(seed).getrandbits
            self._task_block = lambda: [f"task-{task_bits(96):024x}" for _ in range(BLOCK)]
            self._file_bits = random.Random(f"files:{seed}").getrandbits
        self._task_ids: Iterator[str] = iter(())

    def task_id(self) -> str:
        """`task-` and 24 lower-case hex digits (96 bits)."""
        try:
            return next(self._task_ids)
        except StopIteration:
            ids = iter(self._task_block())
            self._task_ids = ids
            return next(ids)

    def file_id(self) -> str:
        """`file-` and 24 lower-case hex digits (96 bits): what the CLI accepts
        (`^[A-Za-z0-9._~:+@=-]+$`, no `/`)."""
        return f"file-{self._file_bits(96):024x}"

    def link_token(self) -> str:
        """32 hex digits (128 bits) for a file's link, which needs no key: the token is the
        only thing between a stranger and the file, as in a signed CDN link."""
        return f"{self._file_bits(128):032x}"
