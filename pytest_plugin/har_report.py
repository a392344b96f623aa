"""`--lipsync-har-dir DIR`: a failed test's exchanges as a HAR file, for a browser's tools.

The failure report (`report.py`) shows the tail of the journal as text; a HAR file holds
every exchange of the test with its headers and bodies, and opens in any browser's
network panel. It is written by the journal's one HAR writer (`journal.har`), the same
one `GET /_mock/journal.har` serves: keys redacted, bodies as bounded as the journal
keeps them, retries marked as the auditor groups them.

One file per mock of a failed test (`<test id>.har`, then `-2`, `-3`… for more mocks),
its name made safe for any file system; a failure in setup or teardown adds the phase
(`<test id>.setup.har`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.journal.har import har_json

__all__ = ["HAR_DIR_OPTION", "add_har_option", "har_file_name", "write_failure_har"]

HAR_DIR_OPTION = "lipsync_har_dir"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_LONGEST = 120


def add_har_option(group: pytest.OptionGroup, parser: pytest.Parser) -> None:
    help_text = "write each failed test's exchanges with the mock to DIR as a HAR file"
    group.addoption(
        "--lipsync-har-dir", default=None, dest=HAR_DIR_OPTION, metavar="DIR", help=help_text
    )
    parser.addini(HAR_DIR_OPTION, help_text, default="")


def har_file_name(nodeid: str, when: str = "call", index: int = 1) -> str:
    """A file name for one mock of one test: readable, safe, and distinct per test (a
    name cut to length keeps a digest of the whole id)."""
    name = _UNSAFE.sub("_", nodeid).strip("._") or "test"
    if len(name) > _LONGEST:
        digest = hashlib.sha256(nodeid.encode()).hexdigest()[:10]
        name = f"{name[:_LONGEST]}-{digest}"
    if index > 1:
        name += f"-{index}"
    if when != "call":
        name += f".{when}"
    return name + ".har"


def _origin(mock: LipSyncMock) -> str:
    """The server's URL, or empty in-process (each request's Host header is used)."""
    try:
        return mock.url
    except RuntimeError:
        return ""


def _har_dir(config: pytest.Config) -> Path | None:
    given = config.getoption(HAR_DIR_OPTION) or config.getini(HAR_DIR_OPTION)
    return Path(str(given)) if given else None


def write_failure_har(
    item: pytest.Item, report: pytest.TestReport, mocks: Sequence[LipSyncMock]
) -> list[Path]:
    """Write the HAR files of a failed test's mocks, when `--lipsync-har-dir` is given;
    the paths written (also added to the report, so the failure names them)."""
    folder = _har_dir(item.config)
    if folder is None or not mocks:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for index, mock in enumerate(mocks, 1):
        origin = _origin(mock)
        path = folder / har_file_name(item.nodeid, report.when, index)
        path.write_text(
            har_json(mock.journal.entries(), title=item.nodeid, origin=origin), encoding="utf-8"
        )
        written.append(path)
    report.sections.append(("lipsync HAR", "\n".join(str(path) for path in written)))
    return written
