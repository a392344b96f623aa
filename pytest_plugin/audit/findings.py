"""What the auditor reports: one `Finding` per thing the client did wrong, and how findings
read in an assertion message or a report."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = ["Finding", "Severity", "format_findings"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One thing the client did wrong: `entries` are the journal seqs involved, in order."""

    rule: str
    message: str
    entries: tuple[int, ...]
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"[{self.severity}] {self.rule}: {self.message}"


def format_findings(findings: Iterable[Finding]) -> str:
    """Findings as numbered paragraphs, for assertion messages and reports."""
    lines = [
        f"{n}. [{f.severity}] {f.rule} (requests {', '.join(f'#{s}' for s in f.entries)}): "
        f"{f.message}"
        for n, f in enumerate(findings, 1)
    ]
    return "\n".join(lines) if lines else "no findings"
