"""Rules: which requests a fault hits (a `Match`) and when (a `Schedule`).

A rule pairs a fault with a match (route, method, API key, body fields), a schedule
(always, once, N times, after the first N, every Nth, or with a seeded probability) and a
phase (before the service handles the request, or after). Rules arrive as Python objects
or as plain data (admin-API JSON, TOML `[[faults]]` tables, `add_fault` keywords), which
`Rule.from_dict` reads in both its nested and its flat shorthand form.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from vidu_lipsync_mock.faults.kinds import Fault
from vidu_lipsync_mock.faults.params import FaultError

__all__ = ["ROUTES", "Match", "RequestInfo", "Rule", "Schedule"]

ROUTES = (
    "submit",
    "poll",
    "download",
    "sample",
    "validate",
    "balance",
    "models",
    "upload",
    "delete_file",
    "uploaded",
    "schema",
    "any",
)


class RequestInfo(NamedTuple):
    """What a rule may look at. Built by the edge from the raw request, for every request
    while any rule is set, so it is a tuple."""

    route: str
    method: str
    path: str
    api_key: str | None = None
    body: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Match:
    route: str = "any"
    method: str | None = None
    api_key: str | None = None
    body: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.route not in ROUTES:
            raise FaultError(f"route must be one of {', '.join(ROUTES)}, not {self.route!r}")

    def matches(self, request: RequestInfo) -> bool:
        if self.route != "any" and self.route != request.route:
            return False
        if self.method is not None and self.method.upper() != request.method.upper():
            return False
        if self.api_key is not None and self.api_key != request.api_key:
            return False
        if self.body:
            if request.body is None:
                return False
            for name, expected in self.body.items():
                if request.body.get(name, _MISSING) != expected:
                    return False
        return True

    def describe(self) -> dict[str, Any]:
        data: dict[str, Any] = {"route": self.route}
        if self.method is not None:
            data["method"] = self.method
        if self.api_key is not None:
            data["api_key"] = self.api_key
        if self.body:
            data["body"] = dict(self.body)
        return data


_MISSING = object()


@dataclass(frozen=True)
class Schedule:
    """When a matching request gets the fault.

    `seen` counts the requests this rule matched (this one included); `hits` counts the
    times it already fired. `after` N lets the first N matching requests through.
    """

    kind: str = "always"
    n: int = 1
    p: float = 1.0

    KINDS = ("always", "once", "times", "after", "every", "probability")

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise FaultError(f"schedule must be one of {', '.join(self.KINDS)}, not {self.kind!r}")
        if self.kind in ("times", "after", "every") and self.n < (0 if self.kind == "after" else 1):
            raise FaultError(f"schedule {self.kind} needs a positive n, not {self.n}")
        if self.kind == "probability" and not 0.0 <= self.p <= 1.0:
            raise FaultError(f"probability must be between 0 and 1, not {self.p}")

    def fires(self, seen: int, hits: int, rng: random.Random) -> bool:
        if self.kind == "always":
            return True
        if self.kind == "once":
            return hits == 0
        if self.kind == "times":
            return hits < self.n
        if self.kind == "after":
            return seen > self.n
        if self.kind == "every":
            return seen % self.n == 0
        return rng.random() < self.p

    def describe(self) -> dict[str, Any]:
        if self.kind in ("times", "after", "every"):
            return {"kind": self.kind, "n": self.n}
        if self.kind == "probability":
            return {"kind": self.kind, "p": self.p}
        return {"kind": self.kind}


@dataclass
class Rule:
    """An ordered entry of the engine. Mutable counters, guarded by the engine's lock."""

    id: str
    fault: Fault
    match: Match = field(default_factory=Match)
    schedule: Schedule = field(default_factory=Schedule)
    phase: str = "before"
    seen: int = 0
    hits: int = 0

    def __post_init__(self) -> None:
        if self.phase not in ("before", "after"):
            raise FaultError(
                "phase must be 'before' (the service never sees the request) "
                "or 'after' (it handles it, then the answer is lost)"
            )
        if self.fault.spec.changes_task and self.match.route not in ("submit", "any"):
            raise FaultError(f"{self.fault.kind} changes a submitted task: match route 'submit'")

    def could_match(self, route: str) -> bool:
        """Whether some request on this route could match (its method, key and body
        aside): only a submit has a body to match, and a task to change."""
        wanted = self.match.route
        if wanted != "any" and wanted != route:
            return False
        return route == "submit" or not (self.match.body or self.fault.spec.changes_task)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "fault": self.fault.describe(),
            "match": self.match.describe(),
            "schedule": self.schedule.describe(),
            "phase": self.phase,
            "seen": self.seen,
            "hits": self.hits,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], rule_id: str) -> Rule:
        """Build a rule from admin-API JSON or a TOML `[[faults]]` table.

        Accepts the nested form of `describe()` and a flat shorthand:
        `{"fault": "error", "status": 503, "route": "poll", "times": 2}`.
        """
        data = dict(data)
        fault_spec = data.pop("fault", None)
        match_spec = dict(data.pop("match", {}) or {})
        schedule_spec = data.pop("schedule", None)
        if schedule_spec is None:
            schedule_spec = _flat_schedule(data)
        phase = str(data.pop("phase", "before"))
        for key in ("id", "seen", "hits"):
            data.pop(key, None)
        for key in ("route", "method", "api_key", "body"):
            if key in data:
                match_spec[key] = data.pop(key)
        if isinstance(fault_spec, str):
            fault = Fault(fault_spec, data)
        elif isinstance(fault_spec, Mapping):
            spec = dict(fault_spec)
            kind = spec.pop("kind", None)
            if not isinstance(kind, str):
                raise FaultError("a fault needs a 'kind'")
            if data:
                raise FaultError(f"unexpected rule field(s): {', '.join(sorted(data))}")
            fault = Fault(kind, spec)
        else:
            raise FaultError("a rule needs a 'fault' (a kind name or an object with 'kind')")
        try:
            match = Match(**match_spec)
            schedule = Schedule(**dict(schedule_spec))
        except TypeError as error:
            raise FaultError(str(error)) from None
        return cls(id=rule_id, fault=fault, match=match, schedule=schedule, phase=phase)


def _flat_schedule(data: dict[str, Any]) -> dict[str, Any]:
    """The schedule of a flat rule (`times = 2`), taken out of `data`: `always` if none."""
    given = [when for when in Schedule.KINDS[1:] if when in data]
    if len(given) > 1:
        raise FaultError(f"a rule takes one schedule, got {', '.join(given)}")
    if not given:
        return {"kind": "always"}
    when = given[0]
    value = data.pop(when)
    if when == "once":
        if value is not True:
            raise FaultError("write once = true (or leave it out for 'always')")
        return {"kind": "once"}
    return {"kind": when, "p" if when == "probability" else "n": value}
