"""The fault kinds' declarations: each one is consistent, its defaults validate, and its
ranges are enforced the same way at every entry point (header, rule dict, Python, TOML).

Adding a kind is one entry in `faults/kinds.py` and its tests: the checks at the end say
when the docs table, the edge's action table or the strategies do not cover it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import Phase, settings
from hypothesis import find as hypothesis_find

from vidu_lipsync_mock.config import ConfigError, MockConfig, load_toml
from vidu_lipsync_mock.faults import (
    DEFAULT_MESSAGES,
    FAULT_KINDS,
    MAX_DELAY_SECONDS,
    NO_EFFECTS,
    Fault,
    FaultError,
    FaultKind,
    Param,
    Rule,
    TaskEffects,
    deliver_result,
    parse_fault_header,
)
from vidu_lipsync_mock.faults.effects import TaskChange
from vidu_lipsync_mock.faults.profiles import PROFILES
from vidu_lipsync_mock.http.fault_actions import ACTIONS
from vidu_lipsync_mock.pytest_plugin.strategies import fault_rules
from vidu_lipsync_mock.service.magic import MAGIC_SCENARIOS
from vidu_lipsync_mock.state import MockState

DOCS_EXT = Path(__file__).resolve().parents[2] / "docs" / "_ext"

PARAMS = [
    (kind.name, name, param) for kind in FAULT_KINDS.values() for name, param in kind.params.items()
]


# -- each declaration --------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(FAULT_KINDS.values()), ids=list(FAULT_KINDS))
def test_a_kind_builds_without_options_and_with_each_default(kind: FaultKind) -> None:
    bare = Fault(kind.name)
    assert bare.options == {}
    assert bare.group == kind.group
    assert bare.answers == (kind.action is not None)
    for name, param in kind.params.items():
        assert bare.param(name) == param.default
        if param.default is not None:
            assert Fault(kind.name, {name: param.default}).options == {name: param.default}
        for example in param.examples:
            Fault(kind.name, {name: example})


@pytest.mark.parametrize(("kind", "name", "param"), PARAMS)
def test_numbers_have_ranges_and_waits_stop_at_the_cap(kind: str, name: str, param: Param) -> None:
    if param.type is str:
        return
    assert param.low is not None
    assert param.high is not None
    assert param.low < param.high
    if param.waits:
        assert param.high <= 3600  # a client's wait (Retry-After) or one of ours
        if kind != "error":
            assert param.high == MAX_DELAY_SECONDS


@pytest.mark.parametrize(("kind", "name", "param"), PARAMS)
def test_the_bounds_are_accepted_and_just_past_them_refused(
    kind: str, name: str, param: Param
) -> None:
    if param.type is str:
        return
    assert param.low is not None
    assert param.high is not None
    step = 1 if param.type is int else 1e-6
    Fault(kind, {name: param.type(param.high)})
    with pytest.raises(FaultError, match="must be"):
        Fault(kind, {name: param.type(param.high + step)})
    if param.above:
        Fault(kind, {name: param.low + step})
        with pytest.raises(FaultError, match=f"> {param.low:g} and"):
            Fault(kind, {name: param.type(param.low)})
    else:
        Fault(kind, {name: param.type(param.low)})
        with pytest.raises(FaultError, match=f">= {param.low:g} and"):
            Fault(kind, {name: param.type(param.low - step)})
    if param.type is float:
        for bad in (math.nan, math.inf):
            with pytest.raises(FaultError, match="a finite number"):
                Fault(kind, {name: bad})
        assert type(Fault(kind, {name: int(param.high)}).options[name]) is float


@pytest.mark.parametrize(("kind", "name", "param"), PARAMS)
def test_wrong_types_are_refused(kind: str, name: str, param: Param) -> None:
    for bad in (True, [1], "7" if param.type is not str else 7):
        with pytest.raises(FaultError) as caught:
            Fault(kind, {name: bad})
        assert str(caught.value) == (
            f"fault {kind}: {name} must be {param.type.__name__}, not {bad!r}"
        )


def test_an_unknown_option_is_refused_with_the_ones_it_takes() -> None:
    with pytest.raises(FaultError) as caught:
        Fault("error", {"colour": "red"})
    assert str(caught.value) == (
        "fault error takes no option 'colour'; it takes status, message, retry_after"
    )
    with pytest.raises(FaultError, match=r"^fault reset takes no option 'seconds'$"):
        Fault("reset", {"seconds": 1})


def test_choices_are_enforced() -> None:
    assert Fault("task_stuck", {"status": "pending"}).param("status") == "pending"
    with pytest.raises(FaultError) as caught:
        Fault("task_stuck", {"status": "success"})
    assert str(caught.value) == (
        "fault task_stuck: status must be one of 'pending', 'processing', not 'success'"
    )


def test_labels_show_the_declared_option() -> None:
    assert Fault("error").label() == "error:500"
    assert Fault("error", {"status": 503}).label() == "error:503"
    assert Fault("result_error").label() == "result_error:403"
    assert Fault("task_stuck", {"status": "pending"}).label() == "task_stuck"


def test_a_declaration_that_contradicts_itself_is_refused() -> None:
    change = TaskChange("fail_message")
    with pytest.raises(TypeError, match="group"):
        FaultKind("x", "weird", "doc", action="error")
    with pytest.raises(TypeError, match="change a task"):
        FaultKind("x", "task", "doc")
    with pytest.raises(TypeError, match="change a task"):
        FaultKind("x", "http", "doc", action="error", change=change)
    with pytest.raises(TypeError, match="serve the result"):
        FaultKind("x", "result", "doc", change=TaskChange("result_fault"))
    with pytest.raises(TypeError, match="acts or delays"):
        FaultKind("x", "transport", "doc")
    with pytest.raises(TypeError, match="rewrite"):
        FaultKind("x", "transport", "doc", action="rewrite")
    with pytest.raises(TypeError, match="no parameter nope"):
        FaultKind("x", "http", "doc", action="error", label_param="nope")
    with pytest.raises(TypeError, match="needs a range"):
        Param(int, "doc")
    with pytest.raises(TypeError, match="outside"):
        Param(int, "doc", 0, low=1, high=2)


# -- one refusal, whatever the way in ----------------------------------------------------

#: (kind, option, a value outside its range, how the header writes it)
OUT_OF_RANGE = [
    ("latency", "seconds", 1e9, "1e9"),
    ("latency", "sigma", 6.0, "6"),
    ("error", "status", 200, "200"),
    ("error", "retry_after", -1.0, "-1"),
    ("hang", "seconds", 121.0, "121"),
    ("slow_body", "seconds", math.inf, "inf"),
    ("task_slow", "factor", 0.0, "0"),
    ("task_not_found", "polls", 0, "0"),
    ("task_not_found", "polls", 101, "101"),
    ("expire_early", "seconds", 1e7, "1e7"),
    ("result_error", "status", 302, "302"),
    ("result_slow", "seconds", 600.0, "600"),
    ("task_stuck", "status", "success", "success"),
]


def _refusal(build: Any) -> str:
    with pytest.raises((FaultError, ConfigError)) as caught:
        build()
    return str(caught.value)


@pytest.mark.parametrize(("kind", "name", "value", "written"), OUT_OF_RANGE)
def test_a_value_out_of_range_is_refused_alike_everywhere(
    kind: str, name: str, value: Any, written: str
) -> None:
    param = FAULT_KINDS[kind].params[name]
    expected = f"fault {kind}: {name} must be {param.accepted()}, not {value!r}"
    route = "submit" if FAULT_KINDS[kind].changes_task else "any"
    rule = {"fault": kind, name: value, "route": route}
    nested = {"fault": {"kind": kind, name: value}, "match": {"route": route}}
    state = MockState()
    assert _refusal(lambda: parse_fault_header(f"{kind}; {name}={written}")) == expected
    assert _refusal(lambda: Rule.from_dict(rule, "r")) == expected
    assert _refusal(lambda: Rule.from_dict(nested, "r")) == expected
    assert _refusal(lambda: state.add_fault(kind, route=route, **{name: value})) == expected
    assert _refusal(lambda: state.add_fault(rule)) == expected
    assert _refusal(lambda: MockConfig(faults=(rule,))) == f"faults[0]: {expected}"
    assert state.fault_rules() == []


def test_a_toml_file_gets_the_same_refusal(tmp_path: Path) -> None:
    config = tmp_path / "mock.toml"
    config.write_text('[[faults]]\nfault = "latency"\nseconds = 1e9\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        MockConfig.build(load_toml(config))
    assert str(caught.value) == (
        "faults[0]: fault latency: seconds must be a finite number >= 0 and <= 120, "
        "not 1000000000.0"
    )


def test_what_ships_validates() -> None:
    """Profiles, magic inputs and the docs' examples use values inside the ranges."""
    for name, rules in PROFILES.items():
        for index, rule in enumerate(rules):
            Rule.from_dict(rule, f"{name}-{index}")
    for fault in MAGIC_SCENARIOS.values():
        assert Fault(fault.kind, fault.options) == fault


# -- the effects, read off the declarations ----------------------------------------------


def test_task_changes_name_task_effects_fields() -> None:
    fields = {f.name for f in dataclasses.fields(TaskEffects)}
    for kind in FAULT_KINDS.values():
        if kind.change is not None:
            assert kind.change.field in fields
            assert kind.change.param is None or kind.change.param in kind.params


@pytest.mark.parametrize(
    "kind", [k for k in FAULT_KINDS.values() if k.changes_task], ids=lambda k: k.name
)
def test_each_task_fault_sets_its_declared_effect(kind: FaultKind) -> None:
    fault = Fault(kind.name)
    effects = TaskEffects.from_faults([fault])
    assert kind.change is not None
    expected = fault if kind.change.param is None else fault.param(kind.change.param)
    assert getattr(effects, kind.change.field) == expected
    assert effects != NO_EFFECTS


def test_faults_that_change_no_task_leave_it_alone_and_later_ones_win() -> None:
    assert TaskEffects.from_faults([Fault("error"), Fault("latency")]) == NO_EFFECTS
    effects = TaskEffects.from_faults(
        [
            Fault("task_slow", {"factor": 2}),
            Fault("task_fail"),
            Fault("task_slow", {"factor": 3}),
            Fault("result_truncated"),
            Fault("result_corrupt"),
        ]
    )
    assert effects.slow_factor == 3.0
    assert effects.fail_message == "Task failed: the model could not process the input"
    assert effects.result_fault == Fault("result_corrupt")


VIDEO = bytes(range(256)) * 4


def test_result_faults_serve_the_file_as_declared() -> None:
    refused = deliver_result(Fault("result_error", {"status": 404}), VIDEO)
    assert (refused.status, refused.message) == (404, DEFAULT_MESSAGES[404])
    assert deliver_result(Fault("result_error", {"status": 418}), VIDEO).message == (
        "Internal server error"
    )
    truncated = deliver_result(Fault("result_truncated"), VIDEO)
    assert (truncated.data, truncated.damaged) == (VIDEO[:512], True)
    corrupt = deliver_result(Fault("result_corrupt"), VIDEO)
    assert len(corrupt.data) == len(VIDEO)
    assert corrupt.data[:32] == VIDEO[:32]
    assert corrupt.data[32:96] != VIDEO[32:96]
    assert corrupt.data[96:] == VIDEO[96:]
    slow = deliver_result(Fault("result_slow", {"seconds": 0.0}), VIDEO)
    assert slow.stream is not None
    assert not slow.damaged

    async def drain() -> list[bytes]:
        assert slow.stream is not None
        return [chunk async for chunk in slow.stream]

    chunks = asyncio.run(drain())
    assert len(chunks) == 20
    assert b"".join(chunks) == VIDEO
    with pytest.raises(ValueError, match="not a result fault"):
        deliver_result(Fault("task_fail"), VIDEO)


def test_rewrites_give_the_bodies_the_docs_promise() -> None:
    body = b'{"code":0,"message":"success"}'
    rewrite = {name: kind.rewrite for name, kind in FAULT_KINDS.items() if kind.rewrite}
    assert set(rewrite) == {"truncated_json", "malformed_json", "empty_body"}
    assert rewrite["truncated_json"](body) == body[: len(body) // 2]
    assert rewrite["truncated_json"](b"") == b""
    assert rewrite["empty_body"](body) == b""
    with pytest.raises(json.JSONDecodeError):
        json.loads(rewrite["malformed_json"](body))


# -- a new kind is one entry: everything else must cover it ------------------------------


def test_every_action_a_kind_names_is_one_the_edge_can_act_out() -> None:
    named = {kind.action for kind in FAULT_KINDS.values() if kind.action is not None}
    assert named == set(ACTIONS)


def test_the_docs_table_lists_every_kind_and_parameter_with_its_range() -> None:
    sys.path.insert(0, str(DOCS_EXT))
    try:
        import mockref
    finally:
        sys.path.remove(str(DOCS_EXT))
    page = mockref.FaultKinds.markdown(None)  # type: ignore[arg-type]
    rows = {line.split(" | ")[0].strip("| `"): line for line in page.splitlines()[2:]}
    assert list(rows) == list(FAULT_KINDS)
    for kind in FAULT_KINDS.values():
        row = rows[kind.name]
        assert kind.group in row
        for name, param in kind.params.items():
            assert mockref._param_cell(name, param) in row
            if param.type is not str and not param.choices:
                assert f"{param.low:g}" in row
                assert f"{param.high:g}" in row


GENERATE = settings(phases=[Phase.generate], max_examples=500, database=None)


def _options_of(rule: dict[str, Any]) -> dict[str, Any]:
    fault = rule["fault"]
    if isinstance(fault, dict):
        return {k: v for k, v in fault.items() if k != "kind"}
    return Rule.from_dict(rule, "r").fault.options


@pytest.mark.parametrize("kind", list(FAULT_KINDS))
def test_the_strategies_draw_every_kind(kind: str) -> None:
    found = hypothesis_find(
        fault_rules(), lambda r: Rule.from_dict(r, "r").fault.kind == kind, settings=GENERATE
    )
    assert Rule.from_dict(found, "r").fault.kind == kind


@pytest.mark.parametrize(("kind", "name", "param"), PARAMS)
def test_the_strategies_draw_every_parameter_within_its_range(
    kind: str, name: str, param: Param
) -> None:
    # realistic=False: the default leaves out what the provider never sends (an error's
    # own message, Retry-After), and every declared parameter must still be reachable.
    found = hypothesis_find(
        fault_rules(kinds=[kind], realistic=False),
        lambda r: name in _options_of(r),
        settings=GENERATE,
    )
    value = Rule.from_dict(found, "r").fault.options[name]
    assert param.accepts(value)
