"""Memory of a real server under large requests: the resident size (RSS) of a `serve`
subprocess before and after waves of large bodies and large headers, with the statuses the
server answered and the time each wave took.

    python benchmarks/bench_limits.py            # the full waves
    python benchmarks/bench_limits.py --quick    # smaller waves (CI)

What is expected: a header over `max_header_bytes` is answered 431 before the app sees it
and a body over `max_body_bytes` 413 without being stored, so those waves leave the RSS
flat; a body under the limit is accepted, and what the mock keeps of it is bounded (a
task keeps a summary of a large unknown field, a journal entry 64 KiB of the body), which
the last wave shows.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

SUBMIT_PATH = "/api/v1/vidu/lip-sync/async"
KEY = "mdlx-" + "B3nch" * 8
AUTH = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
MIB = 1024 * 1024


@dataclass(frozen=True)
class Wave:
    name: str
    count: int
    send: Callable[[int], int]  # port -> the status answered


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def _request(port: int, method: str, path: str, body: object, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers)  # type: ignore[arg-type]
        response = connection.getresponse()
        response.read()
        return response.status
    except (ConnectionError, http.client.HTTPException):
        return 0  # no answer: reported as status 0
    finally:
        connection.close()


def submit_of(size: int) -> Callable[[int], int]:
    """A valid submit whose JSON body is `size` bytes (a large unknown field)."""
    prefix, suffix = b'{"video_url": "https://example.com/v.mp4", "padding": "', b'"}'
    body = prefix + b"v" * (size - len(prefix) - len(suffix)) + suffix
    return lambda port: _request(port, "POST", SUBMIT_PATH, body, AUTH)


def streamed_submit(size: int) -> Callable[[int], int]:
    """A submit of `size` bytes sent from a generator, never held in memory at once."""

    def chunks() -> Iterator[bytes]:
        block = b"x" * (64 * 1024)
        for _ in range(size // len(block)):
            yield block

    headers = {**AUTH, "Content-Length": str(size - size % (64 * 1024))}
    return lambda port: _request(port, "POST", SUBMIT_PATH, chunks(), headers)


def poll_with_header(size: int) -> Callable[[int], int]:
    headers = {**AUTH, "X-Padding": "p" * size}
    return lambda port: _request(port, "GET", "/api/v1/tasks/task-none", None, headers)


def waves(quick: bool) -> list[Wave]:
    scale = 4 if quick else 1
    streamed = 4 if quick else 8
    return [
        Wave("poll, 1 MB header (431)", 300 // scale, poll_with_header(1_000_000)),
        Wave("poll, 16 KiB header (431)", 300 // scale, poll_with_header(16 * 1024)),
        Wave("submit, 2 MB body (413)", 200 // scale, submit_of(2 * 1_000_000)),
        Wave("submit, 80 MB streamed body (413)", streamed, streamed_submit(80 * MIB)),
        Wave("submit, 1 MB body (under the limit)", 200 // scale, submit_of(1_000_000)),
    ]


def start_server(flags: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    argv = [sys.executable, "-m", "vidu_lipsync_mock", "serve", "--port", "0", "--rate-limit", "0"]
    argv += ["--starting-credit", "1000000000"]
    argv += flags
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    banner = process.stdout.readline().decode()
    match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", banner)
    if match is None:
        process.kill()
        raise RuntimeError(f"the server did not start: {banner!r}")
    return process, int(match.group(1))


def run(quick: bool, flags: list[str]) -> list[dict[str, object]]:
    process, port = start_server(flags)
    rows: list[dict[str, object]] = []
    try:
        for _ in range(20):  # warm every lazy path before the first measurement
            submit_of(1000)(port)
            poll_with_header(10)(port)
        for wave in waves(quick):
            before = _rss(process.pid)
            started = time.perf_counter()
            statuses = Counter(wave.send(port) for _ in range(wave.count))
            seconds = time.perf_counter() - started
            after = _rss(process.pid)
            rows.append(
                {
                    "wave": wave.name,
                    "requests": wave.count,
                    "statuses": dict(sorted(statuses.items())),
                    "rss_before_mib": round(before / MIB, 1),
                    "rss_after_mib": round(after / MIB, 1),
                    "rss_delta_mib": round((after - before) / MIB, 1),
                    "seconds": round(seconds, 2),
                }
            )
    finally:
        process.terminate()
        process.wait(30)
        assert process.stdout is not None
        process.stdout.close()
    return rows


def markdown(rows: list[dict[str, object]]) -> str:
    header = "| wave | requests | statuses | RSS before MiB | after MiB | delta MiB | seconds |"
    lines = [header, "| --- | ---: | --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        statuses = ", ".join(f"{s}: {n}" for s, n in r["statuses"].items())  # type: ignore[attr-defined]
        lines.append(
            f"| {r['wave']} | {r['requests']} | {statuses} | {r['rss_before_mib']} "
            f"| {r['rss_after_mib']} | {r['rss_delta_mib']} | {r['seconds']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller waves (CI)")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    parser.add_argument(
        "--serve-flags",
        default="",
        metavar="FLAGS",
        help="more `serve` flags, e.g. '--max-header-bytes 2000000' to see a head limit's worth",
    )
    args = parser.parse_args(argv)
    rows = run(args.quick, args.serve_flags.split())
    print(markdown(rows))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(rows, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
