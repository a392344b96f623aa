"""The `pytest11` entry point: options, markers and fixtures for testing Modellix clients
against vidu-lipsync-mock. Disable with `-p no:lipsync`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mockserver import LipSyncMock


@pytest.fixture
def lipsync_mock() -> Iterator[LipSyncMock]:
    """A fresh in-process mock on a manual clock, for one test."""
    mock = LipSyncMock(clock="manual")
    yield mock
    mock.stop()
