"""The fault kinds: one declaration each, read by everything that deals with faults.

A `FaultKind` says what a fault is called, its group, its parameters (type, default,
range), a one-line doc, and its effects: on the HTTP answer (an edge action), on a
submitted task, on how the task's result is served. The `X-Mock-Fault` parser, the admin
API, TOML rules, the edge, the state, the docs and the Hypothesis strategies all read
`FAULT_KINDS`, so a new kind is one entry here (and its tests).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from vidu_lipsync_mock.faults import effects
from vidu_lipsync_mock.faults.effects import DEFAULT_MESSAGES, ResultDelivery, TaskChange
from vidu_lipsync_mock.faults.params import MAX_DELAY_SECONDS, FaultError, Param

__all__ = ["FAULT_KINDS", "GROUPS", "Fault", "FaultKind"]

#: A result effect: how a result file is served under the fault.
Serve = Callable[["Fault", bytes], ResultDelivery]

#: The groups, with what a fault of each does.
GROUPS: Mapping[str, str] = MappingProxyType(
    {
        "http": "answers with an error envelope",
        "transport": "breaks the connection or the bytes",
        "task": "changes the task a submit creates",
        "result": "changes how that task's video is served",
    }
)


@dataclass(frozen=True)
class FaultKind:
    """The declaration of one fault kind."""

    name: str
    group: str
    doc: str
    params: Mapping[str, Param] = field(default_factory=dict)
    #: The ways the parameters are meant to be combined (empty: each on its own).
    forms: tuple[tuple[str, ...], ...] = ()
    #: The HTTP effect: the edge action (`http.fault_actions.ACTIONS`) that answers the
    #: request in place of the route; None when the route still answers.
    action: str | None = None
    #: For the `rewrite` action: the body the client gets instead of the route's.
    rewrite: Callable[[bytes], bytes] | None = None
    #: Draws the seconds the answer is held back, from the engine's seeded generator.
    delay: Callable[[Fault, random.Random], float] | None = None
    #: The lifecycle effect: what it changes in the task a submit creates.
    change: TaskChange | None = None
    #: The result effect: how that task's video is served.
    serve: Serve | None = None
    #: The option shown in the journal's label of the fault (`error:503`).
    label_param: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        if self.group not in GROUPS:
            raise TypeError(f"{self.name}: group must be one of {', '.join(GROUPS)}")
        if (self.change is not None) != (self.group in ("task", "result")):
            raise TypeError(f"{self.name}: task and result faults, and only they, change a task")
        if (self.serve is not None) != (self.group == "result"):
            raise TypeError(f"{self.name}: result faults, and only they, serve the result")
        if self.group in ("http", "transport") and (self.action is None) == (self.delay is None):
            raise TypeError(f"{self.name}: an HTTP or transport fault acts or delays")
        if (self.rewrite is not None) != (self.action == "rewrite"):
            raise TypeError(f"{self.name}: the rewrite action needs a rewrite, and only it")
        named = [self.label_param, self.change and self.change.param]
        named += [name for form in self.forms for name in form]
        unknown = [name for name in named if name and name not in self.params]
        if unknown:
            raise TypeError(f"{self.name}: no parameter {', '.join(unknown)}")

    @property
    def changes_task(self) -> bool:
        """Whether it acts on the task a submit creates (only submits can fire it)."""
        return self.change is not None

    def validate(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The options as a fault keeps them, or a `FaultError` naming the accepted values."""
        clean: dict[str, Any] = {}
        for name, value in options.items():
            param = self.params.get(name)
            if param is None:
                takes = f"; it takes {', '.join(self.params)}" if self.params else ""
                raise FaultError(f"fault {self.name} takes no option {name!r}{takes}")
            clean[name] = param.check(self.name, name, value)
        return clean


@dataclass(frozen=True)
class Fault:
    """One fault of a declared kind, with validated options (only those given)."""

    kind: str
    options: Mapping[str, Any] = field(default_factory=dict)
    spec: FaultKind = field(init=False, repr=False, compare=False)
    #: Looked up once: the engine asks these per request.
    group: str = field(init=False, repr=False, compare=False)
    answers: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        spec = FAULT_KINDS.get(self.kind)
        if spec is None:
            raise FaultError(
                f"unknown fault {self.kind!r}; known: {', '.join(sorted(FAULT_KINDS))}"
            )
        object.__setattr__(self, "options", spec.validate(self.options))
        object.__setattr__(self, "spec", spec)
        object.__setattr__(self, "group", spec.group)
        object.__setattr__(self, "answers", spec.action is not None)

    def param(self, name: str) -> Any:
        """An option's value, or its declared default."""
        return self.options.get(name, self.spec.params[name].default)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, **dict(self.options)}

    def label(self) -> str:
        """Short text for the journal and reports, e.g. `error:503` or `latency`."""
        shown = self.spec.label_param
        return self.kind if shown is None else f"{self.kind}:{self.param(shown)}"


def _seconds(doc: str, default: float | None) -> Param:
    """A wait the fault makes someone sit through, bounded by `MAX_DELAY_SECONDS`."""
    return Param(float, doc, default, low=0.0, high=MAX_DELAY_SECONDS, waits=True)


def _status(default: int, examples: tuple[int, ...]) -> Param:
    return Param(int, "HTTP status", default, low=400, high=599, examples=examples)


def _rewrite(name: str, doc: str, rewrite: Callable[[bytes], bytes]) -> FaultKind:
    return FaultKind(name, "transport", doc, action="rewrite", rewrite=rewrite)


def _task(name: str, doc: str, field: str, param: str, declared: Param) -> FaultKind:
    """A task fault: it sets the `TaskEffects` field `field` to its one parameter."""
    return FaultKind(name, "task", doc, {param: declared}, change=TaskChange(field, param))


def _result(name: str, doc: str, serve: Serve, **more: Any) -> FaultKind:
    return FaultKind(name, "result", doc, change=TaskChange("result_fault"), serve=serve, **more)


_KINDS = (
    FaultKind(
        "error",
        "http",
        "answers `status` with the provider's error envelope",
        {
            "status": _status(500, tuple(DEFAULT_MESSAGES)),
            "message": Param(
                str,
                "the envelope's message (default: the status's)",
                examples=tuple(DEFAULT_MESSAGES.values()),
            ),
            "retry_after": Param(
                float, "adds `Retry-After` (seconds)", low=0.0, high=3600.0, waits=True
            ),
        },
        action="error",
        label_param="status",
    ),
    FaultKind(
        "latency",
        "transport",
        "holds the answer back; adds up with whatever else fires",
        {
            "seconds": _seconds("a fixed delay", 1.0),
            "min": _seconds("uniform delay: lower bound", None),
            "max": _seconds("uniform delay (or log-normal cap): upper bound", None),
            "median": _seconds("log-normal delay: median", None),
            "sigma": Param(float, "log-normal delay: spread", 1.0, low=0.0, high=5.0),
        },
        forms=(("seconds",), ("min", "max"), ("median", "sigma", "max")),
        delay=effects.draw_latency,
    ),
    FaultKind("reset", "transport", "aborts the connection (TCP RST)", action="reset"),
    FaultKind(
        "close_after_headers",
        "transport",
        "sends the status line and headers, then closes",
        action="close_after_headers",
    ),
    FaultKind(
        "close_mid_body", "transport", "sends half the body, then closes", action="close_mid_body"
    ),
    _rewrite("truncated_json", "answers 200 with the first half of the body", effects.first_half),
    _rewrite("malformed_json", "answers 200 with JSON that does not parse", effects.malformed),
    _rewrite("empty_body", "answers 200 with an empty body", effects.nothing),
    FaultKind(
        "slow_body",
        "transport",
        "drips the body out over `seconds`",
        {"seconds": _seconds("time to send the whole body", 5.0)},
        action="slow_body",
    ),
    FaultKind(
        "hang",
        "transport",
        "holds the request open for `seconds`, then answers 504",
        {"seconds": _seconds("time before the 504", 30.0)},
        action="hang",
    ),
    _task(
        "task_fail",
        "the task ends `failed` with `message`",
        "fail_message",
        "message",
        Param(
            str,
            "the task's error message",
            "Task failed: the model could not process the input",
            examples=("Task failed: no face detected in the video",),
        ),
    ),
    _task(
        "task_stuck",
        "the task stays `status` forever",
        "stuck",
        "status",
        Param(str, "where it gets stuck", "processing", choices=("pending", "processing")),
    ),
    _task(
        "task_slow",
        "the task's timings are multiplied by `factor`",
        "slow_factor",
        "factor",
        Param(float, "how many times slower", 10.0, low=0.0, high=1000.0, above=True),
    ),
    _task(
        "task_not_found",
        "the task's first `polls` polls answer 404 (eventual consistency)",
        "hidden_polls",
        "polls",
        Param(int, "polls that answer 404", 2, low=1, high=100),
    ),
    _task(
        "expire_early",
        "the task's record is dropped `seconds` after it ends",
        "retention_seconds",
        "seconds",
        Param(float, "clock seconds it is kept", 60.0, low=0.0, high=604_800.0),
    ),
    _result(
        "result_error",
        "the video download answers `status`",
        effects.refuse_download,
        params={"status": _status(403, (403, 404, 410, 500, 503))},
        label_param="status",
    ),
    _result("result_truncated", "serves the first half of the video", effects.truncate_download),
    _result(
        "result_corrupt",
        "keeps the video's length and breaks its MP4 structure",
        effects.corrupt_download,
    ),
    _result(
        "result_slow",
        "drips the video out over `seconds`",
        effects.drip_download,
        params={"seconds": _seconds("time to send the whole file", 5.0)},
    ),
)

#: Every fault kind by name, in the order the docs list them.
FAULT_KINDS: Mapping[str, FaultKind] = MappingProxyType({kind.name: kind for kind in _KINDS})
