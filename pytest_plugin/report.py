"""The `lipsync` section of a failed test's report: enough to replay the failure.

It names the seed and the flag that replays it, the fault rules with how often each
matched and fired, the faults in the order they fired, and the tail of the journal.
"""

from __future__ import annotations

import json

import pytest

from vidu_lipsync_mock import MockState
from vidu_lipsync_mock.journal.journal import Entry

__all__ = ["describe_mock", "format_entry"]

JOURNAL_TAIL = 20
TRACE_TAIL = 20


def format_entry(entry: Entry) -> str:
    status = str(entry.status) if entry.status else "---"
    extra = []
    if entry.fault:
        extra.append(f"fault={entry.fault}")
    if entry.outcome != "response":
        extra.append(f"outcome={entry.outcome}")
    if entry.task_id:
        extra.append(entry.task_id)
    tail = f"  [{' '.join(extra)}]" if extra else ""
    return (
        f"#{entry.seq:<4} t={entry.clock_time:.3f} {entry.method:<6} {entry.path} -> {status}{tail}"
    )


def describe_mock(mock: MockState, config: pytest.Config) -> str:
    seed = mock.config.seed
    run_seed = getattr(config, "_lipsync_seed", None)
    lines = [
        f"seed: {seed} (this test); run seed {run_seed}: replay with --lipsync-seed {run_seed}",
    ]
    if mock.config.profile:
        lines.append(f"profile: {mock.config.profile}")
    rules = mock.fault_rules()
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
    entries = mock.journal.entries(limit=JOURNAL_TAIL)
    lines.append(f"journal ({len(mock.journal)} requests, last {len(entries)}):")
    lines.extend(f"  {format_entry(entry)}" for entry in entries)
    return "\n".join(lines)
