"""Faults: what can go wrong, which requests it hits, and when — decided here, carried
out elsewhere.

A **rule** pairs a **match** (route, method, API key, body fields) with a **schedule**
(always, once, N times, after the first N, every Nth, or with a seeded probability) and a
**fault** (an HTTP error, a transport failure, or a change to the task being submitted).
The engine only *decides*; the edge (`fault_actions`) carries out HTTP and transport
faults and the state applies task faults. Every random draw comes from one generator seeded per
engine, and rules are consulted in order under one lock, so the same seed and the same
sequence of requests give the same faults on every run.
"""

from __future__ import annotations

import math
import random
import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "FAULT_KINDS",
    "NO_EFFECTS",
    "ROUTES",
    "Decision",
    "Fault",
    "FaultEngine",
    "FaultError",
    "Match",
    "RequestInfo",
    "Rule",
    "Schedule",
    "TaskEffects",
    "parse_fault_header",
]

ROUTES = ("submit", "poll", "download", "sample", "any")


class FaultError(ValueError):
    """A rule, schedule or fault that cannot work as written."""


# kind -> (group, allowed options with their types). Groups: "http" answers the request
# with an error; "transport" breaks the connection or the bytes; "task" changes the task
# being submitted (only on the submit route); "result" changes how its file is served.
FAULT_KINDS: Mapping[str, tuple[str, Mapping[str, type]]] = {
    "error": ("http", {"status": int, "message": str, "retry_after": float}),
    "latency": (
        "transport",
        {"seconds": float, "min": float, "max": float, "median": float, "sigma": float},
    ),
    "reset": ("transport", {}),
    "close_after_headers": ("transport", {}),
    "close_mid_body": ("transport", {}),
    "truncated_json": ("transport", {}),
    "malformed_json": ("transport", {}),
    "empty_body": ("transport", {}),
    "slow_body": ("transport", {"seconds": float}),
    "hang": ("transport", {"seconds": float}),
    "task_fail": ("task", {"message": str}),
    "task_stuck": ("task", {"status": str}),
    "task_slow": ("task", {"factor": float}),
    "task_not_found": ("task", {"polls": int}),
    "expire_early": ("task", {"seconds": float}),
    "result_error": ("result", {"status": int}),
    "result_truncated": ("result", {}),
    "result_corrupt": ("result", {}),
    "result_slow": ("result", {"seconds": float}),
}

#: Messages the provider publishes, by status; others are ours, in its style.
DEFAULT_MESSAGES: Mapping[int, str] = {
    400: "Invalid parameters: the request was rejected by fault injection",
    401: "Authentication failed: invalid API key",
    402: "Insufficient balance: account balance is insufficient or in arrears",
    403: "Forbidden: the link has expired",
    404: "Resource not found: the resource does not exist",
    429: "Rate limit exceeded: 100 requests per minute, retry after 60 seconds",
    500: "Internal server error",
    502: "Bad gateway: the upstream model service did not answer",
    503: "Service unavailable: circuit breaker open, try again later",
    504: "Gateway timeout: the upstream model service timed out",
}

#: Faults kept in the trace; older ones are dropped (and counted) so a soak stays flat.
TRACE_LIMIT = 10_000

#: Upper bound on any deliberate wait, so a fault can never pin a server worker for long.
MAX_DELAY_SECONDS = 120.0


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


def _finite_non_negative(value: Any) -> bool:
    return math.isfinite(value) and value >= 0


@dataclass(frozen=True)
class Fault:
    kind: str
    options: Mapping[str, Any] = field(default_factory=dict)
    #: The kind's group (see `FAULT_KINDS`), looked up once: the engine asks per request.
    _group: str = field(init=False, repr=False, compare=False, default="")

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise FaultError(
                f"unknown fault {self.kind!r}; known: {', '.join(sorted(FAULT_KINDS))}"
            )
        allowed = FAULT_KINDS[self.kind][1]
        clean: dict[str, Any] = {}
        for name, value in self.options.items():
            if name not in allowed:
                raise FaultError(f"fault {self.kind} takes no option {name!r}")
            wanted = allowed[name]
            if wanted is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, wanted) or isinstance(value, bool):
                raise FaultError(f"fault {self.kind}: {name} must be {wanted.__name__}")
            if wanted is float and not _finite_non_negative(value):
                raise FaultError(f"fault {self.kind}: {name} must be a finite number >= 0")
            clean[name] = value
        object.__setattr__(self, "options", clean)
        object.__setattr__(self, "_group", FAULT_KINDS[self.kind][0])
        if self.kind == "error":
            status = clean.get("status", 500)
            if not 400 <= status <= 599:
                raise FaultError("an error fault needs a status from 400 to 599")
        if self.kind == "result_error" and not 400 <= clean.get("status", 403) <= 599:
            raise FaultError("a result_error fault needs a status from 400 to 599")
        if self.kind == "task_stuck" and clean.get("status", "processing") not in (
            "pending",
            "processing",
        ):
            raise FaultError("task_stuck status must be 'pending' or 'processing'")
        if self.kind == "task_slow" and clean.get("factor", 10.0) <= 0:
            raise FaultError("task_slow factor must be positive")

    @property
    def group(self) -> str:
        return self._group

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, **dict(self.options)}

    def label(self) -> str:
        """Short text for the journal and reports, e.g. `error:503` or `latency`."""
        if self.kind in ("error", "result_error"):
            return f"{self.kind}:{self.options.get('status', 500 if self.kind == 'error' else 403)}"
        return self.kind


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
        if self.fault.group in ("task", "result") and self.match.route not in ("submit", "any"):
            raise FaultError(f"{self.fault.kind} changes a submitted task: match route 'submit'")

    def could_match(self, route: str) -> bool:
        """Whether some request on this route could match (its method, key and body
        aside): only a submit has a body to match, and a task to change."""
        wanted = self.match.route
        if wanted != "any" and wanted != route:
            return False
        return route == "submit" or not (self.match.body or self.fault.group in ("task", "result"))

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
        phase = str(data.pop("phase", "before"))
        data.pop("id", None)
        data.pop("seen", None)
        data.pop("hits", None)
        for key in ("route", "method", "api_key", "body"):
            if key in data:
                match_spec[key] = data.pop(key)
        if schedule_spec is None:
            schedule_spec = {"kind": "always"}
            given = [
                kind for kind in ("once", "times", "after", "every", "probability") if kind in data
            ]
            if len(given) > 1:
                raise FaultError(f"a rule takes one schedule, got {', '.join(given)}")
            if given:
                kind = given[0]
                value = data.pop(kind)
                if kind == "once":
                    if value is not True:
                        raise FaultError("write once = true (or leave it out for 'always')")
                    schedule_spec = {"kind": "once"}
                elif kind == "probability":
                    schedule_spec = {"kind": kind, "p": value}
                else:
                    schedule_spec = {"kind": kind, "n": value}
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


@dataclass(frozen=True)
class Decision:
    """A fault that fired on one request, with the rule that fired it (None: header)."""

    fault: Fault
    rule_id: str | None
    phase: str = "before"
    delay: float = 0.0

    @property
    def answers(self) -> bool:
        """Whether this fault takes over the response (latency only delays it)."""
        return self.fault.group in ("http", "transport") and self.fault.kind != "latency"

    def describe(self) -> dict[str, Any]:
        return {"rule": self.rule_id, "phase": self.phase, **self.fault.describe()}


@dataclass(frozen=True)
class TaskEffects:
    """How task and result faults change one submitted task."""

    fail_message: str | None = None
    stuck: str | None = None
    slow_factor: float = 1.0
    hidden_polls: int = 0
    retention_seconds: float | None = None
    result_fault: Fault | None = None

    @classmethod
    def from_faults(cls, faults: Iterable[Fault]) -> TaskEffects:
        changes: dict[str, Any] = {}
        for fault in faults:
            o = fault.options
            if fault.kind == "task_fail":
                changes["fail_message"] = o.get(
                    "message", "Task failed: the model could not process the input"
                )
            elif fault.kind == "task_stuck":
                changes["stuck"] = o.get("status", "processing")
            elif fault.kind == "task_slow":
                changes["slow_factor"] = o.get("factor", 10.0)
            elif fault.kind == "task_not_found":
                changes["hidden_polls"] = o.get("polls", 2)
            elif fault.kind == "expire_early":
                changes["retention_seconds"] = o.get("seconds", 60.0)
            elif fault.group == "result":
                changes["result_fault"] = fault
        return cls(**changes)

    @property
    def empty(self) -> bool:
        return self == NO_EFFECTS


#: What a submit that no task fault touched gets.
NO_EFFECTS = TaskEffects()


class FaultEngine:
    """The ordered rules of one mock, their counters, the seeded generator and the trace."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._rng = random.Random(seed)
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        self._next_id = 1
        self._may_fire: dict[str, tuple[Rule, ...]] = {}
        #: Whether any rule looks at request bodies (or API keys), so the edge parses a
        #: submit's JSON (or reads the key) only when a rule needs it.
        self.matches_bodies = False
        self.matches_keys = False
        self.trace: deque[dict[str, Any]] = deque(maxlen=TRACE_LIMIT)
        self.trace_dropped = 0

    def add(self, rule: Rule | Mapping[str, Any]) -> Rule:
        with self._lock:
            if isinstance(rule, Mapping):
                rule_id = str(rule.get("id") or f"rule-{self._next_id}")
                rule = Rule.from_dict(rule, rule_id)
            elif not rule.id:
                rule.id = f"rule-{self._next_id}"
            if any(existing.id == rule.id for existing in self._rules):
                raise FaultError(f"a rule with id {rule.id!r} already exists")
            self._next_id += 1
            self._rules.append(rule)
            self._changed()
            return rule

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            self._changed()
            return len(self._rules) != before

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._changed()

    def may_fire(self, route: str) -> bool:
        """Whether any rule could match a request on this route. Without one (and without
        a fault header) there is nothing to decide or count, and the edge skips the
        engine. Known per route until the rules change."""
        known = self._may_fire.get(route)
        if known is None:
            known = self._candidates(route)
        return bool(known)

    def _candidates(self, route: str) -> tuple[Rule, ...]:
        """The rules that could match a request on this route, in order."""
        known = self._may_fire.get(route)
        if known is None:
            with self._lock:
                known = self._candidates_locked(route)
        return known

    def _candidates_locked(self, route: str) -> tuple[Rule, ...]:
        known = self._may_fire.get(route)
        if known is None:
            known = tuple(rule for rule in self._rules if rule.could_match(route))
            self._may_fire[route] = known
        return known

    def _changed(self) -> None:
        """Forget what was worked out from the rules (call with the lock held)."""
        self._may_fire = {}
        self.matches_bodies = any(rule.match.body for rule in self._rules)
        self.matches_keys = any(rule.match.api_key is not None for rule in self._rules)

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.describe() for rule in self._rules]

    def reseed(self, seed: int | None) -> None:
        with self._lock:
            self.seed = seed
            self._rng = random.Random(seed)
            self.trace.clear()
            self.trace_dropped = 0

    def decide(self, request: RequestInfo, *, prior: Sequence[Decision] = ()) -> list[Decision]:
        """Consult the rules in order for one request.

        `prior` are faults already chosen for this request (the `X-Mock-Fault` header):
        they come first, and if one answers the request the rules only count it.
        Every matching rule counts the request (a task or result fault counts only
        submits, the requests it can act on); the first HTTP or transport fault that
        fires answers it, while task and result faults on a submit all apply (a task can be
        both slow and failing). Latency adds up with whatever else fires.
        """
        decisions: list[Decision] = list(prior)
        answered = any(d.answers for d in prior) if prior else False
        with self._lock:
            # Only rules that could match this route: the others would not even count it.
            for rule in self._candidates_locked(request.route):
                group = rule.fault._group
                if not rule.match.matches(request):
                    continue
                if group in ("task", "result") and request.route != "submit":
                    continue  # only a submit creates a task for it to change
                rule.seen += 1
                if group in ("http", "transport") and rule.fault.kind != "latency" and answered:
                    continue
                if not rule.schedule.fires(rule.seen, rule.hits, self._rng):
                    continue
                rule.hits += 1
                delay = self.delay_for(rule.fault) if rule.fault.kind == "latency" else 0.0
                decisions.append(Decision(rule.fault, rule.id, rule.phase, delay))
                if group in ("http", "transport") and rule.fault.kind != "latency":
                    answered = True
            for decision in decisions:  # (usually none)
                if len(self.trace) == TRACE_LIMIT:
                    self.trace_dropped += 1
                self.trace.append(
                    {"route": request.route, "path": request.path, **decision.describe()}
                )
        return decisions

    def delay_for(self, fault: Fault) -> float:
        """Draw a latency fault's delay (fixed, uniform or log-normal), capped."""
        o = fault.options
        low = o.get("min", 0.0)
        high = max(o.get("max", MAX_DELAY_SECONDS), low)
        if "median" in o:
            value = self._rng.lognormvariate(math.log(max(o["median"], 1e-6)), o.get("sigma", 1.0))
        elif "min" in o or "max" in o:
            value = self._rng.uniform(low, high)
        else:
            value = o.get("seconds", 1.0)
        return float(min(max(value, low), high, MAX_DELAY_SECONDS))


def parse_fault_header(value: str) -> Fault:
    """`X-Mock-Fault: error; status=503` — one fault for this request only.

    Options are `name=value` pairs after the kind, separated by `;`; numbers are read as
    numbers. A malformed header is the client's mistake and is answered with a 400.
    """
    parts = [part.strip() for part in value.split(";") if part.strip()]
    if not parts:
        raise FaultError("X-Mock-Fault is empty")
    kind, options = parts[0], {}
    for part in parts[1:]:
        name, sep, raw = part.partition("=")
        if not sep:
            raise FaultError(f"X-Mock-Fault option {part!r} must be name=value")
        name, raw = name.strip(), raw.strip()
        wanted = FAULT_KINDS.get(kind, ("", {}))[1].get(name)
        parsed: Any = raw
        try:
            if wanted is int:
                parsed = int(raw)
            elif wanted is float:
                parsed = float(raw)
        except ValueError:
            raise FaultError(f"X-Mock-Fault option {name} must be a number") from None
        options[name] = parsed
    return Fault(kind, options)
