"""The shell blocks of the docs and of README.md, run against a real server.

Rules for every page (`docs/*.md` and README.md below its first code block, which CI runs
itself):

* a shell block (```bash and friends) runs, unless the line before it says
  `<!-- no-run: reason -->`;
* the runnable blocks of a page run in order, in one `bash -euo pipefail` session in a
  scratch directory, against a fresh `vidu-lipsync-mock serve --seed 1 --pending-seconds 0
  --processing-seconds 0` on a free port, with the pages' `http://127.0.0.1:8000`
  replaced by the server's URL;
* a ```json or ```text block right after a runnable block (nothing but blank lines
  between) is its expected output: JSON is compared as data (`…` in a string matches
  anything; timestamps and durations only need to be whole numbers), text line by line.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = [*sorted((REPO / "docs").glob("*.md")), REPO / "README.md"]
SERVER_FLAGS = ("--seed", "1", "--pending-seconds", "0", "--processing-seconds", "0")


def shell_blocks(docs_tools: Any, page: Path) -> list[Any]:
    blocks = docs_tools.parse_blocks(page)
    if page.name == "README.md":
        blocks = blocks[1:]  # the two start commands: CI runs them itself
    return [b for b in blocks if b.language in docs_tools.SHELL_LANGUAGES]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_a_block_that_does_not_run_shows_no_output(docs_tools: Any, page: Path) -> None:
    """An output shown under a `no-run` block could never be checked: refuse it."""
    unchecked = [b.where for b in shell_blocks(docs_tools, page) if b.no_run and b.output]
    assert not unchecked, f"output shown under blocks that do not run: {unchecked}"


def test_readme_keeps_its_two_start_commands_first() -> None:
    """CI runs the second line of README.md's first bash block; the tour must not move it.
    The first, the server, is the lean install (no extra: seconds, not a minute)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    first = re.search(r"^```bash\n(.*?)\n```$", text, re.MULTILINE | re.DOTALL)
    assert first is not None
    assert first.group(1).splitlines() == [
        "python3 -m venv .venv && .venv/bin/pip install -q -e . "
        "&& .venv/bin/vidu-lipsync-mock serve",
        "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' "
        "&& .venv/bin/python -m pytest -n auto",
    ]


#: Pages with a shell block not marked `no-run` (the marker is the line before the fence).
RUNNABLE = [
    page
    for page in PAGES
    if re.search(
        r"(?<!-->\n)^```(bash|sh|shell|console)\s*$", page.read_text(encoding="utf-8"), re.M
    )
]


@pytest.mark.parametrize("page", RUNNABLE, ids=lambda p: p.name)
def test_shell_blocks_print_what_the_page_shows(
    docs_tools: Any, cli_server: Any, page: Path, tmp_path: Path
) -> None:
    blocks = [b for b in shell_blocks(docs_tools, page) if b.no_run is None]
    if not blocks:
        pytest.skip(f"{page.name}: every shell block is marked no-run")
    server = cli_server(*SERVER_FLAGS)
    script = ["set -euo pipefail"]
    for n, block in enumerate(blocks):
        script.append(f"printf '\\n@@BLOCK {n}@@\\n'")
        script.append(block.body.replace(docs_tools.DOC_ORIGIN, server.url))
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=tmp_path,
        env=docs_tools.subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    outputs = re.split(r"\n@@BLOCK \d+@@\n", "\n" + result.stdout)[1:]
    ran = len(outputs)
    failed_at = blocks[ran - 1].where if ran else "the first block"
    assert result.returncode == 0, (
        f"{failed_at} failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
    )
    assert ran == len(blocks)
    problems = []
    for block, output in zip(blocks, outputs, strict=False):
        problems += docs_tools.check_output(block, output, server.url)
    assert not problems, "\n".join(problems)
    checked = [b for b in blocks if b.output is not None]
    assert checked, f"{page.name}: no shell block has its output shown and checked"
    if page.name == "README.md":
        video = (tmp_path / "result.mp4").read_bytes()
        assert video[4:8] == b"ftyp", "the tour's download is not an MP4"
        json.loads((tmp_path / "task.json").read_text())
