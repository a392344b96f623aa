"""The layers hold: imports point one way, the plain-Python layers use no HTTP framework,
`mockserver/` never imports pytest, modules stay short.

The rules are `tools/architecture.py`'s, which the docs build renders and enforces too;
here they run as a unit test, so a broken rule fails the suite even where the docs are not
built. The second half feeds the checker made-up modules, to show each rule can fail.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


# `tools/` holds scripts, not a package: its folder goes on the path, never the repository
# root (which would make the source folders importable under their folder names).
sys.path.insert(0, str(REPO / "tools"))
import architecture as rules  # noqa: E402


@pytest.fixture(scope="module")
def facts() -> dict[str, object]:
    return rules.module_facts()


def test_the_code_keeps_every_architecture_rule(facts) -> None:
    assert rules.check_architecture(facts) == []


def test_every_module_of_the_package_is_in_a_layer(facts) -> None:
    placed = {
        where: rules.layer_of(fact.name.removesuffix(".__init__"))
        for where, fact in facts.items()
        if fact.package == "mockserver"
    }
    assert "mockserver/service/clock.py" in placed
    assert placed["mockserver/state.py"] == "state"
    assert placed["mockserver/http/public_app.py"] == "http"
    assert placed["mockserver/cli.py"] == "runner"
    assert [where for where, layer in placed.items() if layer is None] == []


def test_no_module_of_mockserver_imports_pytest(facts) -> None:
    offenders = [
        where
        for where, fact in facts.items()
        if fact.package == "mockserver"
        and ("pytest" in fact.external or any(i.startswith("pytest_plugin") for i in fact.internal))
    ]
    assert offenders == []


def test_the_plain_python_layers_import_no_http_framework(facts) -> None:
    pure = [
        fact
        for fact in facts.values()
        if fact.package == "mockserver"
        and rules.layer_of(fact.name) in ("faults", "service", "journal", "media", "state")
    ]
    assert {f.where for f in pure} >= {"mockserver/state.py", "mockserver/config.py"}
    offenders = {
        f.where: sorted(f.external & {"starlette", "uvicorn", "httpx"})
        for f in pure
        if f.external & {"starlette", "uvicorn", "httpx"}
    }
    assert offenders == {}


def test_no_module_is_over_the_line_limit_beyond_the_shrinking_allow_list(facts) -> None:
    # The allow-list (tools/architecture.py OVERSIZED) only shrinks: the modules other
    # work is splitting today. A module that gets short again must leave it.
    over = {where for where, fact in facts.items() if fact.lines > 450}
    assert over <= set(rules.OVERSIZED)
    assert set(rules.OVERSIZED) <= over
    assert set(rules.OVERSIZED) <= {
        "mockserver/faults/engine.py",
        "mockserver/service/store.py",
        "pytest_plugin/audit.py",
        "pytest_plugin/strategies.py",
    }


def test_relative_imports_are_read_as_the_modules_they_name(facts) -> None:
    plugin = facts["pytest_plugin/plugin.py"]
    assert {"pytest_plugin.fixtures", "pytest_plugin.settings"} <= plugin.internal
    assert "fixtures" not in plugin.internal


# -- the checker fails where it should --------------------------------------------------


def _problems_of(tmp_path: Path, files: dict[str, str]) -> list[str]:
    """The checker's findings about made-up modules (only those: the real allow-lists
    name files that the scratch tree does not have)."""
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (tmp_path / "pytest_plugin").mkdir(exist_ok=True)
    facts = rules.module_facts(tmp_path)
    return [p for p in rules.check_architecture(facts) if p.split(" ", 1)[0] in files]


@pytest.mark.parametrize(
    ("where", "source", "finding"),
    [
        (
            "mockserver/faults/bad.py",
            "from vidu_lipsync_mock.http.public_app import PublicApp\n",
            "against the direction of dependencies",
        ),
        (
            "mockserver/service/bad.py",
            "from vidu_lipsync_mock.state import MockState\n",
            "against the direction of dependencies",
        ),
        (
            "mockserver/state.py",
            "from vidu_lipsync_mock import LipSyncMock\n",
            "imports __init__ (runner), against the direction",
        ),
        ("mockserver/journal/bad.py", "import starlette.responses\n", "plain Python"),
        ("mockserver/media/bad.py", "from httpx import Client\n", "plain Python"),
        ("mockserver/config.py", "import uvicorn\n", "plain Python"),
        ("mockserver/http/bad.py", "import pytest\n", "imports pytest"),
        (
            "mockserver/mock.py",
            "from vidu_lipsync_mock.pytest_plugin.remote import RemoteMock\n",
            "imports pytest",
        ),
        ("mockserver/service/bad.py", "import time\n", "imports time"),
        ("mockserver/nowhere.py", '"""A module in no layer."""\n', "in no layer"),
        ("mockserver/state.py", "from mockserver.service import clock\n", "by folder name"),
        ("pytest_plugin/bad.py", "from pytest_plugin.remote import RemoteMock\n", "by folder name"),
        ("pytest_plugin/long.py", "x = 1\n" * 451, "451 lines, over 450"),
    ],
)
def test_the_checker_reports_each_broken_rule(tmp_path, where, source, finding) -> None:
    problems = _problems_of(tmp_path, {where: source})
    assert len(problems) == 1, problems
    assert finding in problems[0]


def test_the_checker_allows_what_the_rules_allow(tmp_path) -> None:
    problems = _problems_of(
        tmp_path,
        {
            "mockserver/http/ok.py": (
                "import starlette\nimport time\n"
                "from vidu_lipsync_mock.state import MockState\n"
                "from vidu_lipsync_mock.faults.engine import Fault\n"
            ),
            "mockserver/server.py": "import time\nimport uvicorn\n",
            "pytest_plugin/ok.py": "import pytest\nfrom vidu_lipsync_mock.cli import main\n",
            "mockserver/service/ok.py": "from .clock import Clock\n",
        },
    )
    # http.ok imports time without being a time reader; nothing else is wrong.
    assert [p.split(" ", 1)[0] for p in problems] == ["mockserver/http/ok.py"]
    assert "imports time" in problems[0]


def test_an_allow_list_entry_must_go_once_its_module_is_short(tmp_path, monkeypatch) -> None:
    # A made-up allow-list: the real one may be empty.
    allowed = {"mockserver/service/big.py": "being split", "mockserver/gone.py": "split"}
    monkeypatch.setattr(rules, "OVERSIZED", allowed)
    where = next(iter(rules.OVERSIZED))
    path = tmp_path / where
    path.parent.mkdir(parents=True)
    path.write_text("x = 1\n" * 450, encoding="utf-8")
    (tmp_path / "mockserver").mkdir(exist_ok=True)
    (tmp_path / "pytest_plugin").mkdir(exist_ok=True)
    problems = rules.check_architecture(rules.module_facts(tmp_path))
    assert f"{where} is down to 450 lines: drop it from OVERSIZED" in problems
    others = [w for w in rules.OVERSIZED if w != where]
    assert all(f"{w} is in OVERSIZED but no longer exists: drop it" in problems for w in others)
