"""Property-based tests with the plugin's Hypothesis strategies.

Hypothesis and function-scoped fixtures do not mix (the fixture would not be reset between
examples), so these tests build their own mock once and reset it per example.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import given, settings

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.pytest_plugin.strategies import (
    InvalidBody,
    api_keys,
    fault_rules,
    invalid_submit_bodies,
    submit_bodies,
)
from vidu_lipsync_mock.pytest_plugin.transport import SyncMockTransport

SUBMIT = "/api/v1/vidu/lip-sync/async"
MOCK = LipSyncMock(clock="manual")


def client_for(mock: LipSyncMock, key: str) -> httpx.Client:
    return httpx.Client(
        transport=SyncMockTransport(mock.app),
        base_url="http://lipsync.test",
        headers={"Authorization": f"Bearer {key}"},
    )


@settings(max_examples=25, deadline=None, derandomize=True)  # stable in CI
@given(body=submit_bodies(), key=api_keys())
def test_every_valid_body_is_accepted(body: dict[str, Any], key: str) -> None:
    MOCK.reset()
    with client_for(MOCK, key) as client:
        assert client.post(SUBMIT, json=body).status_code == 200


@settings(max_examples=25, deadline=None, derandomize=True)  # stable in CI
@given(case=invalid_submit_bodies())
def test_every_invalid_body_gets_the_providers_400(case: InvalidBody) -> None:
    MOCK.reset()
    with client_for(MOCK, MOCK.api_key) as client:
        # Serialise by hand: the body may be `null`, and httpx's `json=None` sends nothing.
        raw = json.dumps(case.body).encode()
        response = client.post(SUBMIT, content=raw, headers={"Content-Type": "application/json"})
    assert response.json() == {"code": 400, "message": case.message}


@settings(max_examples=25, deadline=None, derandomize=True)  # stable in CI
@given(rule=fault_rules(kinds=["error", "task_fail", "truncated_json"]))
def test_any_generated_rule_is_accepted(rule: dict[str, Any]) -> None:
    MOCK.reset()
    assert MOCK.add_fault(rule).fault.kind in ("error", "task_fail", "truncated_json")
