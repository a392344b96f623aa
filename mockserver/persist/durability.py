"""What the state tells a durable copy of itself, and the copy that keeps nothing.

`MockState` calls one narrow interface, `Durability`, after each change a restart must
not lose: a task created or moved on, a file stored or deleted, a balance set, the fault
rules changed; the clock and the accounts tell it themselves when the clock moves and
when a team's credit changes (a hold spent, a balance set). Without
`state_path` the state holds `NO_DURABILITY`, whose methods do nothing, so memory-only
mode pays one call to an empty method where it pays anything at all; with it,
`persist.sqlite_state.SqliteDurability` writes each change in one SQLite transaction
before the method returns, which is before the answer is sent.

The parts a durable copy restores into are handed over as `Parts`: this layer sits below
the state and never imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vidu_lipsync_mock.faults import FaultEngine
from vidu_lipsync_mock.service.accounts import Accounts
from vidu_lipsync_mock.service.clock import Clock
from vidu_lipsync_mock.service.ids import IdSource
from vidu_lipsync_mock.service.store import TaskStore
from vidu_lipsync_mock.service.tasks import Outcome, Progression, TaskSnapshot
from vidu_lipsync_mock.service.uploads import Upload, Uploads

__all__ = ["NO_DURABILITY", "Durability", "Parts"]


@dataclass(frozen=True)
class Parts:
    """The state's parts that hold what a restart must find again."""

    store: TaskStore
    accounts: Accounts
    uploads: Uploads
    faults: FaultEngine
    clock: Clock
    ids: IdSource


class Durability:
    """Memory only: every method does nothing. Subclasses keep a durable copy."""

    #: Whether anything is kept; the state reads it to skip work that only a copy needs.
    enabled = False

    def restore(self, parts: Parts) -> None:
        """Put back what the copy holds (called once the parts are built)."""

    def task_created(
        self,
        snapshot: TaskSnapshot,
        progression: Progression,
        retention_seconds: float,
        outcome: Outcome,
    ) -> None:
        """A submit made this task; the copy holds it before the 200 goes out."""

    def task_changed(self, task_id: str) -> None:
        """A task was forced, given a new progression, or polled where polls move it."""

    def polled(self, snapshot: TaskSnapshot) -> None:
        """A poll was counted; the copy writes only if the count decides the task's
        course (a poll-driven progression, or an eventual-consistency fault)."""

    def upload_stored(self, upload: Upload) -> None:
        """A file was kept for a team."""

    def upload_deleted(self, file_id: str) -> None:
        """A file was deleted."""

    def rules_changed(self, faults: FaultEngine) -> None:
        """The fault rules were added, removed, cleared or replaced by a profile."""

    def result_built(self, task_id: str, data: bytes) -> None:
        """A result built for a task (real lip-sync output): kept, so that a restart
        serves the same file."""

    def saved_results(self, alive: Callable[[str], bool]) -> list[tuple[str, bytes]]:
        """The results kept for tasks that are `alive`, their bytes checked against their
        digests; those of other tasks are forgotten."""
        return []

    #: Whether writes deferred by `defer_commits` are waiting for `commit_deferred`.
    uncommitted = False

    def defer_commits(self) -> None:
        """Let this thread's writes wait for `commit_deferred` (group commit: the server
        answers a batch of requests, then commits once before sending any answer)."""

    def stop_deferring(self) -> None:
        """This thread's writes commit on their own again."""

    def commit_deferred(self) -> bool:
        """Commit the deferred writes; False when some were lost, and the answers that
        depend on them must not be sent."""
        return True

    def wipe(self) -> None:
        """Forget everything kept (the state's `reset()`)."""

    def close(self) -> None:
        """Let go of the file (another process, or another mock, may then open it)."""

    def describe(self) -> dict[str, Any]:
        """Where the copy is and what its start found (the CLI's banner shows it)."""
        return {"path": None}


NO_DURABILITY = Durability()
