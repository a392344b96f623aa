"""The fault engine on its own, without a server: which rule fires on which request, in
what order, with which seeded draw, and what it remembers per route."""

from __future__ import annotations

import random
from typing import Any

import pytest

from vidu_lipsync_mock.faults import (
    MAX_DELAY_SECONDS,
    Decision,
    Fault,
    FaultEngine,
    FaultError,
    Match,
    RequestInfo,
    Rule,
    Schedule,
)
from vidu_lipsync_mock.faults import engine as engine_module

POLL = RequestInfo("poll", "GET", "/api/v1/tasks/task-1")
SUBMIT = RequestInfo("submit", "POST", "/api/v1/vidu/lip-sync/async", "key-a", {"x": 1})


def fired(engine: FaultEngine, request: RequestInfo, n: int) -> list[list[str | None]]:
    """The ids of the rules that fired on each of `n` requests."""
    return [[d.rule_id for d in engine.decide(request)] for _ in range(n)]


# -- order ---------------------------------------------------------------------------------


def test_the_first_answering_rule_wins_and_the_others_still_count() -> None:
    engine = FaultEngine()
    first = engine.add({"fault": "error", "status": 503, "times": 2})
    second = engine.add({"fault": "reset", "route": "poll"})
    assert fired(engine, POLL, 3) == [[first.id], [first.id], [second.id]]
    assert (first.seen, first.hits) == (3, 2)
    assert (second.seen, second.hits) == (3, 1)


def test_latency_and_task_faults_add_to_what_answers() -> None:
    engine = FaultEngine(seed=1)
    engine.add({"fault": "latency", "seconds": 0.5})
    engine.add({"fault": "error", "status": 500, "route": "submit"})
    engine.add({"fault": "task_fail", "route": "submit"})
    engine.add({"fault": "task_slow", "route": "any"})
    decisions = engine.decide(SUBMIT)
    assert [d.fault.kind for d in decisions] == ["latency", "error", "task_fail", "task_slow"]
    assert [d.answers for d in decisions] == [False, True, False, False]
    assert [d.delay for d in decisions] == [0.5, 0.0, 0.0, 0.0]


def test_only_the_first_of_two_answering_faults_fires_per_request() -> None:
    engine = FaultEngine()
    engine.add({"fault": "error"})
    engine.add({"fault": "empty_body"})
    assert [d.fault.kind for d in engine.decide(POLL)] == ["error"]


# -- schedules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ({}, [1, 1, 1, 1, 1, 1]),
        ({"once": True}, [1, 0, 0, 0, 0, 0]),
        ({"times": 2}, [1, 1, 0, 0, 0, 0]),
        ({"after": 4}, [0, 0, 0, 0, 1, 1]),
        ({"after": 0}, [1, 1, 1, 1, 1, 1]),
        ({"every": 3}, [0, 0, 1, 0, 0, 1]),
        ({"probability": 0.0}, [0, 0, 0, 0, 0, 0]),
        ({"probability": 1.0}, [1, 1, 1, 1, 1, 1]),
    ],
)
def test_schedules_fire_on_exactly_these_requests(
    schedule: dict[str, Any], expected: list[int]
) -> None:
    engine = FaultEngine(seed=3)
    engine.add({"fault": "error", **schedule})
    assert [len(ids) for ids in fired(engine, POLL, 6)] == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "sometimes"}, "schedule must be one of"),
        ({"kind": "times", "n": 0}, "schedule times needs a positive n"),
        ({"kind": "after", "n": -1}, "schedule after needs a positive n"),
        ({"kind": "probability", "p": 1.5}, "probability must be between 0 and 1"),
    ],
)
def test_impossible_schedules_are_refused(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(FaultError, match=message):
        Schedule(**spec)


def test_one_schedule_per_rule() -> None:
    with pytest.raises(FaultError, match="a rule takes one schedule, got times, every"):
        Rule.from_dict({"fault": "error", "times": 2, "every": 3}, "r")
    with pytest.raises(FaultError, match="write once = true"):
        Rule.from_dict({"fault": "error", "once": 1}, "r")


# -- seeded draws ------------------------------------------------------------------------


def _chaos(seed: int) -> list[tuple[str | None, float]]:
    engine = FaultEngine(seed=seed)
    engine.add({"fault": "error", "probability": 0.3})
    engine.add({"fault": "latency", "min": 0.0, "max": 2.0, "probability": 0.5})
    engine.add({"fault": "latency", "median": 0.1, "sigma": 1.0})
    return [(d.rule_id, d.delay) for _ in range(40) for d in engine.decide(POLL)]


def test_the_same_seed_gives_the_same_faults_and_delays() -> None:
    assert _chaos(7) == _chaos(7)
    assert _chaos(7) != _chaos(8)


def test_reseeding_starts_the_draws_and_the_trace_afresh() -> None:
    engine = FaultEngine(seed=5)
    engine.add({"fault": "error", "probability": 0.5})
    first = fired(engine, POLL, 30)
    assert engine.trace
    engine.reseed(5)
    assert not engine.trace
    assert engine.seed == 5
    # The counters go on (the rule is the same rule); the draws start over.
    assert fired(engine, POLL, 30) == first


# -- latency -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "low", "high"),
    [
        ({"seconds": 0.25}, 0.25, 0.25),
        ({"min": 0.1, "max": 0.3}, 0.1, 0.3),
        ({"min": 0.5}, 0.5, MAX_DELAY_SECONDS),
        ({"max": 0.2}, 0.0, 0.2),
        ({"min": 0.4, "max": 0.1}, 0.4, 0.4),  # an inverted range is the lower bound
        ({"median": 0.2, "sigma": 2.0, "max": 0.5}, 0.0, 0.5),
        ({"median": 100.0, "sigma": 5.0}, 0.0, MAX_DELAY_SECONDS),
    ],
)
def test_latency_draws_stay_within_their_bounds(
    options: dict[str, float], low: float, high: float
) -> None:
    engine = FaultEngine(seed=11)
    fault = Fault("latency", options)
    delays = [engine.delay_for(fault) for _ in range(300)]
    assert all(low <= d <= high for d in delays)
    if low != high:
        assert len(set(delays)) > 1


def test_only_latency_delays() -> None:
    engine = FaultEngine(seed=1)
    assert engine.delay_for(Fault("latency")) == 1.0
    for kind in ("error", "hang", "slow_body", "task_slow", "result_slow"):
        assert engine.delay_for(Fault(kind)) == 0.0


# -- the X-Mock-Fault header's decision --------------------------------------------------


def test_an_answering_header_fault_leaves_the_rules_only_counting() -> None:
    engine = FaultEngine(seed=1)
    rule = engine.add({"fault": "error", "status": 503})
    latency = engine.add({"fault": "latency", "seconds": 0.1})
    header = Decision(Fault("reset"), None)
    decisions = engine.decide(POLL, prior=[header])
    assert decisions == [header, Decision(latency.fault, latency.id, "before", 0.1)]
    assert (rule.seen, rule.hits) == (1, 0)
    # The rule's quota was not spent: it fires on the next request.
    assert [d.rule_id for d in engine.decide(POLL)] == [rule.id, latency.id]


def test_a_header_fault_that_does_not_answer_lets_the_rules_answer() -> None:
    engine = FaultEngine()
    rule = engine.add({"fault": "error"})
    header = Decision(Fault("latency", {"seconds": 0.2}), None, "before", 0.2)
    assert [d.rule_id for d in engine.decide(POLL, prior=[header])] == [None, rule.id]


# -- task faults act on submits ----------------------------------------------------------


def test_task_faults_count_and_fire_only_on_submits() -> None:
    engine = FaultEngine()
    rule = engine.add({"fault": "task_fail", "route": "any", "times": 1})
    assert engine.decide(POLL) == []
    assert rule.seen == 0
    assert [d.fault.kind for d in engine.decide(SUBMIT)] == ["task_fail"]
    assert engine.decide(SUBMIT) == []
    assert (rule.seen, rule.hits) == (2, 1)


def test_task_faults_must_match_submits() -> None:
    for kind in ("task_fail", "result_corrupt"):
        with pytest.raises(FaultError, match=f"{kind} changes a submitted task"):
            Rule("r", Fault(kind), Match(route="poll"))


# -- what the engine works out per route, and forgets when the rules change --------------


def test_may_fire_follows_adds_removes_and_clears() -> None:
    engine = FaultEngine()
    assert not engine.may_fire("poll")
    rule = engine.add({"fault": "error", "route": "poll"})
    assert engine.may_fire("poll")
    assert not engine.may_fire("submit")
    engine.add({"fault": "reset", "route": "download"})
    assert engine.may_fire("download")
    assert engine.remove(rule.id)
    assert not engine.remove(rule.id)
    assert not engine.may_fire("poll")
    assert engine.may_fire("download")
    engine.clear()
    assert not engine.may_fire("download")


def test_rules_that_need_a_submit_are_candidates_only_there() -> None:
    engine = FaultEngine()
    engine.add({"fault": "task_stuck", "route": "any"})
    engine.add({"fault": "error", "body": {"x": 1}})
    assert engine.may_fire("submit")
    for route in ("poll", "download", "sample"):
        assert not engine.may_fire(route)


def test_what_the_edge_must_read_follows_the_rules() -> None:
    engine = FaultEngine()
    assert (engine.matches_bodies, engine.matches_keys) == (False, False)
    by_body = engine.add({"fault": "error", "body": {"x": 1}})
    by_key = engine.add({"fault": "error", "api_key": "key-a"})
    assert (engine.matches_bodies, engine.matches_keys) == (True, True)
    engine.remove(by_body.id)
    assert (engine.matches_bodies, engine.matches_keys) == (False, True)
    engine.remove(by_key.id)
    assert (engine.matches_bodies, engine.matches_keys) == (False, False)


def test_match_looks_at_method_key_and_every_body_field() -> None:
    assert Match(route="submit", method="post").matches(SUBMIT)
    assert not Match(method="GET").matches(SUBMIT)
    assert Match(api_key="key-a").matches(SUBMIT)
    assert not Match(api_key="key-b").matches(SUBMIT)
    assert Match(body={"x": 1}).matches(SUBMIT)
    assert not Match(body={"x": 1, "y": 2}).matches(SUBMIT)
    assert not Match(body={"x": 1}).matches(POLL)


# -- ids and the trace -------------------------------------------------------------------


def test_rule_ids_are_given_or_kept_and_unique() -> None:
    engine = FaultEngine()
    assert engine.add({"fault": "error"}).id == "rule-1"
    assert engine.add({"fault": "error", "id": "mine"}).id == "mine"
    assert engine.add(Rule("", Fault("reset"))).id == "rule-3"
    with pytest.raises(FaultError, match="already exists"):
        engine.add({"fault": "error", "id": "mine"})
    assert [r["id"] for r in engine.rules()] == ["rule-1", "mine", "rule-3"]


def test_the_trace_keeps_the_latest_faults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "TRACE_LIMIT", 3)
    engine = FaultEngine()
    rule = engine.add({"fault": "error", "status": 502})
    for n in range(5):
        engine.decide(RequestInfo("poll", "GET", f"/api/v1/tasks/task-{n}"))
    assert [t["path"] for t in engine.trace] == [f"/api/v1/tasks/task-{n}" for n in (2, 3, 4)]
    assert engine.trace[-1] == {
        "route": "poll",
        "path": "/api/v1/tasks/task-4",
        "rule": rule.id,
        "phase": "before",
        "kind": "error",
        "status": 502,
    }


def test_the_engine_draws_from_its_own_generator() -> None:
    """Two engines with one seed agree even while the global generator is disturbed."""
    a, b = FaultEngine(seed=2), FaultEngine(seed=2)
    for engine in (a, b):
        engine.add({"fault": "error", "probability": 0.5})
    first = fired(a, POLL, 20)
    random.seed(99)
    random.random()
    assert fired(b, POLL, 20) == first
