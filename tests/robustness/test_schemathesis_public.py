"""Schemathesis with every check it has, on the provider's API as the mock serves it (every
operation of `/openapi.json` outside `/_mock`), in-process, with faults off and a valid key.

Beyond the conformance checks of `test_schemathesis.py`, this runs the ones that judge the
document against the server: a schema-valid request must be accepted (ST202), a
schema-invalid one refused, auth must be enforced, a required header must be required.
One answer the document cannot describe is allowed: an upload whose bytes are not a
video, an audio or an image is refused with 415 (the provider sniffs the file; a schema
can only say "binary"). Extra query parameters and body fields are not negative data:
the provider ignores or accepts them.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import load_all_checks
from schemathesis.config import SchemathesisConfig

from vidu_lipsync_mock import LipSyncMock

EXAMPLES = max(1, int(25 * float(os.environ.get("LIPSYNC_ROBUSTNESS_SCALE", "1"))))
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]

load_all_checks()
CONFIG = SchemathesisConfig.from_dict(
    {
        # The provider ignores query parameters it does not know and accepts unknown body
        # fields (documented in docs/service.md): an extra one is not invalid data.
        "generation": {"allow-extra-parameters": False},
        "operations": [
            {
                "include-operation-id": "uploadFile",
                "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "415"]}},
            }
        ],
    }
)
MOCK = LipSyncMock(clock="manual", rate_limit=0, seed=13)
schema = schemathesis.openapi.from_asgi("/openapi.json", MOCK.app, config=CONFIG).exclude(
    path_regex="^/_mock"
)
CRASHES: list[Any] = []


@pytest.fixture(scope="module", autouse=True)
def _mock_never_crashed():
    yield
    CRASHES.extend(MOCK.crashes)
    assert not CRASHES, "the mock crashed (client saw a 500):\n" + "\n".join(
        f"{c.method} {c.path}\n{c.traceback}" for c in CRASHES
    )


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_public_operation_passes_every_check(case):
    CRASHES.extend(MOCK.crashes)
    MOCK.reset()
    case.call_and_validate(headers=MOCK.auth_headers)
    assert MOCK.crashes == []


@pytest.mark.parametrize("query", ["page=", "page_size=", "page=&page_size=10"])
def test_an_empty_page_number_is_refused_like_any_other_non_number(make_mock, asgi, query):
    """Deterministic companion of the negative checks: `page=` is not a page number (it
    was read as no page at all, and the document says integer)."""
    mock = make_mock()
    response = asgi(mock).request("GET", f"/api/v1/models?{query}", headers=mock.auth_headers)
    assert response.status_code == 400
    assert "must be an integer from 1 to" in response.json()["message"]
