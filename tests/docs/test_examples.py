"""Every example file under docs/examples/ runs, the way the docs say to run it.

Python examples are real pytest test files using the plugin. They run in `python -m pytest`
subprocesses at the repository root, so under the project's strict pytest settings, and all
at once (one batch, plus one run per example that needs its own command line), because
each pytest start-up costs about a second. Results are read back per test from JUnit XML.
The Node and curl recipes run against a real server; the config file through the CLI.

A file added to docs/examples/ must be both included by a page and run here: the last
tests of this module check that.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from vidu_lipsync_mock import LipSyncMock

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "docs" / "examples"
EX = "docs/examples"

#: Examples that need a command line of their own: name -> (pytest arguments, outcomes).
SPECIAL: dict[str, tuple[list[str], dict[str, int]]] = {
    "options": (
        [
            f"{EX}/test_pytest_options.py",
            "--lipsync-progression",
            "manual",
            "--lipsync-rate-limit",
            "3",
        ],
        {"passed": 2},
    ),
    "ini": (["-c", f"{EX}/ini/pyproject.toml", f"{EX}/ini/test_ini_settings.py"], {"passed": 2}),
    "xdist": ([f"{EX}/test_pytest_xdist.py", "-n", "2"], {"passed": 6}),
    "report": ([f"{EX}/report_demo.py", "--lipsync-seed", "7"], {"failed": 1}),
}

#: Files the batch leaves to SPECIAL (the xdist example also runs in the batch, without -n).
NOT_IN_BATCH = {"test_pytest_options.py"}

#: Examples that show documented behaviour the code does not have yet, each with the bug.
#: They must fail; when one passes, the bug is fixed: drop it here and the warning in
#: docs/faults.md.
KNOWN_BROKEN: dict[str, str] = {}

#: Examples allowed to skip (an optional dependency).
MAY_SKIP = {"test_recipe_aiohttp.py"}


@dataclass
class Case:
    file: str
    name: str
    outcome: str  # passed, failed, error or skipped
    detail: str


@dataclass
class Run:
    argv: list[str]
    returncode: int
    output: str
    cases: list[Case]

    def outcomes(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for case in self.cases:
            counts[case.outcome] = counts.get(case.outcome, 0) + 1
        return counts


def batch_files() -> list[str]:
    return sorted(p.name for p in EXAMPLES.glob("test_*.py") if p.name not in NOT_IN_BATCH)


def _cases(xml_path: Path) -> list[Case]:
    cases = []
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        module = case.get("classname", "").rsplit(".", 1)[-1]
        outcome, detail = "passed", ""
        for kind in ("failure", "error", "skipped"):
            child = case.find(kind)
            if child is not None:
                outcome = {"failure": "failed"}.get(kind, kind)
                detail = (child.get("message") or "") + "\n" + (child.text or "")
                break
        cases.append(Case(f"{module}.py", case.get("name", ""), outcome, detail))
    return cases


@pytest.fixture(scope="module")
def runs(docs_tools: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    """Start every pytest run of the examples at once, then collect them all."""
    scratch = tmp_path_factory.mktemp("examples")
    plans = {"batch": ([f"{EX}/{name}" for name in batch_files()], {})}
    plans.update(SPECIAL)
    started = {}
    for name, (args, _) in plans.items():
        xml = scratch / f"{name}.xml"
        argv = [
            sys.executable,
            "-m",
            "pytest",
            *args,
            "-p",
            "no:cacheprovider",
            *docs_tools.SLOW_PLUGINS,
            f"--junitxml={xml}",
            "-o",
            "junit_family=xunit1",
        ]
        log = open(scratch / f"{name}.log", "w+", encoding="utf-8")  # noqa: SIM115
        proc = subprocess.Popen(
            argv,
            cwd=REPO,
            env=docs_tools.subprocess_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        started[name] = (argv, proc, log, xml)
    results = {}
    try:
        for name, (argv, proc, log, xml) in started.items():
            returncode = proc.wait(timeout=120)
            log.seek(0)
            output = log.read()
            cases = _cases(xml) if xml.exists() else []
            results[name] = Run(argv, returncode, output, cases)
    finally:
        for _argv, proc, log, _xml in started.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
    return results


@pytest.mark.parametrize("example", batch_files())
def test_example_passes(runs: dict[str, Run], example: str) -> None:
    run = runs["batch"]
    cases = [c for c in run.cases if c.file == example]
    assert cases, f"no test of {example} ran:\n{run.output[-3000:]}"
    for case in cases:
        key = f"{case.file}::{case.name}"
        if key in KNOWN_BROKEN:
            assert case.outcome == "failed", (
                f"{key} now passes, so this is fixed: {KNOWN_BROKEN[key]}. Remove it from "
                "KNOWN_BROKEN and drop the known-issue warning in docs/faults.md."
            )
        elif case.outcome == "skipped":
            assert example in MAY_SKIP, f"{key} was skipped: {case.detail}"
        else:
            assert case.outcome == "passed", f"{key} {case.outcome}:\n{case.detail}"


@pytest.mark.parametrize("name", sorted(SPECIAL))
def test_example_with_its_own_command_line(runs: dict[str, Run], name: str) -> None:
    run = runs[name]
    assert run.outcomes() == SPECIAL[name][1], f"{' '.join(run.argv)}\n{run.output[-4000:]}"


def test_the_failure_report_is_what_the_page_shows(runs: dict[str, Run], docs_tools: Any) -> None:
    """docs/pytest.md shows the `lipsync` section of report_demo.py's failure."""
    page = docs_tools.DOCS / "pytest.md"
    (shown,) = [
        b
        for b in docs_tools.parse_blocks(page)
        if b.options.get("caption") == "Output" and "-- lipsync --" in b.body
    ]
    lines = runs["report"].output.splitlines()
    start = next(n for n, line in enumerate(lines) if "-- lipsync --" in line)
    for offset, expected in enumerate(shown.body.splitlines()):
        actual = lines[start + offset]
        assert docs_tools.wildcard(expected).fullmatch(actual), (
            f"report line {offset}: {actual!r} does not match the page's {expected!r}"
        )


@pytest.fixture
def manual_server() -> Iterator[str]:
    mock = LipSyncMock(clock="manual")
    try:
        yield mock.start()
    finally:
        mock.stop()


def test_node_recipe(docs_tools: Any, manual_server: str) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH: the Node recipe (docs/examples/recipe_node.mjs) needs it")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    if int(version.stdout.strip().lstrip("v").split(".")[0]) < 18:
        pytest.skip(f"node {version.stdout.strip()} has no built-in fetch (needs 18 or newer)")
    result = subprocess.run(
        [node, str(EXAMPLES / "recipe_node.mjs")],
        env=docs_tools.subprocess_env(MOCK_URL=manual_server),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.fullmatch(r"ok: task-[a-z0-9]{24} -> 640x360 \d+ bytes\n", result.stdout)


def test_curl_recipe(docs_tools: Any, manual_server: str, tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", str(EXAMPLES / "recipe_curl.sh")],
        cwd=tmp_path,
        env=docs_tools.subprocess_env(MOCK_URL=manual_server),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "failed as asked: Task failed: no face detected in the video"
    assert lines[1] == "206 100"
    assert re.fullmatch(r"GET /api/v1/tasks/task-[a-z0-9]{24} 200", lines[2])


def test_config_file_example(docs_tools: Any) -> None:
    """The command docs/admin-api.md shows, and what it must print."""
    page = docs_tools.DOCS / "admin-api.md"
    (block,) = [b for b in docs_tools.parse_blocks(page) if "config --config" in b.body]
    words = block.body.split()
    assert words[0] == "vidu-lipsync-mock"
    result = subprocess.run(
        [sys.executable, "-m", "vidu_lipsync_mock", *words[1:]],
        cwd=REPO,
        env=docs_tools.subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert config["port"] == 9000  # the flag wins over the file
    assert (config["preset"], config["pending_seconds"], config["processing_seconds"]) == (
        "realistic",
        8.0,
        30.0,  # the preset's pending time, the file's processing time
    )
    assert config["speed"] == 10.0
    assert config["seed"] == 7
    assert [rule["fault"] for rule in config["faults"]] == ["error", "task_fail"]
    LipSyncMock(**{k: v for k, v in config.items() if k != "faults"}, faults=config["faults"])


#: Every example file, and what runs it.
RUN_BY = {
    **{name: "batch" for name in batch_files()},
    "test_pytest_options.py": "options",
    "ini/test_ini_settings.py": "ini",
    "ini/pyproject.toml": "ini",
    "report_demo.py": "report",
    "recipe_node.mjs": "test_node_recipe",
    "recipe_curl.sh": "test_curl_recipe",
    "mock.toml": "test_config_file_example",
    **{
        f"downstream/{p.name}": "tests/plugin/test_downstream_examples.py"
        for p in (EXAMPLES / "downstream").glob("*.py")
    },
}


def test_every_example_file_is_run_here() -> None:
    files = {
        str(p.relative_to(EXAMPLES))
        for p in EXAMPLES.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert files == set(RUN_BY), (
        f"not run by tests/docs/test_examples.py: {sorted(files - set(RUN_BY))}; "
        f"listed but missing: {sorted(set(RUN_BY) - files)}"
    )


def test_every_example_file_is_shown_on_a_page(docs_tools: Any) -> None:
    included = set()
    for page in docs_tools.DOCS.glob("*.md"):
        for match in re.finditer(r"\{literalinclude\}\s+examples/(\S+)", page.read_text()):
            included.add(match.group(1))
    missing = sorted(set(RUN_BY) - included)
    assert not missing, f"example files no page includes: {missing}"
