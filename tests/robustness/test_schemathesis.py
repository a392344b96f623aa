"""Schemathesis against the document the mock serves: every operation of `/openapi.json`
(the provider's API, the file hosts and the admin API), fed generated valid and invalid
requests in-process, with faults off and a valid key.

A response must never be a 5xx, its status must be one the document declares for the
operation, its Content-Type and headers the declared ones, and its body must match the
declared schema; an undeclared method gets 405 with an exact `Allow`. The admin API gets
every check Schemathesis has (`ALL_CHECKS`): it must also accept every request its schema
allows and refuse every one it does not, except where the answer depends on what the
schema cannot say (`TUNING`, each with its reason).
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
from schemathesis.checks import CHECKS as REGISTERED_CHECKS
from schemathesis.checks import load_all_checks, not_a_server_error
from schemathesis.config import SchemathesisConfig
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

load_all_checks()
ALL_CHECKS = REGISTERED_CHECKS.get_all()

#: Admin operations whose schema-valid requests may still get a 400, because whether the
#: request can be carried out depends on something the schema cannot say:
#: - a fault rule's options depend on its kind, and its schedule on the kind of schedule
#:   (one option table per kind in faults/kinds.py, checked when the rule is built);
#: - a clock only moves forward, and not past the year 9999: whether `now` or `seconds`
#:   is valid depends on the clock's time;
#: - a progression's options depend on its kind, and `processing_on <= terminal_on`.
TUNING = """
[[operations]]
include-name = "POST /_mock/faults"
checks.positive_data_acceptance.expected-statuses = [200, 400]

[[operations]]
include-name = "PUT /_mock/clock"
checks.positive_data_acceptance.expected-statuses = [200, 400]

[[operations]]
include-name = "POST /_mock/clock/advance"
checks.positive_data_acceptance.expected-statuses = [200, 400]

[[operations]]
include-name = "POST /_mock/tasks/{task_id}/progression"
checks.positive_data_acceptance.expected-statuses = [200, 400, 404, 409]
"""

# One mock for the module: Schemathesis builds its tests from the schema at import time.
# Rate limiting is off (hundreds of requests from one key), the clock is manual.
MOCK = LipSyncMock(clock="manual", rate_limit=0, seed=11)
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", MOCK.app, config=SchemathesisConfig.from_str(TUNING)
)
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
    admin = case.operation.path.startswith("/_mock")
    case.call_and_validate(headers=MOCK.auth_headers, checks=ALL_CHECKS if admin else CHECKS)
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
        # The operations of this path: those of a literal path that is exactly it, else of
        # every template that matches it (OpenAPI: `/_mock/faults/trace` is only the trace,
        # not `/_mock/faults/{rule_id}`, and DELETE there is a 405).
        matching = (
            [path] if path in paths else [t for t, p in patterns.items() if p.fullmatch(path)]
        )
        declared = {
            m.upper() for other in matching for m in paths[other] if m.upper() in TRIED_METHODS
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
