"""`mypy --strict` over the package as it is installed: `vidu_lipsync_mock` with its
`pytest_plugin` inside.

The source folders (`mockserver/`, `pytest_plugin/`) are renamed when installed, and mypy
names modules after folders, so it is run on a tree of links laid out under the installed
names (in `build/typecheck/`, rebuilt on each run). Arguments are passed on to mypy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def lay_out(target: Path) -> Path:
    """The installed layout as links to the source files; returns the package folder."""
    if target.exists():
        shutil.rmtree(target)
    package = target / "vidu_lipsync_mock"
    package.mkdir(parents=True)
    for entry in (REPO / "mockserver").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    (package / "pytest_plugin").symlink_to(REPO / "pytest_plugin")
    return package


def main(argv: list[str]) -> int:
    package = lay_out(REPO / "build" / "typecheck")
    command = [sys.executable, "-m", "mypy", *argv, str(package)]
    return subprocess.call(command, cwd=REPO, env={**os.environ, "MYPYPATH": str(package.parent)})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
