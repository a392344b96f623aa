"""Schemathesis against the document the mock serves: every operation of `/openapi.json`
(the provider's API, the file hosts and the admin API), fed generated valid and invalid
requests in-process, with faults off and a valid key.

A response must never be a 5xx, its status must be one the document declares for the
operation, its Content-Type and headers the declared ones, and its body must match the
declared schema; an undeclared method gets 405 with an exact `Allow`.
Bounded (25 examples per operation) so the suite stays fast; `LIPSYNC_ROBUSTNESS_SCALE`
multiplies that for a deeper run.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from vidu_lipsync_mock import LipSyncMock

EXAMPLES = max(1, int(25 * float(os.environ.get("LIPSYNC_ROBUSTNESS_SCALE", "1"))))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    # A method the document does not declare for a path gets 405 with an `Allow` header
    # listing exactly the declared ones.
    unsupported_method,
]

# One mock for the module: Schemathesis builds its tests from the schema at import time.
# Rate limiting is off (hundreds of requests from one key), the clock is manual.
MOCK = LipSyncMock(clock="manual", rate_limit=0, seed=11)
schema = schemathesis.openapi.from_asgi("/openapi.json", MOCK.app)
#: Crashes seen so far; `reset()` starts a new list, so they are collected before each one.
CRASHES: list[Any] = []


def _collect_crashes() -> None:
    CRASHES.extend(MOCK.crashes)
    MOCK.crashes.clear()


@pytest.fixture(scope="module", autouse=True)
def _mock_never_crashed():
    yield
    _collect_crashes()
    assert not CRASHES, "the mock crashed (client saw a 500):\n" + "\n".join(
        f"{c.method} {c.path}\n{c.traceback}" for c in CRASHES
    )


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_operation_conforms_to_the_served_document(case):
    # Each example starts from a new mock without faults: the admin API is in the document
    # too, and a generated request may have added a rule, loaded a profile or moved the
    # clock. Examples stay independent, so a failure shrinks and replays exactly.
    _collect_crashes()
    MOCK.reset()
    case.call_and_validate(headers=MOCK.auth_headers, checks=CHECKS)
    assert MOCK.crashes == []


TRIED_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")


def test_undeclared_methods_get_405_with_exactly_the_declared_allow(make_mock, asgi):
    """Deterministic companion of the generated checks above: on every path of the served
    document, each method it does not declare is answered 405, and `Allow` lists exactly
    the declared methods (plus HEAD wherever GET is)."""
    mock = make_mock(rate_limit=0)
    client = asgi(mock)
    document = client.request("GET", "/openapi.json").json()
    paths = document["paths"]
    patterns = {
        t: re.compile("[^/]+".join(re.escape(p) for p in re.split(r"\{[^}]+\}", t))) for t in paths
    }
    wrong = []
    for template in paths:
        path = re.sub(r"\{[^}]+\}", "task-x", template)
        # Every operation whose template matches this path (`/_mock/faults/trace` is also
        # `/_mock/faults/{rule_id}`).
        declared = {
            m.upper()
            for other, pattern in patterns.items()
            if pattern.fullmatch(path)
            for m in paths[other]
            if m.upper() in TRIED_METHODS
        }
        if "GET" in declared:
            declared.add("HEAD")
        for method in sorted(set(TRIED_METHODS) - declared):
            response = client.request(method, path, headers=mock.auth_headers)
            allow = {m.strip() for m in response.headers.get("allow", "").split(",") if m.strip()}
            if response.status_code != 405 or allow != declared:
                wrong.append(
                    f"{method} {path}: {response.status_code}, Allow {sorted(allow)}, "
                    f"declared {sorted(declared)}"
                )
    assert wrong == [], "\n".join(wrong)
    assert mock.crashes == []
