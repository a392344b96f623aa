"""The docs read on the repository host, unbuilt: the generated reference sections are
committed and current, and every link and included file points into the repository."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GENERATOR = REPO / "docs" / "_ext" / "generated.py"
PAGES = [*sorted((REPO / "docs").glob("*.md")), REPO / "README.md", REPO / "CHANGELOG.md"]

#: Markdown links and images: [text](target) and ![alt](target).
LINK = re.compile(r"!?\[[^\]\n]*\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
#: MyST directives that name a file: ```{literalinclude} path
INCLUDE = re.compile(r"^```\{(?:literalinclude|include)\}\s+(?P<target>\S+)", re.MULTILINE)
FENCE = re.compile(r"^(```+|~~~+).*?^\1\s*$", re.MULTILINE | re.DOTALL)


def test_the_committed_generated_sections_are_current() -> None:
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, (
        f"{result.stdout}{result.stderr}\nregenerate them: python docs/_ext/generated.py"
    )


def test_every_reference_page_holds_its_generated_sections() -> None:
    """The tables are in the pages as committed, not only in the built site."""
    for page, spec in [
        ("admin-api.md", "mock-config"),
        ("admin-api.md", "mock-cli-help serve --help"),
        ("faults.md", "mock-fault-kinds"),
        ("architecture.md", "mock-module-map"),
        ("pytest.md", "mock-pytest-options"),
    ]:
        text = (REPO / "docs" / page).read_text(encoding="utf-8")
        start = text.index(f"<!-- generated: {spec} -->")
        body = text[start : text.index("<!-- end generated", start)]
        assert body.count("\n") > 5, f"{page}: the {spec} section is empty"
    assert "VIDU_LIPSYNC_MOCK_PORT" in (REPO / "docs" / "admin-api.md").read_text()


def _slug(heading: str) -> str:
    """The anchor the repository host and MyST give a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {_slug(m[1]) for m in re.finditer(r"^#{1,6}\s+(.*)$", text, re.MULTILINE)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_and_includes_point_into_the_repository(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    prose = FENCE.sub("", text)
    targets = [m["target"] for m in LINK.finditer(prose)]
    targets += [m["target"] for m in INCLUDE.finditer(text)]
    problems = []
    for target in targets:
        if re.match(r"[a-z]+:", target):  # https:, mailto: ...: not a file of ours
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.is_relative_to(REPO):
            problems.append(f"{target}: outside the repository")
        elif not resolved.exists():
            problems.append(f"{target}: no such file in the repository")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            problems.append(f"{target}: {resolved.name} has no heading #{anchor}")
    assert not problems, f"{page.name}:\n" + "\n".join(problems)
