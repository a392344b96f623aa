"""A task, a file, a team and the fault rules as rows of the state file, and back.

Kept apart from the writer so that one module knows the columns: the writer turns live
objects into rows here, and the restore turns rows back into objects here. Everything
is plain JSON or numbers in the file; a policy is stored as its description
(`Progression.describe()`), which the built-in policies read back exactly.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from typing import Any

from vidu_lipsync_mock.faults import Fault, Rule
from vidu_lipsync_mock.service.accounts import TeamBalance
from vidu_lipsync_mock.service.tasks import (
    SUCCESS,
    Outcome,
    Progression,
    Task,
    TaskSnapshot,
    TaskStatus,
    progression_from_name,
)
from vidu_lipsync_mock.service.uploads import FORMATS, Upload

__all__ = [
    "INSERT_SUBMITTED",
    "TASK_COLUMNS",
    "PolicyCodec",
    "params_text",
    "rules_from_text",
    "rules_text",
    "submitted_row",
    "task_from_row",
    "task_row",
    "team_row",
    "upload_from_row",
    "upload_row",
]

TASK_COLUMNS = (
    "id, model, api_key, submitted, policy, retention, outcome, message, anchor, status, "
    "started, finished, polls, since_anchor, hidden, params, result_fault, hold_team, hold, "
    "keep_until"
)

_STATUSES = {status.value: status for status in TaskStatus}


class PolicyCodec:
    """Policies to and from their stored text, each distinct one worked out once (most
    tasks share the mock's default policy)."""

    LIMIT = 1024

    def __init__(self) -> None:
        self._texts: dict[Progression, str] = {}
        self._policies: dict[str, Progression] = {}

    def text(self, policy: Progression) -> str:
        try:
            known = self._texts.get(policy)
        except TypeError:  # a policy of the user's that cannot be hashed
            return json.dumps(policy.describe())
        if known is None:
            known = json.dumps(policy.describe())
            if len(self._texts) < self.LIMIT:
                self._texts[policy] = known
        return known

    def policy(self, text: str) -> Progression:
        known = self._policies.get(text)
        if known is None:
            options = dict(json.loads(text))
            kind = options.pop("kind")
            try:
                known = progression_from_name(kind, **options)
            except (TypeError, ValueError):  # a policy class of the user's: no way back
                known = progression_from_name("manual")
            if len(self._policies) < self.LIMIT:
                self._policies[text] = known
        return known


def params_text(params: Mapping[str, Any]) -> str:
    """A task's parameters as JSON text, as `json.dumps` writes them. Nearly every body
    holds strings only (two URLs), which are written here directly: `json.dumps` would
    build an encoder on each call, three times the cost of the encoding itself."""
    fields = []
    for name, value in params.items():
        if type(value) is not str or type(name) is not str:
            return json.dumps(dict(params))
        fields.append(f"{encode_basestring_ascii(name)}: {encode_basestring_ascii(value)}")
    return "{" + ", ".join(fields) + "}"


def _keep_until(
    policy: Progression, anchor: float, submitted: float, finished: float | None, retention: float
) -> float:
    """The latest the task can still be kept: the file drops the row after it."""
    if finished is None:
        end = policy.ends_at(anchor)
        finished = end if end is not None and math.isfinite(end) else None
    return (submitted if finished is None else finished) + retention


def task_row(task: Task, codec: PolicyCodec, hold: tuple[str, Decimal] | None) -> tuple[Any, ...]:
    """The task's row, in `TASK_COLUMNS` order."""
    outcome = task.outcome
    fault = task.result_fault
    return (
        task.task_id, task.model_id, task.api_key, task.submitted_at,
        codec.text(task.progression), task.retention_seconds, outcome.status.value,
        outcome.error_message, task.anchor, task.status.value, task.started_at,
        task.finished_at, task.polls, task.polls_since_anchor, task.hidden_polls,
        params_text(task.params),
        None if fault is None else json.dumps(fault.describe()),
        None if hold is None else hold[0], None if hold is None else str(hold[1]),
        _keep_until(task.progression, task.anchor, task.submitted_at, task.finished_at,
                    task.retention_seconds),
    )  # fmt: skip


def task_from_row(row: Sequence[Any], codec: PolicyCodec) -> Task:
    """The `Task` a row stands for (columns in `TASK_COLUMNS` order)."""
    fault_text = row[16]
    fault = None
    if fault_text is not None:
        described = dict(json.loads(fault_text))
        fault = Fault(described.pop("kind"), described)
    message = row[7]
    outcome = SUCCESS if message is None and row[6] == "success" else None
    return Task(
        row[0], row[1], row[2], json.loads(row[15]), row[3], codec.policy(row[4]), row[5],
        outcome or Outcome(_STATUSES[row[6]], message), row[8], _STATUSES[row[9]], row[10],
        row[11], row[12], row[13], row[14], fault,
    )  # fmt: skip


def team_row(team: TeamBalance, *, pinned: bool) -> tuple[Any, ...]:
    """(team, name, credit, spent, members, pinned): credit is balance plus holds."""
    members = {key.fingerprint: key.redacted for key in team.keys}
    credit = team.balance + team.held
    return (team.team, team.name, str(credit), str(team.spent), json.dumps(members), int(pinned))


def upload_row(upload: Upload, digest: str) -> tuple[Any, ...]:
    return (
        upload.file_id, upload.team, upload.filename, upload.media.format, upload.size,
        upload.created_at, upload.expires_at, upload.link_token, digest,
    )  # fmt: skip


def upload_from_row(row: Sequence[Any], data: bytes) -> Upload:
    return Upload(
        file_id=row[0],
        team=row[1],
        filename=row[2],
        media=FORMATS[row[3]],
        size=row[4],
        created_at=row[5],
        expires_at=row[6],
        link_token=row[7],
        data=data,
    )


def rules_text(rules: Sequence[Mapping[str, Any]], next_id: int) -> str:
    """The fault rules as described (counters included) and the engine's next rule number."""
    return json.dumps({"rules": list(rules), "next_id": next_id})


def rules_from_text(text: str) -> tuple[list[Rule], int]:
    saved = json.loads(text)
    rules = []
    for described in saved["rules"]:
        rule = Rule.from_dict(described, described["id"])
        rule.seen, rule.hits = int(described.get("seen", 0)), int(described.get("hits", 0))
        rules.append(rule)
    return rules, int(saved["next_id"])


#: A task just submitted: what a submit cannot vary is written by the statement itself
#: (anchored at its submit, pending, not started, never polled), so a submit binds 15
#: values, `submitted_row`'s, where `task_row` binds 20.
INSERT_SUBMITTED = (
    f"INSERT INTO tasks (rowid, {TASK_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
    "?5, 'pending', NULL, NULL, 0, 0, ?10, ?11, ?12, ?13, ?14, ?15)"
)


def submitted_row(
    rowid: int,
    snapshot: TaskSnapshot,
    policy: Progression,
    retention: float,
    outcome: Outcome,
    codec: PolicyCodec,
    hold: tuple[str, Decimal] | None,
) -> tuple[Any, ...]:
    """A task just submitted, for `INSERT_SUBMITTED` at `rowid`: the row `task_row`
    would write, without building a `Task`."""
    submitted = snapshot.submitted_at
    fault = snapshot.result_fault
    end = snapshot.scheduled_end
    return (
        rowid, snapshot.task_id, snapshot.model_id, snapshot.api_key, submitted,
        codec.text(policy), retention, outcome.status._value_, outcome.error_message,
        snapshot.hidden_polls, params_text(snapshot.params),
        None if fault is None else json.dumps(fault.describe()),
        None if hold is None else hold[0], None if hold is None else str(hold[1]),
        (submitted if end is None else end) + retention,
    )  # fmt: skip
