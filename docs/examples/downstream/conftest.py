"""Shared by both example suites: a client pointed at the mock through the environment,
as production code would be pointed at api.modellix.ai."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from modellix_client import LipSyncClient


@pytest.fixture
def client(lipsync_env: dict[str, str]) -> Iterator[LipSyncClient]:
    client = LipSyncClient()  # reads MODELLIX_BASE_URL and MODELLIX_API_KEY
    yield client
    client.close()
