"""Fixtures for driving the inspector in headless Chromium.

Playwright cannot download its own browser here, so it drives Debian's `chromium`
(`apt-get install -y chromium`; `.ci/run` installs it), headless and, as root, with
`--no-sandbox`. Without Playwright or a Chromium the browser tests are skipped, saying
which is missing. The scene the docs' screenshots show comes from
`docs/_scripts/screenshots.py`, loaded here so the tests run it too.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from vidu_lipsync_mock import LipSyncMock

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "_scripts" / "screenshots.py"


@pytest.fixture(scope="session")
def screenshots() -> ModuleType:
    spec = importlib.util.spec_from_file_location("inspector_screenshots", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def browser(screenshots: ModuleType) -> Iterator[Any]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (the `test` extra has it)"
    )
    executable = screenshots.chromium_path()
    if executable is None:
        pytest.skip(
            "no Chromium: install Debian's (apt-get install -y chromium) or set CHROMIUM; "
            "Playwright cannot download its own browser here"
        )
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@pytest.fixture
def live() -> Iterator[LipSyncMock]:
    """A mock on a loopback port whose tasks move only when pushed."""
    mock = LipSyncMock(clock="manual", progression="manual")
    mock.start()
    yield mock
    mock.stop()
    assert not mock.crashes, mock.crashes


@pytest.fixture
def page(browser: Any, live: LipSyncMock) -> Iterator[Any]:
    """The inspector of `live`, open; its console errors fail the test."""
    opened = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(f"{live.url}/_mock/ui")
    yield opened
    opened.close()
    assert not errors, errors
