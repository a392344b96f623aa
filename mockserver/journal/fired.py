"""Which fault rule fired on which journal entry, and in which phase.

The journal labels a faulted exchange with its faults' kinds (`error:503`), and the fault
engine's trace keeps each decision (rule, phase, route, path) in the order it was taken;
neither holds the other. Pairing them here, once, gives the failure report and the
inspector the same answer to "which rule did this, before or after the service acted".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vidu_lipsync_mock.journal.entry import Entry

__all__ = ["fired_faults"]


def fired_faults(
    entries: Sequence[Entry], trace: Sequence[Mapping[str, Any]]
) -> dict[int, list[Mapping[str, Any]]]:
    """The trace's decisions for each faulted entry, by seq.

    The trace lists decisions in the order they were taken, a request's together, with
    its route and path; the journal labels each faulted entry with its faults' kinds. An
    entry gets the latest unclaimed run of decisions with its route, path and kinds
    (newest entries first), so requests in flight at once are told apart by what they
    asked for."""
    claimed: set[int] = set()
    found: dict[int, list[Mapping[str, Any]]] = {}
    for entry in sorted(entries, key=lambda e: e.seq, reverse=True):
        if not entry.fault:
            continue
        kinds = [label.split(":", 1)[0] for label in entry.fault.split(",")]
        size = len(kinds)
        for end in range(len(trace), size - 1, -1):
            window = range(end - size, end)
            if any(i in claimed for i in window):
                continue
            if all(
                trace[i].get("route") == entry.route
                and trace[i].get("path") == entry.path
                and trace[i].get("kind") == kind
                for i, kind in zip(window, kinds, strict=True)
            ):
                claimed.update(window)
                found[entry.seq] = [trace[i] for i in window]
                break
    return found
