"""What a task keeps of its request: bounded, whatever the client sent.

A task lives for days and the store holds up to `max_tasks` of them, so what each keeps
must not grow with the body. Declared fields are kept whole (validation capped each at
`validation.FIELD_LIMIT`). Undeclared fields are accepted, as the provider accepts them,
and kept in the body's order up to `EXTRAS_LIMIT` bytes of compact JSON in all; the first
that does not fit, and every one after it, becomes one summary under `OMITTED` (count,
size and SHA-256 of their compact ASCII JSON), so a test can still check what arrived.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["EXTRAS_LIMIT", "OMITTED", "kept_params", "omitted_summary"]

#: Bytes of compact JSON a task keeps of the fields its schema does not declare.
EXTRAS_LIMIT = 4096

#: The parameter that sums up the fields a task did not keep. A client's own field of
#: this name is never kept as sent: it is summed up with the others.
OMITTED = "_mock_omitted"


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def omitted_summary(fields: Mapping[str, Any]) -> dict[str, Any]:
    """`{"fields": n, "bytes": size, "sha256": hex}` of the fields not kept."""
    try:
        encoded = _compact(dict(fields)).encode("ascii")
    except (ValueError, RecursionError):  # nested as deep as the parser allows
        encoded = repr(sorted(fields)).encode("ascii", "backslashreplace")
    return {
        "fields": len(fields),
        "bytes": len(encoded),
        "sha256": hashlib.sha256(encoded).hexdigest(),
    }


def kept_params(params: Mapping[str, Any], declared: frozenset[str]) -> dict[str, Any]:
    """The parameters a task keeps of a valid body (see the module's docstring).

    A body of declared fields only, nearly every body, costs one set test and a copy."""
    if declared.issuperset(params):
        return dict(params)
    kept: dict[str, Any] = {}
    omitted: dict[str, Any] = {}
    room = EXTRAS_LIMIT
    for name, value in params.items():
        if name in declared:
            kept[name] = value
            continue
        if not omitted and name != OMITTED:
            size = len(name) + 4  # "name":value,
            if isinstance(value, str) and len(value) + size > room:
                size += len(value)  # too long already: no need to encode it
            else:
                try:
                    size += len(_compact(value))
                except (ValueError, RecursionError):
                    size = room + 1
            if size <= room:
                kept[name] = value
                room -= size
                continue
        omitted[name] = value
    if omitted:
        kept[OMITTED] = omitted_summary(omitted)
    return kept
