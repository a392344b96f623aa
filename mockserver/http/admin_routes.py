"""The admin HTTP API under `/_mock`: the Python test API, one handler per operation, for
tests written in any language.

Each handler decodes its JSON, calls the one `MockState` method of the same name, and
renders the result in the provider's envelope, so a Node or Go test sees the same answers
a Python test gets from the methods. Admin calls are not journaled: the journal is the
record of what the client under test did.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vidu_lipsync_mock.config import shown as shown_config
from vidu_lipsync_mock.config import shown_rule
from vidu_lipsync_mock.faults import FaultError
from vidu_lipsync_mock.faults.profiles import PROFILES
from vidu_lipsync_mock.http import wire
from vidu_lipsync_mock.http.connections import Connections
from vidu_lipsync_mock.http.inspector_routes import INSPECTOR_ROUTES, AdminOperation, InspectorApi
from vidu_lipsync_mock.journal.journal import Entry
from vidu_lipsync_mock.service.accounts import TeamBalance
from vidu_lipsync_mock.service.errors import ApiError, echo, invalid_format, invalid_json
from vidu_lipsync_mock.service.keys import redact, redact_keys_in
from vidu_lipsync_mock.service.tasks import TaskSnapshot, TransitionError, progression_from_name
from vidu_lipsync_mock.state import MockState

__all__ = [
    "ADMIN_PREFIX",
    "OPERATIONS",
    "AdminApi",
    "AdminOperation",
    "account_record",
    "task_record",
]

ADMIN_PREFIX = "/_mock"

#: An integer as a query parameter writes it (Python's `int` would also take `1_0`, ` 1`).
_INTEGER_TEXT = re.compile(r"-?[0-9]{1,4000}")

Handler = Callable[[Request], Awaitable[Response]]


def task_record(task: TaskSnapshot) -> dict[str, Any]:
    """A task as the admin API and reports show it: every field of the snapshot, in its
    order, as plain data, key redacted."""
    return {
        **task._asdict(),
        "status": task.status.value,
        "api_key": redact(task.api_key),
        "params": dict(task.params),
        "progression": dict(task.progression),
        "result_fault": task.result_fault.describe() if task.result_fault is not None else None,
    }


def _ok(data: Any) -> Response:
    """A success answer. Keys are redacted at their source (tasks, accounts, rules,
    settings); any left in free text (params, tracebacks, bodies) are redacted here, so
    no admin answer hands out a working key."""
    return Response(redact_keys_in(wire.success_body(data)), media_type="application/json")


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise invalid_json() from None
    if not isinstance(value, dict):
        raise invalid_format("request body must be a JSON object")
    return value


def _number(body: dict[str, Any], name: str) -> float:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApiError(400, f"Invalid format: parameter '{name}' must be a number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ApiError(400, f"Value out of range: parameter '{name}' must be a finite number")
    return number


def _guarded(handler: Handler) -> Handler:
    """Turn the core's refusals into envelopes: bad input 400, impossible moves 409."""

    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except TransitionError as error:
            raise ApiError(409, f"Conflict: {echo(str(error))}") from None
        except (FaultError, ValueError, TypeError) as error:
            raise ApiError(400, f"Invalid parameters: {echo(str(error))}") from None
        except KeyError as error:
            raise ApiError(400, f"Invalid parameters: {echo(str(error.args[0]))}") from None

    return run


def _obj(*required: str, **properties: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


_NUMBER = {"type": "number"}
_JOURNAL_QUERY: Mapping[str, Mapping[str, Any]] = {
    **{name: {"type": "string"} for name in ("route", "method", "task_id")},
    **{name: {"type": "integer"} for name in ("status", "since", "limit")},
    "faulted": {"type": "boolean"},
}
_STATUSES = ["pending", "processing", "success", "failed"]
_RULE_BODY = {
    "type": "object",
    "description": "A fault rule: nested (`fault`, `match`, `schedule`, `phase`) or flat "
    '(`{"fault": "error", "status": 503, "route": "poll", "times": 2}`)',
    "required": ["fault"],
}

OPERATIONS: tuple[AdminOperation, ...] = (
    AdminOperation(
        "/health", "GET", "health", "Liveness, and the live tasks, uploads and accounts it holds"
    ),
    AdminOperation("/config", "GET", "config", "The effective settings"),
    AdminOperation("/reset", "POST", "reset", "Forget tasks, rules, journal; rebuild the clock"),
    AdminOperation("/clock", "GET", "clock", "Read the clock"),
    AdminOperation(
        "/clock", "PUT", "set_time", "Jump to a Unix time (forward only)", _obj("now", now=_NUMBER)
    ),
    AdminOperation(
        "/clock/advance",
        "POST",
        "advance",
        "Move the clock forward",
        _obj("seconds", seconds={"type": "number", "minimum": 0}),
    ),
    AdminOperation(
        "/clock/run-until-terminal",
        "POST",
        "run_until_terminal",
        "Advance until one task (or every task) has ended",
        _obj(task_id={"type": ["string", "null"]}),
    ),
    AdminOperation("/faults", "GET", "fault_rules", "List fault rules with their counters"),
    AdminOperation("/faults", "POST", "add_fault", "Add a fault rule", _RULE_BODY),
    AdminOperation("/faults", "DELETE", "clear_faults", "Remove every fault rule"),
    AdminOperation("/faults/trace", "GET", "fault_trace", "Faults fired, in order"),
    AdminOperation("/faults/{rule_id}", "DELETE", "remove_fault", "Remove one rule"),
    AdminOperation(
        "/profile",
        "POST",
        "use_profile",
        "Replace the rules with a chaos profile",
        _obj("name", name={"enum": sorted(PROFILES)}, seed={"type": ["integer", "null"]}),
    ),
    AdminOperation("/journal", "GET", "journal", "Journal entries, filtered", query=_JOURNAL_QUERY),
    AdminOperation("/journal", "DELETE", "clear_journal", "Empty the journal"),
    AdminOperation(
        "/journal.jsonl",
        "GET",
        "journal_jsonl",
        "The journal as JSON lines",
        query=_JOURNAL_QUERY,
        media_type="application/x-ndjson",
    ),
    AdminOperation(
        "/tasks", "GET", "tasks", "List live tasks", query={"status": {"enum": _STATUSES}}
    ),
    AdminOperation("/tasks/{task_id}", "GET", "task", "One task, without counting a poll"),
    AdminOperation(
        "/tasks/{task_id}/force",
        "POST",
        "force",
        "Push a task to a status",
        _obj(
            "status",
            status={"type": "string", "enum": ["processing", "success", "failed"]},
            error_message={"type": ["string", "null"]},
        ),
    ),
    AdminOperation(
        "/tasks/{task_id}/progression",
        "POST",
        "set_progression",
        "Give an unfinished task a new progression, counted from now",
        _obj("kind", kind={"type": "string", "enum": ["clock", "polls", "manual"]}),
    ),
    AdminOperation("/crashes", "GET", "crashes", "Unexpected exceptions inside the mock"),
    AdminOperation("/accounts", "GET", "accounts", "Every team's balance (keys as fingerprints)"),
    AdminOperation(
        "/accounts/{ref}", "GET", "account", "One team's balance, by key fingerprint or team"
    ),
    AdminOperation(
        "/accounts/{ref}/balance",
        "PUT",
        "set_balance",
        "Set what a team can spend (negative: in arrears)",
        _obj("balance", balance={"type": ["number", "string"]}),
    ),
)


def account_record(account: TeamBalance) -> dict[str, Any]:
    """A team as the admin API shows it: fingerprints and redacted keys, never a key."""
    return {
        **dataclasses.asdict(account),  # (its keys too)
        "balance": float(account.balance),
        "held": float(account.held),
        "spent": float(account.spent),
    }


class AdminApi:
    def __init__(self, state: MockState, connections: Connections | None = None) -> None:
        self.state = state
        self.inspector = InspectorApi(state, connections)

    def routes(self) -> list[Route]:
        """Both tables' routes, each handler wrapped in `_guarded`."""
        handlers = [(op, getattr(self, op.handler)) for op in OPERATIONS] + [
            (op, getattr(self.inspector, op.handler)) for op in INSPECTOR_ROUTES
        ]
        return [
            Route(
                ADMIN_PREFIX + op.path,
                _guarded(handler),
                methods=[op.method],
                name=f"admin_{op.handler}",
            )
            for op, handler in handlers
        ]

    async def health(self, request: Request) -> Response:
        state = self.state
        return _ok(
            {
                "status": "ok",
                "tasks": len(state.store),
                "uploads": dataclasses.asdict(state.uploads.stats()),
                "accounts": state.accounts.stats(),
                "results": state.results.report(),
            }
        )

    async def config(self, request: Request) -> Response:
        return _ok(shown_config(self.state.config))

    async def reset(self, request: Request) -> Response:
        self.state.reset()
        return _ok({"reset": True})

    def _clock_data(self) -> dict[str, Any]:
        clock = self.state.clock
        return {**clock.describe(), "now_ms": clock.now_ms()}

    async def clock(self, request: Request) -> Response:
        return _ok(self._clock_data())

    async def set_time(self, request: Request) -> Response:
        self.state.set_time(_number(await _json(request), "now"))
        return _ok(self._clock_data())

    async def advance(self, request: Request) -> Response:
        self.state.advance(_number(await _json(request), "seconds"))
        return _ok(self._clock_data())

    async def run_until_terminal(self, request: Request) -> Response:
        body = await _json(request)
        task_id = body.get("task_id")
        self.state.run_until_terminal(str(task_id) if task_id is not None else None)
        return _ok(self._clock_data())

    def _rules(self) -> list[dict[str, Any]]:
        return [shown_rule(rule) for rule in self.state.fault_rules()]

    async def fault_rules(self, request: Request) -> Response:
        return _ok(self._rules())

    async def add_fault(self, request: Request) -> Response:
        return _ok(shown_rule(self.state.add_fault(await _json(request)).describe()))

    async def clear_faults(self, request: Request) -> Response:
        self.state.clear_faults()
        return _ok([])

    async def remove_fault(self, request: Request) -> Response:
        rule_id = request.path_params["rule_id"]
        if not self.state.remove_fault(rule_id):
            raise ApiError(404, f"Resource not found: no fault rule '{echo(rule_id)}'")
        return _ok(self._rules())

    async def fault_trace(self, request: Request) -> Response:
        return _ok(self.state.fault_trace())

    async def use_profile(self, request: Request) -> Response:
        body = await _json(request)
        seed = body.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ApiError(400, "Invalid format: parameter 'seed' must be an integer")
        rules = self.state.use_profile(str(body.get("name", "")), seed)
        return _ok([shown_rule(rule.describe()) for rule in rules])

    def _entries(self, request: Request) -> list[Entry]:
        q = dict(request.query_params)
        texts = {name: q[name] for name in ("status", "since", "limit") if name in q}
        if not all(_INTEGER_TEXT.fullmatch(value) for value in texts.values()):
            raise ApiError(400, "Invalid format: status, since and limit must be integers")
        numbers = {name: int(text) for name, text in texts.items()}
        faulted = None
        if "faulted" in q:
            faulted = {"true": True, "false": False}.get(q["faulted"].lower())
            if faulted is None:
                raise ApiError(400, "Invalid format: faulted must be true or false")
        return self.state.journal.entries(
            route=q.get("route"),
            method=q.get("method"),
            status=numbers.get("status"),
            task_id=q.get("task_id"),
            faulted=faulted,
            since_seq=numbers.get("since", 0),
            limit=numbers.get("limit"),
        )

    async def journal(self, request: Request) -> Response:
        entries = [e.as_dict() for e in self._entries(request)]
        return _ok({"entries": entries, "dropped": self.state.journal.dropped})

    async def journal_jsonl(self, request: Request) -> Response:
        lines = "".join(
            json.dumps(e.as_dict(), separators=(",", ":")) + "\n" for e in self._entries(request)
        )
        return Response(redact_keys_in(lines.encode()), media_type="application/x-ndjson")

    async def clear_journal(self, request: Request) -> Response:
        self.state.journal.clear()
        return _ok({"entries": [], "dropped": 0})

    async def tasks(self, request: Request) -> Response:
        return _ok([task_record(t) for t in self.state.tasks(request.query_params.get("status"))])

    async def task(self, request: Request) -> Response:
        return _ok(task_record(self.state.task(request.path_params["task_id"])))

    async def force(self, request: Request) -> Response:
        body = await _json(request)
        message = body.get("error_message")
        snapshot = self.state.force(
            request.path_params["task_id"],
            str(body.get("status", "")),
            str(message) if message is not None else None,
        )
        return _ok(task_record(snapshot))

    async def set_progression(self, request: Request) -> Response:
        body = await _json(request)
        kind = str(body.pop("kind", ""))
        snapshot = self.state.set_progression(
            request.path_params["task_id"], progression_from_name(kind, **body)
        )
        return _ok(task_record(snapshot))

    async def accounts(self, request: Request) -> Response:
        return _ok([account_record(a) for a in self.state.accounts.balances()])

    async def account(self, request: Request) -> Response:
        return _ok(account_record(self._account(request.path_params["ref"])))

    def _account(self, ref: str) -> TeamBalance:
        try:
            return self.state.accounts.account(ref)
        except LookupError:
            message = f"Resource not found: no team or key fingerprint '{echo(ref)}'"
            raise ApiError(404, message) from None

    async def set_balance(self, request: Request) -> Response:
        body = await _json(request)
        value = body.get("balance")
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ApiError(400, "Invalid format: parameter 'balance' must be a number")
        ref = request.path_params["ref"]
        self._account(ref)  # a key in the path is refused as unknown, never fingerprinted
        return _ok(account_record(self.state.accounts.set_balance(ref, value)))

    async def crashes(self, request: Request) -> Response:
        return _ok([dataclasses.asdict(c) for c in self.state.crashes])
