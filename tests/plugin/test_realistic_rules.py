"""`fault_rules()` draws what a client can meet in production unless told otherwise: an
error's status is one the provider answers on that route, with its default message and no
`Retry-After` (the provider sends none); `realistic=False` opens those corners."""

from __future__ import annotations

from typing import Any

from hypothesis import Phase, given, settings
from hypothesis import find as hypothesis_find
from hypothesis import strategies as st

from vidu_lipsync_mock.faults import ROUTES, Rule
from vidu_lipsync_mock.pytest_plugin.strategies import fault_rules
from vidu_lipsync_mock.pytest_plugin.strategies.rules import REALISTIC_STATUSES


def find(strategy: st.SearchStrategy[Any], condition: Any) -> Any:
    return hypothesis_find(
        strategy,
        condition,
        settings=settings(max_examples=2000, phases=[Phase.generate], database=None),
    )


@settings(max_examples=200, deadline=None)
@given(fault_rules(kinds=["error", "result_error", "latency"]))
def test_realistic_errors_answer_what_the_provider_answers_there(rule: dict[str, Any]) -> None:
    built = Rule.from_dict(rule, "r")
    if built.fault.kind != "error":
        return
    status = built.fault.options["status"]
    assert status in REALISTIC_STATUSES[built.match.route]
    assert "retry_after" not in built.fault.options  # a header the provider does not send
    assert "message" not in built.fault.options  # the status's own message
    if built.match.route == "download":
        assert status not in (401, 402, 429)  # a signed CDN link: no key, no rate limit


def test_every_route_has_realistic_statuses_the_provider_gives() -> None:
    assert set(REALISTIC_STATUSES) == set(ROUTES)
    assert 402 in REALISTIC_STATUSES["submit"]  # only a charged submit meets no balance
    assert all(402 not in REALISTIC_STATUSES[r] for r in ROUTES if r != "submit")
    assert 403 in REALISTIC_STATUSES["download"]  # an expired link


def test_the_unrealistic_corners_are_opt_in() -> None:
    loose = fault_rules(kinds=["error"], realistic=False)
    find(loose, lambda r: "retry_after" in Rule.from_dict(r, "r").fault.options)
    find(loose, lambda r: "message" in Rule.from_dict(r, "r").fault.options)
    find(
        loose,
        lambda r: (
            Rule.from_dict(r, "r").fault.options["status"]
            not in REALISTIC_STATUSES[Rule.from_dict(r, "r").match.route]
        ),
    )


@settings(max_examples=50, deadline=None)
@given(fault_rules(kinds=["error"], routes=["poll"], statuses=st.just(418)))
def test_explicit_statuses_win_over_the_realistic_ones(rule: dict[str, Any]) -> None:
    assert Rule.from_dict(rule, "r").fault.options["status"] == 418
