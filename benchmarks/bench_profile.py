"""Where a request's time goes: py-spy samples the mock server while wrk loads it.

py-spy attaches to the server subprocess (`py-spy record --pid ... --format raw`, the
collapsed-stack format: one line per distinct stack, root first, then a count). Frames are
grouped by function and file (line numbers dropped); a function's *self* share counts the
samples where it is the innermost frame, its *inclusive* share those where it is anywhere
on the stack. Time spent in C (uvloop, httptools, the socket calls) is charged to the
innermost Python frame that called into it, e.g. `Runner.run` for the event loop itself.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_wrk import pinned, wrk_command

__all__ = [
    "ProfileSummary",
    "find_py_spy",
    "frame_name",
    "parse_collapsed",
    "record_under_load",
    "summarize_profile",
]

_FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def frame_name(frame: str) -> str:
    """`PublicApp.serve (mockserver/http/public_app.py:232)` ->
    `PublicApp.serve (mockserver/http/public_app.py)`."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    return f"{match.group('name')} ({match.group('file')})"


def parse_collapsed(text: str) -> list[tuple[list[str], int]]:
    """Lines of `frame;frame;... count` into (frames root first, count)."""
    stacks: list[tuple[list[str], int]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        stacks.append(([frame_name(f) for f in stack.split(";")], int(count)))
    return stacks


@dataclass(frozen=True)
class ProfileSummary:
    samples: int
    self_share: list[tuple[str, float]] = field(default_factory=list)
    inclusive_share: list[tuple[str, float]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "self": [list(row) for row in self.self_share],
            "inclusive": [list(row) for row in self.inclusive_share],
        }

    def share(self, name_part: str) -> float:
        """Inclusive share of the first function whose name contains `name_part`."""
        for name, share in self.inclusive_share:
            if name_part in name:
                return share
        return 0.0


def summarize_profile(stacks: Iterable[tuple[Sequence[str], int]]) -> ProfileSummary:
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    total = 0
    for frames, count in stacks:
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            anywhere[name] += count
    if total == 0:
        return ProfileSummary(0)
    return ProfileSummary(
        samples=total,
        self_share=[(n, c / total) for n, c in own.most_common()],
        inclusive_share=[(n, c / total) for n, c in anywhere.most_common()],
    )


def find_py_spy() -> str | None:
    """On PATH, or next to this interpreter (a venv run without activating it)."""
    beside = Path(sys.executable).parent / "py-spy"
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


def record_under_load(
    pid: int,
    url: str,
    out: Path,
    *,
    seconds: float,
    connections: int = 32,
    script: Path | None = None,
    headers: dict[str, str] | None = None,
    core: int | None = 1,
    rate: int = 250,
) -> ProfileSummary:
    """Load `url` with wrk and sample the server `pid` with py-spy meanwhile."""
    py_spy = find_py_spy()
    if py_spy is None:
        raise RuntimeError("py-spy is not installed (pip install py-spy)")
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed")
    load = subprocess.Popen(
        wrk_command(
            url,
            connections=connections,
            seconds=seconds + 2,
            script=script,
            headers=headers,
            core=core,
            wrk=wrk,
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        command = pinned(
            core,
            [
                py_spy,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(max(1, round(seconds))),
                "--rate",
                str(rate),
                "--format",
                "raw",
                "--output",
                str(out),
            ],
        )
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 30, check=False
        )
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(f"py-spy failed: {done.stderr.strip()[-1000:]}")
    finally:
        load.terminate()
        try:
            load.wait(5)
        except subprocess.TimeoutExpired:
            load.kill()
            load.wait(5)
    return summarize_profile(parse_collapsed(out.read_text(encoding="utf-8")))
