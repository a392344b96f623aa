"""The documentation builds strictly: any Sphinx warning fails the test.

The command is the documented one,

    python -m sphinx -W --keep-going -n -b html docs docs/_build/html

with the output (and the doctrees) in a scratch directory, so a stale `docs/_build` can
never hide a warning and parallel runs never share one. The generated reference pages
(`docs/_ext/mockref.py`) run at build time, so this is also the test that they still match
the code: the extension warns when the admin route table, the architecture rules or the
layer map disagree with it.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("sphinx") is None
    or importlib.util.find_spec("myst_parser") is None
    or importlib.util.find_spec("furo") is None,
    reason="the docs need sphinx, myst-parser and furo (the 'docs' or 'test' extra)",
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, docs_tools: Any) -> Path:
    out = tmp_path_factory.mktemp("html")
    doctrees = tmp_path_factory.mktemp("doctrees")
    argv = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-n",
        "-b",
        "html",
        "-d",
        str(doctrees),
        "docs",
        str(out),
    ]
    result = subprocess.run(
        argv,
        cwd=REPO,
        env=docs_tools.subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    assert not warnings, "\n".join(warnings)
    assert result.returncode == 0, (
        f"{' '.join(argv)} exited {result.returncode} with {len(warnings)} warning(s):\n"
        + "\n".join(warnings or result.stderr.splitlines()[-30:])
    )
    return out


def text_of(html: Path) -> str:
    return re.sub(r"<[^>]+>", " ", html.read_text(encoding="utf-8"))


def test_every_page_is_built(built: Path, docs_tools: Any) -> None:
    pages = {p.stem for p in docs_tools.DOCS.glob("*.md")}
    assert pages == {
        "index",
        "quickstart",
        "zero-to-green",
        "concepts",
        "service",
        "pytest",
        "intercept",
        "media",
        "faults",
        "recipes",
        "https",
        "admin-api",
        "drift",
        "state",
        "inspector",
        "architecture",
        "limits",
        "performance",
    }
    for page in pages:
        assert (built / f"{page}.html").is_file(), page


def test_the_reference_covers_every_setting_route_and_flag(built: Path) -> None:
    import dataclasses

    from vidu_lipsync_mock import MockConfig
    from vidu_lipsync_mock.http.admin_routes import ADMIN_PREFIX, AdminApi
    from vidu_lipsync_mock.http.openapi import build_openapi
    from vidu_lipsync_mock.service.registry import Registry
    from vidu_lipsync_mock.state import MockState

    page = text_of(built / "admin-api.html")
    for f in dataclasses.fields(MockConfig):
        assert f.name in page, f"setting {f.name} missing from the reference"
    for path in build_openapi(Registry.bundled())["paths"]:
        assert path in page, f"route {path} missing from the reference"
    for route in AdminApi(MockState()).routes():
        assert route.path.startswith(ADMIN_PREFIX)
        assert route.path in page
    assert "usage: vidu-lipsync-mock serve" in page  # the captured --help


def test_the_pytest_page_covers_every_fixture_and_option(built: Path, docs_tools: Any) -> None:
    from vidu_lipsync_mock.pytest_plugin import plugin
    from vidu_lipsync_mock.pytest_plugin.settings import OPTIONS

    source = (docs_tools.DOCS / "pytest.md").read_text(encoding="utf-8")
    fixtures = [name for name in plugin.__all__ if not name.startswith("_")]
    missing = [name for name in fixtures if f"`{name}`" not in source]
    assert not missing, f"fixtures the pytest page does not describe: {missing}"
    page = text_of(built / "pytest.html")
    for name in OPTIONS:
        assert "--lipsync-" + name.replace("_", "-") in page
        assert f"lipsync_{name}" in page


def test_the_cookbook_describes_every_fault_profile_and_magic_input(
    built: Path, docs_tools: Any
) -> None:
    from vidu_lipsync_mock.faults import FAULT_KINDS
    from vidu_lipsync_mock.faults.profiles import PROFILES
    from vidu_lipsync_mock.service.magic import MAGIC_SCENARIOS

    prose = (docs_tools.DOCS / "faults.md").read_text(encoding="utf-8")
    undescribed = [kind for kind in FAULT_KINDS if f"`{kind}`" not in prose]
    assert not undescribed, f"fault kinds the cookbook's prose does not explain: {undescribed}"
    page = text_of(built / "faults.html")
    for name in [*PROFILES, *MAGIC_SCENARIOS]:
        assert name in page
