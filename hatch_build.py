"""Build hook: editable installs under the installed import names.

The source folders are `mockserver/` and `pytest_plugin/`; installed, they are the packages
`vidu_lipsync_mock` and `vidu_lipsync_mock.pytest_plugin`. A regular wheel renames them
(`sources` in pyproject.toml). An editable install cannot rename a folder, and putting the
repository root on `sys.path` would make `mockserver` and `pytest_plugin` importable under
their folder names as well: the very collisions the installed names avoid. So the editable
wheel carries a small import finder that maps the two installed names, and only those, onto
the source folders.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

# pytest marks every top-level module of a distribution for assertion rewriting, except
# finders named the way setuptools names its own editable finders.
MODULE = "__editable___vidu_lipsync_mock_finder"

FINDER = '''"""Maps vidu_lipsync_mock onto its source folders (an editable install)."""
import importlib.util
import sys

ROOTS = {roots!r}


class SourceFolderFinder:
    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        root = ROOTS.get(fullname)
        if root is None:
            return None
        return importlib.util.spec_from_file_location(
            fullname, root + "/__init__.py", submodule_search_locations=[root]
        )


if SourceFolderFinder not in sys.meta_path:
    sys.meta_path.insert(0, SourceFolderFinder)
'''


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version != "editable":
            return
        roots = {
            "vidu_lipsync_mock": os.path.join(self.root, "mockserver"),
            "vidu_lipsync_mock.pytest_plugin": os.path.join(self.root, "pytest_plugin"),
        }
        out = tempfile.mkdtemp(prefix="vidu-lipsync-mock-editable-")
        finder = os.path.join(out, f"{MODULE}.py")
        with open(finder, "w", encoding="utf-8") as handle:
            handle.write(FINDER.format(roots=roots))
        pth = os.path.join(out, f"{MODULE}.pth")
        with open(pth, "w", encoding="utf-8") as handle:
            handle.write(f"import {MODULE}\n")
        build_data["force_include_editable"][finder] = f"{MODULE}.py"
        build_data["force_include_editable"][pth] = f"{MODULE}.pth"
