"""The `pytest11` entry point: options, ini keys, the `lipsync` marker, the fixtures, the
run header and the failure report. Disable with `-p no:lipsync`."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from .fixtures import (
    MOCKS_KEY,
    _lipsync_session,
    lipsync_async_client,
    lipsync_ca_bundle,
    lipsync_client,
    lipsync_env,
    lipsync_live,
    lipsync_media,
    lipsync_mock,
    lipsync_remote,
    lipsync_server,
    lipsync_url,
    session_seed,
)
from .har_report import add_har_option, write_failure_har
from .intercept import lipsync_intercept
from .report import TEST_START_KEY, describe_mock
from .settings import MARKER, OPTIONS, check_options

__all__ = [
    "_lipsync_session",
    "lipsync_async_client",
    "lipsync_ca_bundle",
    "lipsync_client",
    "lipsync_env",
    "lipsync_intercept",
    "lipsync_live",
    "lipsync_media",
    "lipsync_mock",
    "lipsync_remote",
    "lipsync_server",
    "lipsync_url",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lipsync", "vidu-lipsync-mock (Modellix lip-sync emulator)")
    for name, spec in OPTIONS.items():
        flag = "--lipsync-" + name.replace("_", "-")
        if spec.kind is bool:
            group.addoption(
                flag, action="store_true", default=None, dest=f"lipsync_{name}", help=spec.help
            )
        else:
            group.addoption(flag, default=None, dest=f"lipsync_{name}", help=spec.help)
        # Read as text, switches too, so that `check_options` names a bad value and what
        # the key accepts (pytest's own bool reading fails with "invalid truth value").
        parser.addini(f"lipsync_{name}", spec.help, default="")
    add_har_option(group, parser)


def pytest_configure(config: pytest.Config) -> None:
    check_options(config)  # a bad option is one usage error now, not one per test
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**settings): configure this test's mock — any MockConfig field (profile, "
        "seed, progression, pending_seconds, rate_limit, ...) plus faults=[rule, ...], "
        "strict_keys=[key, ...], fast_forward=True, audit=True or audit={thresholds}; tls=True "
        "serves lipsync_live over HTTPS; strict_requests=True fails the test on requests the "
        "mock does not serve; intercept_passthrough=True and intercept_origins=[...] tune "
        "lipsync_intercept",
    )


def pytest_report_header(config: pytest.Config) -> str:
    return (
        f"lipsync: seed {session_seed(config)} (replay with --lipsync-seed {session_seed(config)})"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        starts = item.stash.get(TEST_START_KEY, {})
        mocks = item.stash.get(MOCKS_KEY, [])
        for mock in mocks:
            described = describe_mock(mock, item.config, start=starts.get(id(mock)))
            report.sections.append(("lipsync", described))
        write_failure_har(item, report, mocks)
    return report
