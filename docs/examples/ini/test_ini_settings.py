"""Settings from the ini file (`ini/pyproject.toml` beside this file); a marker still wins."""

from __future__ import annotations

import pytest

from vidu_lipsync_mock import LipSyncMock


def test_ini_keys_configure_every_mock(lipsync_mock: LipSyncMock) -> None:
    assert lipsync_mock.default_progression.describe()["kind"] == "polls"
    assert lipsync_mock.config.rate_limit == 0


@pytest.mark.lipsync(progression="clock")
def test_the_marker_overrides_the_ini(lipsync_mock: LipSyncMock) -> None:
    assert lipsync_mock.default_progression.describe()["kind"] == "clock"
