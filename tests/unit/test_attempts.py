"""How journal entries group into operations and attempts: the one definition the auditor
and the failure report share."""

from __future__ import annotations

from typing import Any

from vidu_lipsync_mock.journal.attempts import (
    Operation,
    operations,
    polls_by_task,
    request_identity,
    request_name,
    unusable,
)
from vidu_lipsync_mock.journal.journal import Entry
from vidu_lipsync_mock.pytest_plugin.report import format_entry, retried_attempts

SUBMIT = "/api/v1/vidu/lip-sync/async"
TASK = "task-" + "a" * 24
POLL = f"/api/v1/tasks/{TASK}"


def entry(seq: int, status: int = 200, **fields: Any) -> Entry:
    values: dict[str, Any] = {
        "seq": seq,
        "method": "GET",
        "path": POLL,
        "route": "poll",
        "status": status,
        "clock_time": float(seq),
        "wall_time": 0.0,
        "duration_ms": 1.0,
        "api_key": "mdlx-alice…0000",
        "task_id": TASK,
    }
    values.update(fields)
    return Entry(**values)


def submit(seq: int, status: int = 200, body: str = '{"a": 1, "b": 2}', **fields: Any) -> Entry:
    values: dict[str, Any] = {"method": "POST", "path": SUBMIT, "route": "submit"}
    values.update(task_id=None, request_body=body, **fields)
    return entry(seq, status, **values)


def test_the_same_request_ignores_json_spacing_and_key_order() -> None:
    assert request_identity(submit(1)) == request_identity(submit(2, body='{"b":2,"a":1}'))
    assert request_identity(submit(1)) != request_identity(submit(2, body='{"a": 2}'))
    assert request_identity(submit(1)) != request_identity(submit(2, api_key="mdlx-bob…0000"))
    assert request_identity(entry(1)) != request_identity(entry(2, query="x=1"))
    assert request_identity(submit(1, body="not json")) == request_identity(
        submit(2, body="not json")
    )


def test_operations_group_attempts_in_the_order_they_began() -> None:
    found = operations(
        [
            entry(4),
            submit(1, 503),
            entry(3, path="/nowhere", route="other", status=404),
            submit(2, body='{"b":2,"a":1}'),
            entry(5, 500),
        ]
    )
    assert [op.route for op in found] == ["submit", "poll"]
    assert [[e.seq for e in op.attempts] for op in found] == [[1, 2], [4, 5]]
    assert found[0].name == f"POST {SUBMIT}"
    assert isinstance(found[0], Operation)
    assert operations([]) == []


def test_a_retry_follows_a_failed_attempt() -> None:
    (polling,) = operations([entry(1), entry(2), entry(3, 503), entry(4, 0, outcome="reset")])
    assert polling.retries() == [polling.attempts[3]]
    (retried,) = operations([entry(1, 503), entry(2, 503), entry(3)])
    assert [e.seq for e in retried.retries()] == [2, 3]
    only_5xx = retried.retries(lambda e: e.status >= 500)
    assert [e.seq for e in only_5xx] == [2, 3]


def test_failure_runs_end_with_the_attempt_that_followed() -> None:
    (op,) = operations([entry(1, 503), entry(2, 503), entry(3), entry(4, 429), entry(5, 0)])
    assert [[e.seq for e in run] for run in op.failure_runs()] == [[1, 2, 3], [4, 5]]
    only_429 = op.failure_runs(lambda e: e.status == 429)
    assert [[e.seq for e in run] for run in only_429] == [[4, 5]]


def test_unusable_means_no_usable_answer() -> None:
    assert unusable(entry(1, 0, outcome="reset"))
    assert unusable(entry(1, 200, outcome="truncated_json"))
    assert unusable(entry(1, 404))
    assert not unusable(entry(1, 200, outcome="slow_body"))
    assert not unusable(entry(1, 302))
    assert not unusable(entry(1, 200, outcome="truncated_json"), broken_outcomes=())


def test_polls_by_task_and_request_names() -> None:
    polls = polls_by_task([entry(3, task_id="task-b"), entry(1), submit(2), entry(4)])
    assert {task: [e.seq for e in found] for task, found in polls.items()} == {
        TASK: [1, 4],
        "task-b": [3],
    }
    assert request_name(entry(1, query="x=1")) == f"GET {POLL}?x=1"


def test_the_failure_report_marks_retries_with_the_same_grouping() -> None:
    journal = [submit(1), entry(2, 503), entry(3, 503), entry(4), entry(5)]
    retries = retried_attempts(journal)
    assert retries == {3: (2, 2), 4: (3, 2)}
    assert format_entry(journal[3], retries.get(4)).endswith(f"[{TASK} attempt 3 of #2]")
    assert "attempt" not in format_entry(journal[4], retries.get(5))
