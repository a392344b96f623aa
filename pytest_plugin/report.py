"""The `lipsync` section of a failed test's report: enough to replay the failure.

It names the seed and the flag that replays it, the fault rules with how often each
matched and fired, the faults in the order they fired, and the tail of the journal, each
retry marked with the attempt it repeats (the journal's own grouping, which the
retry-policy auditor judges too). Each exchange shows the mock's clock relative to the
test's start (`t=+12.000s`: what the client waited, in the test's own terms) and, when a
fault fired on it, the rule that fired (or `X-Mock-Fault`) and its phase.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from vidu_lipsync_mock import MockState
from vidu_lipsync_mock.config import shown_rule
from vidu_lipsync_mock.journal.attempts import operations
from vidu_lipsync_mock.journal.fired import fired_faults
from vidu_lipsync_mock.journal.journal import Entry

from .hints import clock_hint

__all__ = [
    "TEST_START_KEY",
    "describe_mock",
    "format_entry",
    "retried_attempts",
]

JOURNAL_TAIL = 20
TRACE_TAIL = 20

#: The mock's clock when each of a test's mocks was set up, by `id(mock)`.
TEST_START_KEY = pytest.StashKey[dict[int, float]]()


def _fired(labels: str, decisions: Sequence[Mapping[str, Any]]) -> str:
    """`error:503 (rule-1, phase before)`: each fault, the rule that fired it (or the
    request's `X-Mock-Fault` header) and the phase it acted in."""
    return "; ".join(
        f"{label} ({decision.get('rule') or 'X-Mock-Fault'}, phase {decision.get('phase')})"
        for label, decision in zip(labels.split(","), decisions, strict=False)
    )


def format_entry(
    entry: Entry,
    retry_of: tuple[int, int] | None = None,
    *,
    start: float | None = None,
    fired: Sequence[Mapping[str, Any]] = (),
) -> str:
    """One line of the journal; `retry_of` is (attempt number, seq of the first attempt)
    when the entry repeats a request that failed; `start` the mock's clock at the test's
    start (times are shown from it); `fired` the fault decisions taken for it."""
    status = str(entry.status) if entry.status else "---"
    extra = []
    if entry.fault:
        extra.append(f"fault={_fired(entry.fault, fired) if fired else entry.fault}")
    if entry.outcome != "response":
        extra.append(f"outcome={entry.outcome}")
    if entry.task_id:
        extra.append(entry.task_id)
    if retry_of is not None:
        extra.append(f"attempt {retry_of[0]} of #{retry_of[1]}")
    tail = f"  [{' '.join(extra)}]" if extra else ""
    when = (
        f"t=+{entry.clock_time - start:.3f}s" if start is not None else f"t={entry.clock_time:.3f}"
    )
    return f"#{entry.seq:<4} {when} {entry.method:<6} {entry.path} -> {status}{tail}"


def describe_mock(mock: MockState, config: pytest.Config, *, start: float | None = None) -> str:
    seed = mock.config.seed
    run_seed = getattr(config, "_lipsync_seed", None)
    lines = [
        f"seed: {seed} (this test); run seed {run_seed}: replay with --lipsync-seed {run_seed}",
    ]
    if mock.config.profile:
        lines.append(f"profile: {mock.config.profile}")
    lines.extend(clock_hint(mock))  # tasks waiting on a manual clock that never moved
    rules = [shown_rule(rule) for rule in mock.fault_rules()]  # a rule's key redacted
    if rules:
        lines.append("fault rules:")
        for rule in rules:
            lines.append(
                f"  {rule['id']}: {json.dumps(rule['fault'])} on {json.dumps(rule['match'])} "
                f"{json.dumps(rule['schedule'])} (matched {rule['seen']}, fired {rule['hits']})"
            )
    trace = mock.fault_trace()
    if trace:
        lines.append(f"faults fired ({len(trace)}, last {min(len(trace), TRACE_TAIL)}):")
        for fired in trace[-TRACE_TAIL:]:
            lines.append(f"  {json.dumps(fired, sort_keys=True)}")
    everything = mock.journal.entries()
    entries = everything[-JOURNAL_TAIL:]
    if start is not None:
        lines.append(f"times: t=+seconds on the mock's clock since the test's start ({start:.3f})")
    lines.append(f"journal ({len(mock.journal)} requests, last {len(entries)}):")
    retries = retried_attempts(everything)
    decisions = fired_faults(entries, trace)
    for entry in entries:
        shown = format_entry(
            entry, retries.get(entry.seq), start=start, fired=decisions.get(entry.seq, ())
        )
        lines.append(f"  {shown}")
    return "\n".join(lines)


def retried_attempts(entries: list[Entry]) -> dict[int, tuple[int, int]]:
    """For each entry that retries a failed request: its attempt number and the seq of
    the operation's first attempt."""
    found: dict[int, tuple[int, int]] = {}
    for operation in operations(entries):
        first = operation.attempts[0].seq
        numbers = {entry.seq: n for n, entry in enumerate(operation.attempts, 1)}
        for entry in operation.retries():
            found[entry.seq] = (numbers[entry.seq], first)
    return found
