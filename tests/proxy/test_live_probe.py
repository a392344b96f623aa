"""The drift probe against the real service: runs only when a key is given
(`--modellix-api-key KEY` or `$MODELLIX_API_KEY`), since it is the one test that leaves this
machine. It sends only the probe's free requests; the paid submit is for `drift
--upstream ... --allow-paid` by hand."""

from __future__ import annotations

import os

import pytest

from vidu_lipsync_mock.proxy.drift import render
from vidu_lipsync_mock.proxy.probe import run_probe

UPSTREAM = "https://api.modellix.ai"


@pytest.fixture
def real_key(request: pytest.FixtureRequest) -> str:
    key = request.config.getoption("--modellix-api-key") or os.environ.get("MODELLIX_API_KEY")
    if not key:
        pytest.skip("no key for the real service: give --modellix-api-key or $MODELLIX_API_KEY")
    return str(key)


def test_the_mock_answers_the_free_probe_as_the_real_service_does(real_key: str) -> None:
    found = [d for d in run_probe(UPSTREAM, real_key) if d.drift]
    assert not found, render(found)
