"""Fault rules for chaos runs, drawn from the fault kinds' own declarations.

Which kinds exist, which parameters each takes, and which values are accepted are read off
`vidu_lipsync_mock.faults.FAULT_KINDS`, so a new kind (or a changed range) is generated
without touching this module. Parameters that are real waits draw from `delays`, so a chaos
run stays fast.

By default the rules are realistic: an `error` answers a status the provider gives on that
route, with its meaning (402 only where a submit is charged, 404 where something can be
missing, no 401 or 429 on a result download, which needs no key), its default message, and
no `Retry-After`, a header the provider does not send. `realistic=False` opens the
corners: any status on any route, any message, `Retry-After`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from functools import partial
from typing import Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from vidu_lipsync_mock.faults import FAULT_KINDS, ROUTES, FaultKind, Param

from .arguments import check_names, check_size, check_strategy

__all__ = ["REALISTIC_STATUSES", "fault_rules", "fault_schedules"]

_METHOD_FOR_ROUTE: Mapping[str, Sequence[str]] = {
    "submit": ("POST",),
    "poll": ("GET",),
    "download": ("GET",),
    "sample": ("GET",),
    "validate": ("GET",),
    "balance": ("GET",),
    "models": ("GET",),
    "upload": ("POST",),
    "delete_file": ("DELETE",),
    "uploaded": ("GET",),
    "schema": ("GET",),
    "any": ("GET", "POST"),
}

_SUBMIT_METHODS: Mapping[str, Sequence[str]] = {"submit": ("POST",), "any": ("POST",)}

#: Failures any call to the API can meet (NOTES.md, "Errors"): a rejected key, the rate
#: limit, and the server-side and gateway failures.
_ANY_CALL = (401, 429, 500, 502, 503, 504)
#: Result files come from a CDN over signed links: no key, no rate limit; an expired link
#: is 403, a gone one 404.
_DOWNLOAD = (403, 404, 500, 502, 503, 504)

#: The statuses an `error` fault answers on each route when rules are realistic: what the
#: provider answers there, each with its meaning.
REALISTIC_STATUSES: Mapping[str, Sequence[int]] = {
    "submit": (400, 402, 404, *_ANY_CALL),  # bad body, no balance, unknown model
    "poll": (404, *_ANY_CALL),  # unknown or expired task
    "download": _DOWNLOAD,
    "sample": _DOWNLOAD,
    "upload": (400, *_ANY_CALL),
    "delete_file": (404, *_ANY_CALL),
    "uploaded": (404, *_ANY_CALL),
    "validate": _ANY_CALL,
    "balance": _ANY_CALL,
    "models": _ANY_CALL,
    "schema": (404, *_ANY_CALL),
    "any": _ANY_CALL,
}

#: Options that only an unrealistic rule sets: the provider sends no `Retry-After`, and a
#: message of another status's would contradict the status.
_UNREALISTIC_OPTIONS = {"error": ("retry_after", "message")}


def _route_and_method(
    methods: Mapping[str, Sequence[str]], route: str
) -> st.SearchStrategy[tuple[str, str | None]]:
    return st.tuples(st.just(route), st.none() | st.sampled_from(methods[route]))


def _schedule_dicts() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.just({"kind": "always"}),
        st.just({"kind": "once"}),
        st.builds(lambda n: {"kind": "times", "n": n}, st.integers(1, 5)),
        st.builds(lambda n: {"kind": "after", "n": n}, st.integers(0, 5)),
        st.builds(lambda n: {"kind": "every", "n": n}, st.integers(1, 5)),
        st.builds(
            lambda p: {"kind": "probability", "p": p},
            st.floats(0.0, 1.0, allow_nan=False),
        ),
    )


def _values(param: Param, delays: st.SearchStrategy[float]) -> st.SearchStrategy[Any]:
    """Values the declaration accepts: its choices or typical values (and its default) if
    it names some, otherwise its whole range; `delays` for a wait."""
    if param.waits:
        return delays
    named = param.choices or param.examples
    if named:
        extra = () if param.default is None or param.default in named else (param.default,)
        return st.sampled_from((*named, *extra))
    if param.type is int:
        return st.integers(int(param.low or 0), int(param.high or 0))
    if param.type is float:
        return st.floats(param.low, param.high, exclude_min=param.above, allow_nan=False)
    return st.text(min_size=1, max_size=40)


def _options(
    kind: FaultKind,
    statuses: st.SearchStrategy[int] | None,
    delays: st.SearchStrategy[float],
    realistic: bool = False,
) -> st.SearchStrategy[dict[str, Any]]:
    """Options for one fault kind. A kind with forms gets one form, whole; otherwise every
    wait with a default is given (its default is a real wait of up to 30 s) and the rest
    may be. An HTTP error always gets a status, from `statuses` when given. A realistic
    rule sets none of the kind's unrealistic options."""
    left_out = _UNREALISTIC_OPTIONS.get(kind.name, ()) if realistic else ()

    def values(name: str) -> st.SearchStrategy[Any]:
        if name == "status" and kind.group == "http" and statuses is not None:
            return statuses
        return _values(kind.params[name], delays)

    if kind.forms:
        return st.one_of(
            [st.fixed_dictionaries({name: values(name) for name in form}) for form in kind.forms]
        )
    required = [n for n, p in kind.params.items() if p.waits and p.default is not None]
    if "status" in kind.params and kind.group == "http":
        required.append("status")
    return st.fixed_dictionaries(
        {name: values(name) for name in required},
        optional={
            name: values(name)
            for name in kind.params
            if name not in required and name not in left_out
        },
    )


def _rule(
    kind: str,
    route_and_method: tuple[str, str | None],
    options: dict[str, Any],
    schedule: Mapping[str, Any],
    phase: str,
    flat: bool,
) -> dict[str, Any]:
    route, method = route_and_method
    if not flat:
        match: dict[str, Any] = {"route": route}
        if method is not None:
            match["method"] = method
        return {
            "fault": {"kind": kind, **options},
            "match": match,
            "schedule": dict(schedule),
            "phase": phase,
        }
    rule: dict[str, Any] = {"fault": kind, "route": route, "phase": phase, **options}
    if method is not None:
        rule["method"] = method
    schedule_kind = schedule["kind"]
    if schedule_kind == "once":
        rule["once"] = True
    elif schedule_kind == "probability":
        rule["probability"] = schedule["p"]
    elif schedule_kind != "always":
        rule[schedule_kind] = schedule["n"]
    return rule


def _rules_on_route(
    name: str,
    kind: FaultKind,
    methods: Mapping[str, Sequence[str]],
    statuses: st.SearchStrategy[int] | None,
    delays: st.SearchStrategy[float],
    schedules: st.SearchStrategy[Mapping[str, Any]],
    realistic: bool,
    by_route: bool,
    route: str,
) -> st.SearchStrategy[dict[str, Any]]:
    """Rules of one kind on one route; `by_route`: an error answers that route's statuses."""
    if by_route:
        statuses = st.sampled_from(REALISTIC_STATUSES[route])
    return st.builds(
        partial(_rule, name),
        _route_and_method(methods, route),
        _options(kind, statuses, delays, realistic),
        schedules,
        st.sampled_from(["before", "after"]),
        st.booleans(),
    )


def fault_rules(
    *,
    routes: Collection[str] | None = None,
    kinds: Collection[str] | None = None,
    schedules: st.SearchStrategy[Mapping[str, Any]] | None = None,
    statuses: st.SearchStrategy[int] | None = None,
    delays: st.SearchStrategy[float] | None = None,
    realistic: bool = True,
) -> st.SearchStrategy[dict[str, Any]]:
    """Rule dicts that `FaultEngine.add` / `mock.add_fault` / `Rule.from_dict` accept.

    Both shapes the admin API takes are drawn: the nested one `Rule.describe()` prints
    and the flat shorthand (`{"fault": "error", "status": 503, "times": 2}`). Task and
    result faults only ever get the routes they can apply to (`submit`, `any`).

    - `routes` / `kinds`: which route names and fault kinds may appear.
    - `schedules`: schedule dicts (`{"kind": "times", "n": 2}` …); default any kind.
    - `statuses`: the status of `error` faults; default, when `realistic`, the ones the
      provider answers on the rule's route (`REALISTIC_STATUSES`), otherwise any status
      the provider publishes a message for, on any route.
    - `delays`: seconds for every parameter that is a real wait (timed faults, and the
      `Retry-After` of an error); default at most 50 ms, so a chaos run stays fast.
    - `realistic` (default `True`): rules a client can meet in production. `False` also
      draws the corners: statuses on routes that never answer them, an error's own
      `message`, and `Retry-After`, which the provider does not send.
    """
    check_names("routes", routes, ROUTES)
    check_names("kinds", kinds, sorted(FAULT_KINDS))
    for name, value in (("schedules", schedules), ("statuses", statuses), ("delays", delays)):
        check_strategy(name, value)
    allowed_routes = [r for r in ROUTES if routes is None or r in routes]
    schedule_values = schedules if schedules is not None else _schedule_dicts()
    delay_values = delays if delays is not None else st.floats(0.0, 0.05, allow_nan=False)
    per_kind: list[st.SearchStrategy[dict[str, Any]]] = []
    for name, kind in FAULT_KINDS.items():
        if kinds is not None and name not in kinds:
            continue
        kind_routes = [r for r in allowed_routes if not kind.changes_task or r in ("submit", "any")]
        if not kind_routes:
            continue
        # Task and result faults act on the submit, so only POST (or no method) can fire.
        methods = _SUBMIT_METHODS if kind.changes_task else _METHOD_FOR_ROUTE
        # A realistic error's status depends on its route: draw the route first.
        by_route = realistic and kind.group == "http" and statuses is None
        per_route = partial(
            _rules_on_route, name, kind, methods, statuses, delay_values, schedule_values, realistic
        )
        per_kind.append(st.sampled_from(kind_routes).flatmap(partial(per_route, by_route)))
    if not per_kind:
        raise InvalidArgument(
            f"no fault kind in {sorted(kinds or FAULT_KINDS)} can apply to routes "
            f"{allowed_routes} (task and result faults need 'submit' or 'any')"
        )
    return st.one_of(per_kind)


def fault_schedules(
    *,
    rules: st.SearchStrategy[Mapping[str, Any]] | None = None,
    min_size: int = 0,
    max_size: int = 5,
) -> st.SearchStrategy[list[Mapping[str, Any]]]:
    """Lists of rules for one chaos run, in the order the engine consults them (here a
    "schedule" is the run's whole plan, not the `Schedule` of a single rule)."""
    check_strategy("rules", rules)
    check_size(min_size, max_size, 0, 50, "fault_schedules")
    return st.lists(
        rules if rules is not None else fault_rules(), min_size=min_size, max_size=max_size
    )
