"""Faults: what can go wrong on purpose, which requests it hits, and when. Decided here
(pure Python, seeded), carried out by the HTTP edge and the task store.

`kinds` declares every fault kind (parameters with ranges, effects, docs line); `params`
checks option values; `effects` holds what a fired fault does to a task, a result file or
a body; `rules` says which requests a fault hits and when; `engine` decides per request;
`header` reads `X-Mock-Fault`; `profiles` bundles rules by name.
"""

from vidu_lipsync_mock.faults.effects import (
    DEFAULT_MESSAGES,
    NO_EFFECTS,
    ResultDelivery,
    TaskEffects,
    deliver_result,
)
from vidu_lipsync_mock.faults.engine import Decision, FaultEngine
from vidu_lipsync_mock.faults.header import parse_fault_header
from vidu_lipsync_mock.faults.kinds import FAULT_KINDS, Fault, FaultKind
from vidu_lipsync_mock.faults.params import MAX_DELAY_SECONDS, FaultError, Param
from vidu_lipsync_mock.faults.rules import ROUTES, Match, RequestInfo, Rule, Schedule

__all__ = [
    "DEFAULT_MESSAGES",
    "FAULT_KINDS",
    "MAX_DELAY_SECONDS",
    "NO_EFFECTS",
    "ROUTES",
    "Decision",
    "Fault",
    "FaultEngine",
    "FaultError",
    "FaultKind",
    "Match",
    "Param",
    "RequestInfo",
    "ResultDelivery",
    "Rule",
    "Schedule",
    "TaskEffects",
    "deliver_result",
    "parse_fault_header",
]
