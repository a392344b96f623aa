"""The assertion a test calls: audit a mock's journal and fail on any error-level finding.

The one part of the auditor written for pytest: it takes whatever a test holds (a mock, a
journal, entries) and hides its own frame from the traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from vidu_lipsync_mock.journal.journal import Entry

from .findings import Finding, format_findings
from .policy import RULES, AuditPolicy, frozen_strs
from .rules import audit

__all__ = ["assert_sound_retry_policy"]


class _HasJournal(Protocol):
    @property
    def journal(self) -> Any: ...


def _entries_of(source: _HasJournal | Iterable[Entry]) -> list[Entry]:
    journal = getattr(source, "journal", None)
    if journal is not None:
        return list(journal.entries())
    if isinstance(source, Iterable):
        return list(source)
    raise TypeError(f"expected a mock, a journal or journal entries, not {type(source).__name__}")


def assert_sound_retry_policy(
    source: _HasJournal | Iterable[Entry],
    policy: AuditPolicy | None = None,
    *,
    ignore: Iterable[str] = (),
) -> list[Finding]:
    """Fail (AssertionError) if the journal shows any error-level finding.

    `source` is a `LipSyncMock`/`MockState` (its whole journal), a `Journal`, or entries.
    Returns every finding, warnings included, so a test can look at those too.
    """
    __tracebackhide__ = True
    skipped = frozen_strs(ignore)
    unknown = skipped - RULES.keys()
    if unknown:
        raise ValueError(
            f"unknown audit rule(s) {', '.join(sorted(unknown))}; known: {', '.join(RULES)}"
        )
    findings = [f for f in audit(_entries_of(source), policy) if f.rule not in skipped]
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        raise AssertionError(
            f"the client's retry policy is unsound ({len(errors)} finding(s)):\n"
            + format_findings(errors)
        )
    return findings
