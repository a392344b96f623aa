"""Driving wrk: the Lua script for the submit, the command line, and reading its report.

wrk is a separate process pinned to its own core, so the load generator never competes
with the server it measures (see `bench.py` for the pinning of the servers).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "WrkError",
    "WrkResult",
    "parse_duration_ms",
    "parse_wrk_output",
    "pinned",
    "run_wrk",
    "submit_script",
    "wrk_command",
]

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(us|ms|s|m|h)\s*$")
_RPS = re.compile(r"^Requests/sec:\s+([0-9.]+)", re.MULTILINE)
_TOTAL = re.compile(r"^\s*([0-9]+) requests in ([0-9.]+\w+),", re.MULTILINE)
_PERCENTILE = re.compile(r"^\s*(50|75|90|99)%\s+([0-9.]+\w+)\s*$", re.MULTILINE)
_SOCKET_ERRORS = re.compile(
    r"Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)"
)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: ([0-9]+)")
_LATENCY_ROW = re.compile(r"^\s*Latency\s+([0-9.]+\w+)\s+([0-9.]+\w+)\s+([0-9.]+\w+)", re.MULTILINE)


class WrkError(RuntimeError):
    """wrk could not run, or printed something that is not a wrk report."""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run. Latencies in milliseconds; `errors` counts socket errors of any kind
    and `non_2xx` the responses whose status was not 2xx or 3xx."""

    requests: int
    requests_per_s: float
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    errors: int
    non_2xx: int

    @property
    def clean(self) -> bool:
        return self.errors == 0 and self.non_2xx == 0 and self.requests > 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_duration_ms(text: str) -> float:
    """wrk's `11.79ms`, `203.00us`, `1.02s`, `1.00m` in milliseconds."""
    match = _DURATION.match(text)
    if match is None:
        raise WrkError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk_output(text: str) -> WrkResult:
    """Read the report of `wrk --latency` (requests/s, the latency distribution, errors)."""
    rps = _RPS.search(text)
    total = _TOTAL.search(text)
    percentiles = {int(p): parse_duration_ms(v) for p, v in _PERCENTILE.findall(text)}
    latency = _LATENCY_ROW.search(text)
    if rps is None or total is None or latency is None:
        raise WrkError("wrk printed no report:\n" + text[-2000:])
    if set(percentiles) != {50, 75, 90, 99}:
        raise WrkError("wrk printed no latency distribution (was --latency given?)")
    errors = 0
    socket_errors = _SOCKET_ERRORS.search(text)
    if socket_errors is not None:
        errors = sum(int(n) for n in socket_errors.groups())
    non_2xx = _NON_2XX.search(text)
    return WrkResult(
        requests=int(total.group(1)),
        requests_per_s=float(rps.group(1)),
        p50_ms=percentiles[50],
        p75_ms=percentiles[75],
        p90_ms=percentiles[90],
        p99_ms=percentiles[99],
        mean_ms=parse_duration_ms(latency.group(1)),
        max_ms=parse_duration_ms(latency.group(3)),
        errors=errors,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
    )


def _lua_string(value: str) -> str:
    # A JSON string literal is a valid Lua string literal for the ASCII we send.
    if not value.isascii():
        raise ValueError("the submit script only carries ASCII")
    return json.dumps(value)


def submit_script(path: Path, body: str, headers: Mapping[str, str]) -> Path:
    """A wrk Lua script that turns every request into a POST with this body and headers."""
    lines = ['wrk.method = "POST"', f"wrk.body = {_lua_string(body)}"]
    lines += [f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()]
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path


def pinned(core: int | None, command: Sequence[str]) -> list[str]:
    """`taskset -c CORE command...` when taskset exists and a core is asked for."""
    if core is None or shutil.which("taskset") is None:
        return list(command)
    return ["taskset", "-c", str(core), *command]


def wrk_command(
    url: str,
    *,
    connections: int,
    seconds: float,
    script: Path | None = None,
    headers: Mapping[str, str] | None = None,
    core: int | None = None,
    wrk: str = "wrk",
) -> list[str]:
    command = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "--latency",
    ]
    if script is not None:
        command += ["-s", str(script)]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    command.append(url)
    return pinned(core, command)


def run_wrk(
    url: str,
    *,
    connections: int,
    seconds: float,
    script: Path | None = None,
    headers: Mapping[str, str] | None = None,
    core: int | None = None,
) -> WrkResult:
    """One bounded wrk run against a loopback URL."""
    if not url.startswith(("http://127.0.0.1:", "http://localhost:")):
        raise WrkError(f"refusing to load anything but loopback: {url}")
    wrk = shutil.which("wrk")
    if wrk is None:
        raise WrkError("wrk is not installed (apt-get install -y wrk)")
    command = wrk_command(
        url,
        connections=connections,
        seconds=seconds,
        script=script,
        headers=headers,
        core=core,
        wrk=wrk,
    )
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 30, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise WrkError(f"wrk did not finish: {' '.join(command)}") from error
    if done.returncode != 0:
        raise WrkError(f"wrk exited {done.returncode}: {done.stderr.strip() or done.stdout}")
    return parse_wrk_output(done.stdout)
