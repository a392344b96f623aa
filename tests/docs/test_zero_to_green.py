"""docs/zero-to-green.md, run as a new user would: a fresh folder and virtual environment,
the lean install (`pip install vidu-lipsync-mock pytest`, no extra), the page's client and
test written to files, then `pytest`. Offline: the package is a wheel built from this
checkout without build isolation, and its dependencies come from the machine's local
package index only (the test skips where there is none). It also proves the lean install
is lean: Hypothesis and Faker are not installed, and the plugin works without them."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "zero-to-green.md"
INSTALL = ".venv/bin/pip install -q vidu-lipsync-mock pytest"


def local_indexes() -> list[str]:
    """The file:// package indexes pip is configured with: installing from them alone
    fetches nothing from the network."""
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout
    urls = re.findall(r"file://[^\s'\"]+", listed)
    return [url for url in urls if Path(url.removeprefix("file://")).is_dir()]


def page_script(docs_tools: Any, wheel: Path, indexes: list[str]) -> tuple[str, str]:
    """The page's blocks as one bash script (Python blocks written to the file their first
    line names), with the install pointed at the wheel and the local indexes; and the
    output the page shows under its last command."""
    script = ["set -euo pipefail"]
    shown = ""
    for block in docs_tools.parse_blocks(PAGE):
        if block.language == "python":
            name = block.body.splitlines()[0].removeprefix("# ").strip()
            assert re.fullmatch(r"[a-z_]+\.py", name), f"{block.where}: first line names no file"
            script.append(f"cat > {name} <<'PAGE_EOF'\n{block.body}\nPAGE_EOF")
        elif block.language in docs_tools.SHELL_LANGUAGES:
            body = block.body
            assert INSTALL in body or "install" not in body, f"{block.where}: unexpected install"
            sources = " ".join(
                [f"--index-url {shlex.quote(indexes[0])}"]
                + [f"--extra-index-url {shlex.quote(url)}" for url in indexes[1:]]
            )
            body = body.replace(
                INSTALL, f".venv/bin/pip install -q {sources} {shlex.quote(str(wheel))} pytest"
            )
            script.append(body)
        elif block.language == "text":
            shown = block.body
    return "\n".join(script), shown


def test_the_page_goes_from_zero_to_a_green_test(docs_tools: Any, tmp_path: Path) -> None:
    indexes = local_indexes()
    if not indexes:
        pytest.skip("no local package index configured for pip: this test installs offline only")
    wheelhouse = tmp_path / "wheelhouse"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", str(wheelhouse), str(REPO)],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = wheelhouse.glob("vidu_lipsync_mock-*.whl")
    script, shown = page_script(docs_tools, wheel, indexes)
    script += '\n.venv/bin/python -c \'import importlib.util as u; print("optional:", '
    script += '[m for m in ("hypothesis", "faker") if u.find_spec(m)])\''
    # Only the indexes named above: no configuration file adds another.
    environ = docs_tools.subprocess_env(PIP_CONFIG_FILE=os.devnull, PIP_NO_INPUT="1")
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    summary = shown.strip().splitlines()[-1]
    assert re.sub(r"in [\d.]+s", "in …s", summary) == "2 passed in …s"
    assert re.search(r"^2 passed in [\d.]+s$", result.stdout, re.MULTILINE), result.stdout
    assert "optional: []" in result.stdout  # the lean install brought neither
