"""`X-Mock-Fault: error; status=503`: one fault for one request, asked for by the client.

The header is one more way in for a fault, so it is read into the same `Fault` the rules
build, and checked against the same declarations (`kinds`): a value out of range is refused
with the same message here as in the admin API or in `add_fault`.
"""

from __future__ import annotations

from typing import Any

from vidu_lipsync_mock.faults.kinds import FAULT_KINDS, Fault
from vidu_lipsync_mock.faults.params import FaultError

__all__ = ["parse_fault_header"]


def parse_fault_header(value: str) -> Fault:
    """`X-Mock-Fault: error; status=503` — one fault for this request only.

    Options are `name=value` pairs after the kind, separated by `;`; numbers are read as
    numbers. A malformed header is the client's mistake and is answered with a 400.
    """
    parts = [part.strip() for part in value.split(";") if part.strip()]
    if not parts:
        raise FaultError("X-Mock-Fault is empty")
    kind, options = parts[0], {}
    spec = FAULT_KINDS.get(kind)
    for part in parts[1:]:
        name, sep, raw = part.partition("=")
        if not sep:
            raise FaultError(f"X-Mock-Fault option {part!r} must be name=value")
        name, raw = name.strip(), raw.strip()
        param = spec.params.get(name) if spec is not None else None
        parsed: Any = raw
        if param is not None:
            try:
                parsed = param.parse(raw)
            except ValueError:
                raise FaultError(f"X-Mock-Fault option {name} must be a number") from None
        options[name] = parsed
    return Fault(kind, options)
