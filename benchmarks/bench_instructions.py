"""Instructions per request, counted by valgrind: the one figure a noisy machine cannot move.

Wall-clock and CPU-time figures on a shared VM drift by tens of percent from one run to the
next; `valgrind --tool=callgrind` counts the instructions a process executes, which is the
same for the same code, inputs and interpreter whatever else the machine is doing. This
script calls the mock's ASGI app and the bare Starlette reference app in-process (no
socket: the same harness as `bench_inprocess.measure_asgi_layers`) N times under callgrind,
subtracts a run with no requests (start-up and set-up), and prints instructions per
request for a poll and a submit of each:

    python benchmarks/bench_instructions.py            # N = 2000, about 3 minutes
    python benchmarks/bench_instructions.py --n 500    # quicker, a little less exact

Instructions are not time (cache misses and branch mispredictions are not counted, and
the mock's larger working set costs it more of those than the reference), so this
complements the wrk tables of `bench.py`; it does not replace them. Needs `valgrind`
(Debian package).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

__all__ = ["count", "main"]

HERE = Path(__file__).resolve().parent
_COLLECTED = re.compile(r"Collected\s*:\s*([0-9]+)")


def _requests(which: str, kind: str, n: int) -> None:
    """The measured process: set up, then n requests of one kind into one app."""
    sys.path.insert(0, str(HERE))
    from bench_inprocess import _asgi_call, asgi_requests, bench_mock

    mock = bench_mock()

    async def run() -> None:
        requests, reference = await asgi_requests(mock)
        app = mock.app if which == "ours" else reference
        request = requests[kind]
        for _ in range(200):  # warm: the interpreter specialises hot code after a while
            await _asgi_call(app, *request)
        for _ in range(n):
            await _asgi_call(app, *request)

    asyncio.run(run())


def _instructions(which: str, kind: str, n: int) -> int:
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--child",
        which,
        kind,
        str(n),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=1800)
    found = _COLLECTED.search(done.stderr.replace(",", ""))
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"callgrind failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return int(found.group(1))


def count(which: str, kind: str, n: int) -> float:
    """Instructions per request of one kind into one app ('ours' or 'starlette')."""
    return (_instructions(which, kind, n) - _instructions(which, kind, 0)) / n


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="requests per measured run")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        which, kind, n = args.child
        _requests(which, kind, int(n))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install -y valgrind)", file=sys.stderr)
        return 1
    cells = [(kind, which) for kind in ("poll", "submit") for which in ("ours", "starlette")]
    with ThreadPoolExecutor(max_workers=2) as pool:  # one valgrind per core
        counts = dict(zip(cells, pool.map(lambda c: count(c[1], c[0], args.n), cells), strict=True))
    print(f"Instructions per request (callgrind, in-process ASGI call, N = {args.n}):\n")
    print("| request | vidu-lipsync-mock | bare Starlette | Starlette / ours |")
    print("|---|---|---|---|")
    for kind in ("poll", "submit"):
        ours, reference = counts[(kind, "ours")], counts[(kind, "starlette")]
        print(f"| {kind} | {ours:,.0f} | {reference:,.0f} | {reference / ours:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
