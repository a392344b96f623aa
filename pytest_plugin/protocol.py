"""`MockApi`: the one test API of the mock, in-process (`LipSyncMock`) or over the admin
API (`RemoteMock`).

A test written against this protocol runs unchanged against a mock in the test's process
and against a server started elsewhere (a CI service, another language's suite): the same
names, arguments and answer types. Two things differ by nature and stay outside it:
`add_fault` and `use_profile` answer with live `Rule` objects in-process and with the
rules' descriptions remotely (read rules back with `fault_rules()`, the same dicts in both
modes), and a remote task's `api_key` is the redacted form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from vidu_lipsync_mock.journal.journal import Entry
from vidu_lipsync_mock.service.accounts import TeamBalance
from vidu_lipsync_mock.service.clock import Clock
from vidu_lipsync_mock.service.tasks import TaskSnapshot, TaskStatus
from vidu_lipsync_mock.timetravel import FastForward

__all__ = ["JournalView", "MockApi"]


class JournalView(Protocol):
    """What a test reads of the journal: `mock.journal` in either mode."""

    def entries(
        self,
        *,
        route: str | None = None,
        method: str | None = None,
        status: int | None = None,
        task_id: str | None = None,
        api_key: str | None = None,
        faulted: bool | None = None,
        since_seq: int = 0,
        limit: int | None = None,
    ) -> list[Entry]: ...

    def count(self, **filters: Any) -> int: ...

    @property
    def last(self) -> Entry | None: ...

    def clear(self) -> None: ...

    def to_jsonl(self, **filters: Any) -> str: ...

    def __len__(self) -> int: ...


class MockApi(Protocol):
    """The verbs a test uses on a mock, whichever mode it runs in."""

    @property
    def api_key(self) -> str: ...

    @property
    def auth_headers(self) -> dict[str, str]: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def journal(self) -> JournalView: ...

    def reset(self) -> None: ...

    # -- time
    def now(self) -> float: ...

    def advance(self, seconds: float, /) -> float: ...

    def set_time(self, timestamp: float, /) -> float: ...

    def run_until_terminal(self, task_id: str | None = None) -> float: ...

    def fast_forward(self) -> FastForward: ...

    # -- tasks
    def tasks(self, status: TaskStatus | str | None = None) -> list[TaskSnapshot]: ...

    def task(self, task_id: str, /) -> TaskSnapshot: ...

    def force(
        self, task_id: str, status: TaskStatus | str, error_message: str | None = None
    ) -> TaskSnapshot: ...

    # -- faults
    def add_fault(self, fault: str | Mapping[str, Any], **options: Any) -> object: ...

    def fault_rules(self) -> list[dict[str, Any]]: ...

    def remove_fault(self, rule_id: str, /) -> bool: ...

    def clear_faults(self) -> None: ...

    def use_profile(self, name: str, seed: int | None = None) -> Sequence[object]: ...

    def fault_trace(self) -> list[dict[str, Any]]: ...

    # -- accounts
    def account(self, key_or_ref: str, /) -> TeamBalance: ...

    def balance(self, key_or_ref: str, /) -> float: ...

    def set_balance(self, key_or_ref: str, amount: Any, /) -> TeamBalance: ...


if TYPE_CHECKING:  # mypy checks here that both modes satisfy the protocol
    from vidu_lipsync_mock import LipSyncMock

    from .remote import RemoteMock

    def _both_modes(local: LipSyncMock, remote: RemoteMock) -> list[MockApi]:
        return [local, remote]
