"""Ids a client is handed: task ids, file ids, and the secret part of a file's link.

A real service's ids cannot be guessed: knowing one task id must not let a client name
another team's task, and an upload's link works without a key, so its path is the only
thing guarding the file. The mock draws them from the operating system's generator, a
block of task ids per `os.urandom` call (one draw costs more than the rest of an id's
making). A run with a seed wants the same ids every time, so a recorded exchange replays
byte for byte: its task ids come from `random.Random(seed)` one at a time (a state file
keeps how far it went, `position()`), and file ids and link tokens from a second
generator, so an upload does not shift the task ids that follow.
"""

from __future__ import annotations

import os
import random
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence

__all__ = ["BLOCK", "IdSource"]

#: Unseeded task ids drawn at once.
BLOCK = 256


def _system_task_ids() -> list[str]:
    """A block of task ids from the system generator: 12 random bytes (96 bits) each."""
    digits = os.urandom(12 * BLOCK).hex(",", -12)  # 24 digits, a comma, 24 digits...
    return ("task-" + digits.replace(",", ",task-")).split(",")  # C calls, no Python loop


class IdSource:
    """Fresh ids: unguessable, or replayable from `seed`.

    Thread-safe: unseeded, an id is one C-level step, atomic under the GIL (two threads
    that find the block used up each draw one, and one block is dropped); seeded, a lock
    keeps the draws and their count (`position()`) in step.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seeded = seed is not None
        self._task_bits: Callable[[int], int]
        self._file_bits: Callable[[int], int]
        self._task_ids: Iterator[str] = iter(())
        if seed is None:
            self._task_bits = self._file_bits = secrets.randbits
        else:
            self._rngs = (random.Random(seed), random.Random(f"files:{seed}"))
            self._task_bits, self._file_bits = self._counted(0), self._counted(1)
        #: 32-bit words each seeded generator has handed out: where a restart goes on
        #: from (a draw of k bits takes ceil(k / 32) words, whatever k).
        self._words = [0, 0]
        self._words_lock = threading.Lock()

    def _counted(self, which: int) -> Callable[[int], int]:
        rng = self._rngs[which]

        def draw(bits: int) -> int:
            with self._words_lock:
                self._words[which] += (bits + 31) // 32
                return rng.getrandbits(bits)

        return draw

    def position(self) -> list[int] | None:
        """How far a seeded run's generators have gone (None: unseeded, nothing to keep)."""
        if not self.seeded:
            return None
        with self._words_lock:
            return list(self._words)

    def skip(self, position: Sequence[int]) -> None:
        """Go on from a `position()` of an earlier run with the same seed."""
        if not self.seeded:
            return
        with self._words_lock:
            for which, words in enumerate(position[:2]):
                for _ in range(words):
                    self._rngs[which].getrandbits(32)
                self._words[which] += words

    def task_id(self) -> str:
        """`task-` and 24 lower-case hex digits (96 bits)."""
        if self.seeded:
            return f"task-{self._task_bits(96):024x}"
        try:
            return next(self._task_ids)
        except StopIteration:
            ids = iter(_system_task_ids())
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
