"""Helpers for the tests that execute the documentation.

The docs' examples are not collected by the root `pytest` run (`testpaths` is `tests`):
they are run from here, as a user would run them, in `python -m pytest` subprocesses at the
repository root (so under the project's own strict pytest settings). The shell blocks of
the Markdown pages are extracted and run against a real server.

Helpers are reached through fixtures rather than imported, because `tests/` is not a
package.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
EXAMPLES = DOCS / "examples"

#: The origin the pages show; the tests substitute the real server's.
DOC_ORIGIN = "http://127.0.0.1:8000"
BANNER = re.compile(r"vidu-lipsync-mock listening on (http://127\.0\.0\.1:\d+)")
SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
OUTPUT_LANGUAGES = {"json", "text"}
NO_RUN = re.compile(r"^<!--\s*no-run:\s*(?P<reason>\S.*?)\s*-->$")
#: Values that differ from run to run; the pages show plausible ones.
VOLATILE_NUMBERS = {"submit_time", "end_time", "duration", "result_expires_at"}

#: Plugins whose import costs seconds at start-up and which no example needs loaded as a
#: pytest plugin (the Hypothesis and Faker examples use the libraries directly).
SLOW_PLUGINS = ("-p", "no:hypothesispytest", "-p", "no:faker", "-p", "no:schemathesis")


@dataclass
class Block:
    """One fenced block of a Markdown page."""

    path: Path
    line: int  # 1-based line of the opening fence
    language: str
    options: dict[str, str]
    body: str
    no_run: str | None = None  # the reason, when marked `<!-- no-run: reason -->`
    output: Block | None = None  # the expected-output block that follows, if any
    gap: str = field(default="", repr=False)  # text between this block and the previous

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def parse_blocks(path: Path) -> list[Block]:
    """Fenced blocks in order, with MyST `{code-block} lang` and its `:option:` lines."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    previous_end = 0
    i = 0
    while i < len(lines):
        opening = re.match(r"^(`{3,})(.*)$", lines[i])
        if not opening:
            i += 1
            continue
        fence, info = opening.group(1), opening.group(2).strip()
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and not re.match(rf"^{fence}\s*$", lines[i]):
            body.append(lines[i])
            i += 1
        i += 1  # the closing fence
        language = info.split()[0] if info else ""
        options: dict[str, str] = {}
        if language == "{code-block}":
            language = info.split()[1] if len(info.split()) > 1 else ""
            while body and re.match(r"^:[\w-]+:", body[0]):
                name, _, value = body.pop(0)[1:].partition(":")
                options[name] = value.strip()
        gap_lines = lines[previous_end:start]
        marker = next((g.strip() for g in reversed(gap_lines) if g.strip()), "")
        match = NO_RUN.match(marker)
        blocks.append(
            Block(
                path=path,
                line=start + 1,
                language=language,
                options=options,
                body="\n".join(body),
                no_run=match.group("reason") if match else None,
                gap="\n".join(gap_lines),
            )
        )
        previous_end = i
    for before, after in itertools.pairwise(blocks):
        if (
            before.language in SHELL_LANGUAGES
            and after.language in OUTPUT_LANGUAGES
            and not after.gap.strip()
        ):
            before.output = after
    return blocks


def wildcard(expected: str) -> re.Pattern[str]:
    """`…` in the docs stands for any text."""
    return re.compile(".*?".join(re.escape(part) for part in expected.split("…")), re.DOTALL)


def json_mismatches(expected: Any, actual: Any, where: str = "$") -> list[str]:
    """Differences between a documented JSON value and a real one (see `wildcard` and
    `VOLATILE_NUMBERS` for what may differ)."""
    key = where.rsplit(".", 1)[-1]
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {actual!r}"]
        problems = []
        if set(expected) != set(actual):
            problems.append(f"{where}: keys {sorted(actual)} != documented {sorted(expected)}")
        for name in set(expected) & set(actual):
            problems += json_mismatches(expected[name], actual[name], f"{where}.{name}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{where}: expected {len(expected)} items, got {actual!r}"]
        problems = []
        for n, (e, a) in enumerate(zip(expected, actual, strict=False)):
            problems += json_mismatches(e, a, f"{where}[{n}]")
        return problems
    if key in VOLATILE_NUMBERS:
        ok = isinstance(actual, int) and not isinstance(actual, bool)
        return [] if ok else [f"{where}: expected a whole number, got {actual!r}"]
    if isinstance(expected, str) and "…" in expected:
        ok = isinstance(actual, str) and wildcard(expected).fullmatch(actual) is not None
        return [] if ok else [f"{where}: {actual!r} does not match {expected!r}"]
    if expected != actual or type(expected) is not type(actual):
        return [f"{where}: documented {expected!r}, got {actual!r}"]
    return []


def check_output(block: Block, output: str, origin: str) -> list[str]:
    """Compare what a shell block printed with the output block the page shows."""
    expected_block = block.output
    if expected_block is None:
        return []
    expected = expected_block.body.replace(DOC_ORIGIN, origin)
    where = expected_block.where
    if expected_block.language == "json":
        try:
            actual = json.loads(output)
        except ValueError:
            return [f"{where}: the command printed no JSON: {output!r}"]
        return [f"{where}: {p}" for p in json_mismatches(json.loads(expected), actual)]
    want = [line.rstrip() for line in expected.strip().splitlines()]
    got = [line.rstrip() for line in output.strip().splitlines()]
    if len(want) != len(got) or not all(
        wildcard(w).fullmatch(g) for w, g in zip(want, got, strict=False)
    ):
        return [f"{where}: printed {got!r}, the page shows {want!r}"]
    return []


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for child processes: no pytest or xdist variables of this run."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "PYTHONBREAKPOINT")) and k != "COLUMNS"
    }
    env.update({"COLUMNS": "80", "NO_COLOR": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    env.update(extra)
    return env


class CliServer:
    """`vidu-lipsync-mock serve` in a subprocess on a free port, read from its banner."""

    def __init__(self, *flags: str) -> None:
        argv = [sys.executable, "-m", "vidu_lipsync_mock", "serve", "--port", "0", *flags]
        self.proc = subprocess.Popen(
            argv,
            cwd=REPO,
            env=subprocess_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: queue.Queue[str | None] = queue.Queue()
        self._output: list[str] = []

        def read(stream: IO[str]) -> None:
            for line in stream:
                self._output.append(line)
                lines.put(line)
            lines.put(None)

        assert self.proc.stdout is not None
        self._reader = threading.Thread(target=read, args=(self.proc.stdout,), daemon=True)
        self._reader.start()
        try:
            first = lines.get(timeout=20)
        except queue.Empty:
            self.stop()
            pytest.fail("the server printed nothing within 20 s")
        match = BANNER.match(first or "")
        if match is None:
            self.stop()
            pytest.fail(f"unexpected server output: {''.join(self._output)!r}")
        self.url = match.group(1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def cli_server() -> Iterator[type[CliServer]]:
    """`cli_server(*flags)` starts a standalone server; every one is stopped at teardown."""
    started: list[CliServer] = []

    class Started(CliServer):
        def __init__(self, *flags: str) -> None:
            super().__init__(*flags)
            started.append(self)

    yield Started
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def docs_tools() -> Any:
    """The helpers above, for the test modules (`tests/` is not a package)."""
    import types

    return types.SimpleNamespace(
        REPO=REPO,
        DOCS=DOCS,
        EXAMPLES=EXAMPLES,
        DOC_ORIGIN=DOC_ORIGIN,
        SHELL_LANGUAGES=SHELL_LANGUAGES,
        SLOW_PLUGINS=SLOW_PLUGINS,
        parse_blocks=parse_blocks,
        check_output=check_output,
        wildcard=wildcard,
        subprocess_env=subprocess_env,
        which=shutil.which,
    )
