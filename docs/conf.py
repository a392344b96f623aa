"""Sphinx configuration for the vidu-lipsync-mock documentation.

Build strictly (what CI and `tests/docs/test_build.py` run):

    python -m sphinx -W --keep-going -n -b html docs docs/_build/html

The build needs no network: no intersphinx, no remote images. The reference pages
(`admin-api.md` and the generated tables elsewhere) are rendered at build time from the code
by the local extension in `docs/_ext/mockref.py`, so they cannot drift from it.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import vidu_lipsync_mock  # noqa: E402

project = "vidu-lipsync-mock"
author = "vidu-lipsync-mock developers"
copyright = "vidu-lipsync-mock developers"
release = vidu_lipsync_mock.__version__
version = release

extensions = ["myst_parser", "mockref", "limitsref"]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "examples", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

nitpicky = True
language = "en"
today_fmt = "%Y-%m-%d"

html_theme = "furo"
html_title = f"vidu-lipsync-mock {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
