"""Instructions per request, counted by valgrind: the one figure a noisy machine cannot move.

Wall-clock and CPU-time figures on a shared VM drift by tens of percent from one run to the
next; `valgrind --tool=callgrind` counts the instructions a process executes, which is the
same for the same code, inputs and interpreter whatever else the machine is doing. This
script calls the mock's ASGI app and the bare Starlette reference app in-process (no
socket: the same harness as `bench_inprocess.measure_asgi_layers`) N times under callgrind,
subtracts a run with no requests (start-up and set-up), and prints instructions per
request for a poll and a submit of each.

`--server` counts the servers themselves, as `bench.py` runs them (uvicorn, uvloop,
httptools and all): each under callgrind, warmed up, its counters zeroed
(`callgrind_control -z`), then N requests over one keep-alive connection, then a dump.
That is the noise-free counterpart of `bench.py`'s server CPU time per request, for a
poll, a result download and a submit.

    python benchmarks/bench_instructions.py            # N = 2000, about 3 minutes
    python benchmarks/bench_instructions.py --n 500    # quicker, a little less exact
    python benchmarks/bench_instructions.py --server   # the servers, about 3 minutes

Instructions are not time (cache misses and branch mispredictions are not counted, and
the mock's larger working set costs it more of those than the reference), so this
complements the wrk tables of `bench.py`; it does not replace them. Needs `valgrind`
(Debian package).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["count", "main", "server_counts"]

HERE = Path(__file__).resolve().parent
_COLLECTED = re.compile(r"Collected\s*:\s*([0-9]+)")
_TOTALS = re.compile(r"^(?:summary|totals):\s*([0-9]+)", re.MULTILINE)
#: The server-mode requests, in the order `bench.py` loads them (submits last: they fill
#: the store).
SERVER_KINDS = ("poll", "download", "submit")


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


# -- the servers ---------------------------------------------------------------------------

Request = Callable[[http.client.HTTPConnection], None]


def _client_requests(task_id: str, auth: dict[str, str], body: bytes) -> dict[str, Request]:
    def get(path: str, headers: dict[str, str]) -> Request:
        def send(connection: http.client.HTTPConnection) -> None:
            connection.request("GET", path, headers=headers)

        return send

    def submit(connection: http.client.HTTPConnection) -> None:
        headers = {**auth, "Content-Type": "application/json"}
        connection.request("POST", "/api/v1/vidu/lip-sync/async", body=body, headers=headers)

    return {
        "poll": get(f"/api/v1/tasks/{task_id}", auth),
        "download": get(f"/files/{task_id}/result.mp4", {}),
        "submit": submit,
    }


def _server_instructions(
    url: str, pid: int, out_dir: Path, requests: dict[str, Request], n: int, warmup: int
) -> dict[str, float]:
    """Per kind: warm up, zero the counters, n requests on one connection, dump, read."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=120)
    counts: dict[str, float] = {}
    try:
        for kind in SERVER_KINDS:
            send = requests[kind]

            def once(send: Request = send, kind: str = kind) -> None:
                send(connection)
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    raise RuntimeError(f"{url}: {kind} answered {response.status}")

            for _ in range(warmup):
                once()
            subprocess.run(["callgrind_control", "-z", str(pid)], check=True, capture_output=True)
            for _ in range(n):
                once()
            dumps = set(out_dir.glob(f"cg.{pid}*"))
            subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True)
            (dump,) = set(out_dir.glob(f"cg.{pid}*")) - dumps
            found = _TOTALS.search(dump.read_text(encoding="utf-8", errors="replace"))
            if found is None:
                raise RuntimeError(f"no totals in {dump}")
            counts[kind] = int(found.group(1)) / n
    finally:
        connection.close()
    return counts


def server_counts(n: int, warmup: int = 300) -> dict[tuple[str, str], float]:
    """Instructions per request of each server (`ours`, `starlette`) and kind."""
    from bench import AUTH, mock_server_argv, prepare_ours
    from bench_inprocess import SUBMIT_BODY
    from bench_servers import Server

    with tempfile.TemporaryDirectory(prefix="lipsync-callgrind-") as tmp:
        out_dir = Path(tmp)

        def traced(argv: Sequence[str]) -> list[str]:
            return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_dir}/cg.%p", *argv]

        with contextlib.ExitStack() as stack:
            ours = stack.enter_context(
                Server("ours", traced(mock_server_argv()), core=None, timeout=600)
            )
            bodies = prepare_ours(ours.url)
            reference_argv = bodies.reference_argv(out_dir)
            reference = stack.enter_context(
                Server("starlette", traced(reference_argv), core=None, timeout=600)
            )
            body = json.dumps(SUBMIT_BODY, separators=(",", ":")).encode()
            requests = _client_requests(bodies.task_id, dict(AUTH), body)
            servers = {"ours": ours, "starlette": reference}
            with ThreadPoolExecutor(max_workers=2) as pool:  # one valgrind per core
                measured = dict(
                    zip(
                        servers,
                        pool.map(
                            lambda s: _server_instructions(
                                s.url, s.pid, out_dir, requests, n, warmup
                            ),
                            servers.values(),
                        ),
                        strict=True,
                    )
                )
    return {
        (which, kind): value for which, kinds in measured.items() for kind, value in kinds.items()
    }


def _print_table(title: str, kinds: Sequence[str], counts: dict[tuple[str, str], float]) -> None:
    print(f"{title}\n")
    print("| request | vidu-lipsync-mock | bare Starlette | ours / Starlette |")
    print("|---|---|---|---|")
    for kind in kinds:
        ours, reference = counts[("ours", kind)], counts[("starlette", kind)]
        print(f"| {kind} | {ours:,.0f} | {reference:,.0f} | {ours / reference:.2f}x |")
    print()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="requests per measured run")
    parser.add_argument("--server", action="store_true", help="count the servers instead")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        which, kind, n = args.child
        _requests(which, kind, int(n))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install -y valgrind)", file=sys.stderr)
        return 1
    if args.server:
        counts = server_counts(args.n)
        _print_table(
            f"Instructions per request in the server process (callgrind, one keep-alive "
            f"connection, N = {args.n}):",
            SERVER_KINDS,
            counts,
        )
        return 0
    cells = [(kind, which) for kind in ("poll", "submit") for which in ("ours", "starlette")]
    with ThreadPoolExecutor(max_workers=2) as pool:  # one valgrind per core
        counts = dict(zip(cells, pool.map(lambda c: count(c[1], c[0], args.n), cells), strict=True))
    _print_table(
        f"Instructions per request (callgrind, in-process ASGI call, N = {args.n}):",
        ("poll", "submit"),
        {(which, kind): value for (kind, which), value in counts.items()},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
