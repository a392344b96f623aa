"""The reference sections generated from the code, committed into the Markdown pages.

The repository host shows `docs/*.md` as they are, without building them, so a table that
only the Sphinx build renders would be missing there. Each generated section is therefore
committed between two markers, the first naming the directive of `mockref.py` that makes
it (and its arguments):

    <!-- generated: mock-cli-help serve --help -->
    ...the directive's Markdown output...
    <!-- end generated: python docs/_ext/generated.py -->

The Sphinx build swaps each marked section for its directive (`use_directives`), so the
built site is made from the code of the moment, with every consistency check the
directives run. The committed copies are checked by `tests/docs/test_generated.py`, which
fails when one is stale; regenerate them with

    python docs/_ext/generated.py          # rewrite every stale section
    python docs/_ext/generated.py --check  # only say which are stale (exit 1)
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
#: The pages that may hold generated sections.
PAGES = (*sorted((REPO / "docs").glob("*.md")), REPO / "README.md")

SECTION = re.compile(
    r"^<!-- generated: (?P<spec>[^\n]*?) -->\n(?P<body>.*?)^<!-- end generated[^\n]*-->$",
    re.MULTILINE | re.DOTALL,
)
END = "<!-- end generated: python docs/_ext/generated.py -->"


class GenerationError(Exception):
    """A directive warned: what it generates disagrees with the code (or cannot run)."""


def render(spec: str) -> str:
    """The Markdown a directive makes, given its name and arguments (`mock-cli-help --help`),
    run outside Sphinx: the directives' `markdown()` needs nothing of a build but its
    arguments and somewhere to report a warning."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    from mockref import DIRECTIVES

    name, arguments, flags = _parse(spec)
    directive: Any = DIRECTIVES[name].__new__(DIRECTIVES[name])
    directive.arguments = arguments
    directive.options = dict.fromkeys(flags)
    warnings: list[str] = []
    directive.warn = warnings.append
    text = str(directive.markdown())
    if warnings:
        raise GenerationError(f"{spec}: " + "; ".join(warnings))
    return text.strip("\n") + "\n"


def regenerate(text: str) -> str:
    """The page with every generated section made afresh."""

    def fresh(match: re.Match[str]) -> str:
        # Blank lines around the body: a table must not run into the end marker.
        return f"<!-- generated: {match['spec']} -->\n\n{render(match['spec'])}\n{END}"

    return SECTION.sub(fresh, text)


def stale_pages() -> dict[Path, str]:
    """Each page whose generated sections differ from the code's, with its fresh text."""
    found = {}
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        if SECTION.search(text) is None:
            continue
        fresh = regenerate(text)
        if fresh != text:
            found[page] = fresh
    return found


def use_directives(app: Any, docname: str, source: list[str]) -> None:
    """Sphinx `source-read` handler: each committed section becomes its directive."""
    source[0] = SECTION.sub(_directive, source[0])


def _directive(match: re.Match[str]) -> str:
    name, arguments, flags = _parse(match["spec"])
    lines = [f"```{{{name}}} {' '.join(arguments)}".rstrip(), *(f":{f}:" for f in flags), "```"]
    return "\n".join(lines)


def _parse(spec: str) -> tuple[str, list[str], list[str]]:
    """A section's name, arguments and flag options (`:module-docstring:`)."""
    name, *words = shlex.split(spec)
    flags = [w.strip(":") for w in words if len(w) > 2 and w.startswith(":") and w.endswith(":")]
    return name, [w for w in words if w.strip(":") not in flags], flags


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only list stale pages (exit 1)")
    args = parser.parse_args(argv)
    stale = stale_pages()
    for page, fresh in stale.items():
        where = page.relative_to(REPO)
        if args.check:
            print(f"{where}: generated sections are stale")
        else:
            page.write_text(fresh, encoding="utf-8")
            print(f"{where}: regenerated")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    raise SystemExit(main())
