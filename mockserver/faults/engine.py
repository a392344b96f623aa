"""The fault engine: which rule fires on a request, decided here, carried out elsewhere.

The engine only *decides*; the edge (`http.fault_actions`) carries out HTTP and transport
faults and the state applies task faults (`effects.TaskEffects`). Every random draw comes
from one generator seeded per engine, and rules are consulted in order under one lock, so
the same seed and the same sequence of requests give the same faults on every run.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vidu_lipsync_mock.faults.kinds import Fault
from vidu_lipsync_mock.faults.params import FaultError
from vidu_lipsync_mock.faults.rules import RequestInfo, Rule

__all__ = ["TRACE_LIMIT", "Decision", "FaultEngine"]

#: Faults kept in the trace; older ones are dropped so a soak stays flat.
TRACE_LIMIT = 10_000


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
        return self.fault.answers

    def describe(self) -> dict[str, Any]:
        return {"rule": self.rule_id, "phase": self.phase, **self.fault.describe()}


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
            with self._lock:
                known = self._candidates_locked(route)
        return bool(known)

    def _candidates_locked(self, route: str) -> tuple[Rule, ...]:
        """The rules that could match a request on this route, in order."""
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

    @property
    def next_id(self) -> int:
        """The number the next unnamed rule gets (`rule-<n>`)."""
        return self._next_id

    def restore(self, rules: Sequence[Rule], next_id: int) -> None:
        """Replace the rules with those a state file kept, numbering on from `next_id`."""
        with self._lock:
            self._rules = list(rules)
            self._next_id = max(next_id, self._next_id)
            self._changed()

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.describe() for rule in self._rules]

    def reseed(self, seed: int | None) -> None:
        with self._lock:
            self.seed = seed
            self._rng = random.Random(seed)
            self.trace.clear()

    def decide(self, request: RequestInfo, *, prior: Sequence[Decision] = ()) -> list[Decision]:
        """Consult the rules in order for one request.

        `prior` are faults the `X-Mock-Fault` header chose: they come first, and if one
        answers the request the rules only count it. Every matching rule counts the request
        (a task or result fault only submits); the first HTTP or transport fault that fires
        answers it, while task and result faults all apply, and latency adds up.
        """
        decisions: list[Decision] = list(prior)
        answered = any(d.answers for d in prior) if prior else False
        with self._lock:
            # Only rules that could match this route: the others would not even count it.
            for rule in self._candidates_locked(request.route):
                fault = rule.fault
                if not rule.match.matches(request):
                    continue
                if fault.spec.changes_task and request.route != "submit":
                    continue  # only a submit creates a task for it to change
                rule.seen += 1
                if fault.answers and answered:
                    continue
                if not rule.schedule.fires(rule.seen, rule.hits, self._rng):
                    continue
                rule.hits += 1
                decisions.append(Decision(fault, rule.id, rule.phase, self.delay_for(fault)))
                answered = answered or fault.answers
            for decision in decisions:  # (usually none)
                self.trace.append(
                    {"route": request.route, "path": request.path, **decision.describe()}
                )
        return decisions

    def delay_for(self, fault: Fault) -> float:
        """The seconds this fault holds the answer back (drawn, for latency), else 0."""
        draw = fault.spec.delay
        return 0.0 if draw is None else draw(fault, self._rng)
