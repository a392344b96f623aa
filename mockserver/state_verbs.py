"""The test verbs on a mock's clock and its fault rules, beside the state that owns them.

They read and move nothing but the clock, the fault engine and the state file's record of
the rules, so they live apart from `state`, whose own methods are the service's paths
(submit, poll, accounts, uploads); `MockState` takes them in as a base class, and the admin
API and the pytest fixtures reach them as `MockState` methods all the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from vidu_lipsync_mock.config import MockConfig
from vidu_lipsync_mock.faults import FaultEngine, Rule
from vidu_lipsync_mock.faults.profiles import profile_rules
from vidu_lipsync_mock.persist import Durability
from vidu_lipsync_mock.service.clock import Clock
from vidu_lipsync_mock.service.tasks import TaskSnapshot, TaskStatus, TransitionError

__all__ = ["ClockAndFaultVerbs"]


class ClockAndFaultVerbs:
    """Clock verbs (`now`, `advance`, `set_time`, `run_until_terminal`) and fault verbs
    (`add_fault` ... `fault_trace`); the attributes below are the state's."""

    config: MockConfig
    clock: Clock
    faults: FaultEngine
    durability: Durability

    if TYPE_CHECKING:

        def task(self, task_id: str) -> TaskSnapshot: ...

        def tasks(self, status: TaskStatus | str | None = None) -> list[TaskSnapshot]: ...

    def now(self) -> float:
        return self.clock.now()

    def advance(self, seconds: float) -> float:
        return self.clock.advance(seconds)

    def set_time(self, timestamp: float) -> float:
        return self.clock.set(timestamp)

    def run_until_terminal(self, task_id: str | None = None, *, limit: float = 86_400.0) -> float:
        """Advance the clock just far enough for one task (or every task) to end.

        Only clock-driven tasks can be moved this way; a task waiting for polls or for a
        push raises `TransitionError`, since no amount of time would finish it.
        """
        now = self.clock.now()
        targets = [self.task(task_id)] if task_id is not None else self.tasks()
        deadline = now
        for snapshot in targets:
            if snapshot.status.terminal:
                continue
            if snapshot.scheduled_end is None:
                raise TransitionError(
                    f"task {snapshot.task_id} progresses by {snapshot.progression['kind']}; "
                    "time alone will not finish it"
                )
            deadline = max(deadline, snapshot.scheduled_end)
        if deadline - now > limit:
            raise TransitionError(
                f"finishing would take {deadline - now:.0f} s of clock time, over the "
                f"{limit:.0f} s limit"
            )
        if deadline > now:
            self.clock.set(deadline)
            while self.clock.now() < deadline:  # float rounding on a moving clock
                self.clock.advance(max(deadline - self.clock.now(), 1e-6))
        return self.clock.now()

    def add_fault(self, fault: str | Mapping[str, Any] | Rule, **options: Any) -> Rule:
        """Add a rule: `add_fault("error", status=503, route="poll", times=2)`, a rule
        dict in admin-API form, or a `Rule`."""
        if isinstance(fault, str):
            added = self.faults.add({"fault": fault, **options})
        elif options:
            raise TypeError("options go with a fault name, not with a rule object")
        else:
            added = self.faults.add(fault)
        self.durability.rules_changed(self.faults)
        return added

    def fault_rules(self) -> list[dict[str, Any]]:
        return self.faults.rules()

    def remove_fault(self, rule_id: str) -> bool:
        removed = self.faults.remove(rule_id)
        self.durability.rules_changed(self.faults)
        return removed

    def clear_faults(self) -> None:
        self.faults.clear()
        self.durability.rules_changed(self.faults)

    def use_profile(self, name: str, seed: int | None = None) -> list[Rule]:
        """Replace the rules with a named chaos profile, reseeding the draws."""
        rules = self._load_profile(name, seed)
        self.durability.rules_changed(self.faults)
        return rules

    def _load_profile(self, name: str, seed: int | None = None) -> list[Rule]:
        rules = profile_rules(name)
        self.faults.clear()
        self.faults.reseed(self.config.seed if seed is None else seed)
        return [self.faults.add(dict(rule)) for rule in rules]

    def fault_trace(self) -> list[dict[str, Any]]:
        return list(self.faults.trace)
