"""What a fault does once it fired, apart from the socket: the change to a submitted task,
the way its result file is served, the bytes an answer is rewritten to, the delay drawn.

The fault kinds (`kinds`) name these effects in their declarations; the state applies
`TaskEffects` to a new task, the download route asks `deliver_result` how to serve a
result file, and the edge (`http.fault_actions`) sends what `rewrite` gives. Everything here
is plain data and functions of bytes and options, so it is tested without a server.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vidu_lipsync_mock.faults.params import MAX_DELAY_SECONDS

if TYPE_CHECKING:
    from vidu_lipsync_mock.faults.kinds import Fault

__all__ = [
    "DEFAULT_MESSAGES",
    "MALFORMED_JSON",
    "NO_EFFECTS",
    "ResultDelivery",
    "TaskChange",
    "TaskEffects",
    "deliver_result",
    "drip",
    "message_for",
]

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

MALFORMED_JSON = b'{"code":0,"message":"success","data":{"status":"pending" "task_id":}'


def message_for(status: int) -> str:
    """The default message of an error answered with this status."""
    return DEFAULT_MESSAGES.get(status, "Internal server error")


# -- the lifecycle effect -----------------------------------------------------------------


@dataclass(frozen=True)
class TaskChange:
    """How a task or result fault changes the task a submit creates: it sets the
    `TaskEffects` field `field` to its parameter `param` (None: to the fault itself, which
    the download route then consults)."""

    field: str
    param: str | None = None


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
        """Each fault's declared change, in order (a later one of the same field wins)."""
        changes: dict[str, Any] = {}
        for fault in faults:
            change = fault.spec.change
            if change is not None:
                changes[change.field] = fault if change.param is None else fault.param(change.param)
        return cls(**changes)


#: What a submit that no task fault touched gets.
NO_EFFECTS = TaskEffects()


# -- the result effect --------------------------------------------------------------------


@dataclass(frozen=True)
class ResultDelivery:
    """How a result file reaches the client under a result fault: refused with `status`
    and `message`, or served as `data` (`damaged`: no longer the file its ETag named),
    dripped out through `stream` when that is set."""

    data: bytes = b""
    status: int = 200
    message: str = ""
    damaged: bool = False
    stream: AsyncIterator[bytes] | None = None


async def drip(data: bytes, seconds: float, pieces: int) -> AsyncIterator[bytes]:
    """`data` in `pieces` chunks, each after its share of `seconds`."""
    step = max(1, -(-len(data) // pieces))
    for offset in range(0, len(data), step):
        await asyncio.sleep(seconds / pieces)
        yield data[offset : offset + step]


def refuse_download(fault: Fault, data: bytes) -> ResultDelivery:
    status = int(fault.param("status"))
    return ResultDelivery(status=status, message=message_for(status))


def truncate_download(fault: Fault, data: bytes) -> ResultDelivery:
    return ResultDelivery(data[: len(data) // 2], damaged=True)


def corrupt_download(fault: Fault, data: bytes) -> ResultDelivery:
    """Keep the length, overwrite the structure after `ftyp`."""
    scrambled = data[:32] + bytes(b ^ 0x5A for b in data[32:96]) + data[96:]
    return ResultDelivery(scrambled, damaged=True)


def drip_download(fault: Fault, data: bytes) -> ResultDelivery:
    return ResultDelivery(data, stream=drip(data, float(fault.param("seconds")), 20))


def deliver_result(fault: Fault, data: bytes) -> ResultDelivery:
    """How the result file `data` is served under this result fault."""
    serve = fault.spec.serve
    if serve is None:
        raise ValueError(f"{fault.kind} is not a result fault")
    return serve(fault, data)


# -- the HTTP effect's data: rewritten bodies and drawn delays --------------------------


def first_half(body: bytes) -> bytes:
    return body[: max(1, len(body) // 2)]


def malformed(body: bytes) -> bytes:
    return MALFORMED_JSON


def nothing(body: bytes) -> bytes:
    return b""


def draw_latency(fault: Fault, rng: random.Random) -> float:
    """A latency fault's delay: fixed, uniform between `min` and `max`, or log-normal
    around `median`; never past `max` or `MAX_DELAY_SECONDS`."""
    o = fault.options
    low = o.get("min", 0.0)
    high = max(o.get("max", MAX_DELAY_SECONDS), low)
    if "median" in o:
        value = rng.lognormvariate(math.log(max(o["median"], 1e-6)), fault.param("sigma"))
    elif "min" in o or "max" in o:
        value = rng.uniform(low, high)
    else:
        value = fault.param("seconds")
    return float(min(max(value, low), high, MAX_DELAY_SECONDS))
