"""The admin API's JSON read back into the objects the in-process mock hands out.

`RemoteMock` answers with the same types as `LipSyncMock` (the `MockApi` protocol), so a
test reads `task.status` whichever mode it runs in. These functions are the one place that
reverses the admin API's renderings (`http.admin_routes.task_record` and
`account_record`); a round-trip test keeps the two directions in step.

What cannot cross the admin API stays as the server shows it: a task's `api_key` is the
redacted form (a key never leaves the server in clear) and an account's amounts are read
back to the provider's four decimal places.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vidu_lipsync_mock.faults import Fault
from vidu_lipsync_mock.service.accounts import KeyRef, TeamBalance, money
from vidu_lipsync_mock.service.tasks import TaskSnapshot, TaskStatus

__all__ = ["account_from_record", "task_from_record"]


def task_from_record(record: Mapping[str, Any]) -> TaskSnapshot:
    """A `TaskSnapshot` from a task record of the admin API (`GET /_mock/tasks/{id}`)."""
    result_fault = record.get("result_fault")
    fault = None
    if isinstance(result_fault, Mapping):
        options = dict(result_fault)
        fault = Fault(str(options.pop("kind")), options)
    return TaskSnapshot(
        task_id=record["task_id"],
        model_id=record["model_id"],
        status=TaskStatus(record["status"]),
        submitted_at=record["submitted_at"],
        started_at=record["started_at"],
        finished_at=record["finished_at"],
        expires_at=record["expires_at"],
        error_message=record["error_message"],
        polls=record["polls"],
        api_key=record["api_key"],
        params=dict(record["params"]),
        progression=dict(record["progression"]),
        scheduled_end=record.get("scheduled_end"),
        hidden_polls=record.get("hidden_polls", 0),
        result_fault=fault,
    )


def account_from_record(record: Mapping[str, Any]) -> TeamBalance:
    """A `TeamBalance` from a team of the admin API (`GET /_mock/accounts/{ref}`)."""
    return TeamBalance(
        team=record["team"],
        name=record["name"],
        keys=tuple(KeyRef(key["fingerprint"], key["redacted"]) for key in record["keys"]),
        balance=money(record["balance"]),
        held=money(record["held"]),
        spent=money(record["spent"]),
        holds=record["holds"],
    )
