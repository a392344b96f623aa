"""Soak: steady load with faults against a server in a subprocess, watching its memory and
open file descriptors for leaks.

    python benchmarks/soak.py              # 10 minutes
    python benchmarks/soak.py --quick      # 30 seconds, for CI
    python benchmarks/soak.py --minutes 60 --threads 8

The server is `python -m vidu_lipsync_mock serve` on 127.0.0.1 (a free port) with rate limiting
off and the `flaky-network` profile (latency, resets, cut-off downloads, 502/504), so the
error paths run as often as the happy one. Client threads (half `requests`, half `httpx`)
submit tasks, poll them until they end and download some results, opening a new
connection pool every few tasks so connections are made and dropped all the time.

Every `--interval` seconds the server's resident memory (`VmRSS` in /proc/PID/status),
its open file descriptors (/proc/PID/fd) and its live task count (admin health call) are
sampled and printed as a row. At the end the verdict:

* memory is *flat* when RSS grows over the second half of the run by less than
  `--rss-slack-mb` or `--rss-slack-ratio` of the RSS at half time, whichever is larger
  (default 4 MB or 2 %). The first half is warm-up: the journal fills to its bound, task
  records reach their steady number (submitted minus expired), and CPython's allocator
  grows its arenas, all of which raise RSS once and then stop. Afterwards RSS wobbles by
  a megabyte or so (arenas are not handed back to the OS eagerly, GC runs in bursts),
  while a leak of only 100 bytes per request at the ~200 requests a second this load
  makes is 1.2 MB a minute: 6 MB over the second half of the default 10-minute run, over
  the slack. Medians of three samples at each end of the half smooth out single-sample
  noise; the least-squares slope (MB/min) and the growth per request are printed too.
* file descriptors are *back to baseline* when, after the clients have closed their
  connections, the count returns to within `--fd-slack` (default 4) of what it was before
  the load began: each leaked connection would stay there.

To let memory reach a steady state, tasks must expire: records are kept
`--retention-seconds` (default 30, instead of the provider's 24 h) and the clock runs
`--speed` times faster (default 10), so a task lives 0.3 s plus 3 s of retention, and each
submit sweeps out the records that have expired by then. The journal is bounded by
`--journal-max-entries` (default 10,000; 1,000 with `--quick`) so that it is full within
the first half.

`--quick` prints the same table and verdict but exits 0 whatever the verdict (30 s is too
short to tell a slow leak from noise); any mode exits 1 if the server died, and a full run
exits 2 if memory was not flat or descriptors did not come back.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import httpx
import requests

SUBMIT_PATH = "/api/v1/vidu/lip-sync/async"
LISTENING = re.compile(r"listening on (http://[^\s]+)")
KEY = re.compile(r"example key: (mdlx-[A-Za-z0-9]+)")
TASKS_PER_POOL = 5  # tasks a client runs before it drops its connections and opens new ones
POLL_INTERVAL = 0.02  # seconds between two polls of one task (real time)
TASK_DEADLINE = 30.0  # seconds a client follows one task before giving up on it
TIMEOUT = 10.0


# -- the server under test -------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    api_key: str
    stderr: IO[str]

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stderr_tail(self, lines: int = 20) -> str:
        self.stderr.flush()
        self.stderr.seek(0)
        return "".join(self.stderr.readlines()[-lines:])


def start_server(args: argparse.Namespace, stderr: IO[str]) -> Server:
    command = [
        sys.executable,
        "-m",
        "vidu_lipsync_mock",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--rate-limit",
        "0",
        "--starting-credit",
        "1000000000",
        "--profile",
        args.profile,
        "--seed",
        str(args.seed),
        "--retention-seconds",
        str(args.retention_seconds),
        "--speed",
        str(args.speed),
        "--journal-max-entries",
        str(args.journal_max_entries),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, bufsize=1)
    lines: list[str] = []
    ready = threading.Event()

    def read_banner() -> None:
        assert process.stdout is not None
        for line in process.stdout:  # the banner, then whatever else the server prints
            lines.append(line)
            if KEY.search(line):
                ready.set()
        ready.set()

    threading.Thread(target=read_banner, name="soak-server-stdout", daemon=True).start()
    if not ready.wait(20.0):
        process.kill()
        raise RuntimeError("the server printed no banner within 20 s")
    text = "".join(lines)
    url, key = LISTENING.search(text), KEY.search(text)
    if url is None or key is None:
        process.kill()
        raise RuntimeError(f"the server did not start:\n{text}")
    return Server(process, url.group(1), key.group(1), stderr)


def stop_server(server: Server) -> None:
    if server.alive:
        server.process.terminate()
        try:
            server.process.wait(10.0)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(10.0)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def live_tasks(url: str) -> int | None:
    with (
        contextlib.suppress(httpx.HTTPError, ValueError, KeyError, TypeError),
        httpx.Client(timeout=TIMEOUT) as http,
    ):
        tasks: int = http.get(url + "/_mock/health").json()["data"]["tasks"]
        return tasks
    return None


# -- the load --------------------------------------------------------------------------------


class Transport(Protocol):
    def call(self, method: str, url: str, body: dict[str, str] | None = None) -> int:
        """The response status after reading the whole body; 0 if the connection broke."""

    def json(self) -> Any:
        """The last response's JSON body (None if it was not JSON)."""

    def close(self) -> None: ...


class RequestsTransport:
    def __init__(self, key: str) -> None:
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"
        self.last = b""

    def call(self, method: str, url: str, body: dict[str, str] | None = None) -> int:
        try:
            with self.session.request(method, url, json=body, timeout=TIMEOUT) as response:
                self.last = response.content
                return response.status_code
        except requests.RequestException:
            self.last = b""
            return 0

    def json(self) -> Any:
        return _parse(self.last)

    def close(self) -> None:
        self.session.close()


class HttpxTransport:
    def __init__(self, key: str) -> None:
        self.client = httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=TIMEOUT)
        self.last = b""

    def call(self, method: str, url: str, body: dict[str, str] | None = None) -> int:
        try:
            response = self.client.request(method, url, json=body)
        except httpx.TransportError:
            self.last = b""
            return 0
        self.last = response.content
        return response.status_code

    def json(self) -> Any:
        return _parse(self.last)

    def close(self) -> None:
        self.client.close()


def _parse(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter[int] = field(default_factory=Counter)
    tasks_done: int = 0
    tasks_lost: int = 0

    def count(self, status: int) -> None:
        with self.lock:
            self.statuses[status] += 1

    def snapshot(self) -> tuple[int, int, int]:
        """(requests, of which failed or broken, tasks followed to the end)."""
        with self.lock:
            total = sum(self.statuses.values())
            bad = sum(n for s, n in self.statuses.items() if s == 0 or s >= 500)
            return total, bad, self.tasks_done


def run_task(
    transport: Transport, url: str, number: int, stats: Stats, stop: threading.Event
) -> None:
    status = transport.call(
        "POST", url + SUBMIT_PATH, {"video_url": f"https://example.com/{number}.mp4"}
    )
    stats.count(status)
    document = transport.json()
    if status != 200 or not isinstance(document, dict):
        return
    task_id = document["data"]["task_id"]
    give_up = time.monotonic() + TASK_DEADLINE
    while not stop.is_set() and time.monotonic() < give_up:
        # real-time: a client's poll interval; the server's clock runs on its own.
        stop.wait(POLL_INTERVAL)
        status = transport.call("GET", f"{url}/api/v1/tasks/{task_id}")
        stats.count(status)
        document = transport.json()
        if status != 200 or not isinstance(document, dict):
            continue
        if document["data"]["status"] in ("success", "failed"):
            with stats.lock:
                stats.tasks_done += 1
            if document["data"]["status"] == "success" and number % 5 == 0:
                stats.count(
                    transport.call("GET", document["data"]["result"]["resources"][0]["url"])
                )
            return
    if not stop.is_set():
        with stats.lock:
            stats.tasks_lost += 1


def client(index: int, server: Server, stats: Stats, stop: threading.Event) -> None:
    number = index * 1_000_000
    while not stop.is_set():
        transport: Transport = (
            RequestsTransport(server.api_key) if index % 2 == 0 else HttpxTransport(server.api_key)
        )
        try:
            for _ in range(TASKS_PER_POOL):
                if stop.is_set():
                    break
                number += 1
                run_task(transport, server.url, number, stats, stop)
        finally:
            transport.close()


# -- sampling and the verdict ----------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    seconds: float
    rss_kb: int
    fds: int
    tasks: int | None
    requests: int
    bad: int
    done: int


HEADER = (
    f"{'t (s)':>7} {'RSS (MB)':>9} {'fds':>5} {'tasks':>6} {'requests':>9} {'req/s':>7} "
    f"{'5xx/broken':>10} {'done':>7}"
)


def row(sample: Sample, previous: Sample | None) -> str:
    span = sample.seconds - previous.seconds if previous else sample.seconds
    rate = (sample.requests - (previous.requests if previous else 0)) / span if span > 0 else 0.0
    tasks = "?" if sample.tasks is None else str(sample.tasks)
    return (
        f"{sample.seconds:7.1f} {sample.rss_kb / 1024:9.1f} {sample.fds:5d} {tasks:>6} "
        f"{sample.requests:9d} {rate:7.0f} {sample.bad:10d} {sample.done:7d}"
    )


@dataclass(frozen=True)
class Verdict:
    flat: bool
    growth_mb: float
    allowed_mb: float
    slope_mb_per_min: float
    bytes_per_request: float
    fds_back: bool
    baseline_fds: int
    final_fds: int

    @property
    def ok(self) -> bool:
        return self.flat and self.fds_back


def judge(
    samples: Sequence[Sample], baseline_fds: int, final_fds: int, args: argparse.Namespace
) -> Verdict:
    half = samples[len(samples) // 2 :] if len(samples) >= 2 else list(samples)
    ends = max(1, min(3, len(half) // 2))
    start_mb = statistics.median(s.rss_kb for s in half[:ends]) / 1024
    end_mb = statistics.median(s.rss_kb for s in half[-ends:]) / 1024
    allowed = max(args.rss_slack_mb, args.rss_slack_ratio * start_mb)
    growth = end_mb - start_mb
    requests = half[-1].requests - half[0].requests
    return Verdict(
        flat=growth < allowed,
        growth_mb=growth,
        allowed_mb=allowed,
        slope_mb_per_min=slope(half) * 60,
        bytes_per_request=growth * 1024 * 1024 / requests if requests else 0.0,
        fds_back=final_fds <= baseline_fds + args.fd_slack,
        baseline_fds=baseline_fds,
        final_fds=final_fds,
    )


def slope(samples: Sequence[Sample]) -> float:
    """Least-squares RSS growth in MB per second."""
    if len(samples) < 2:
        return 0.0
    xs = [s.seconds for s in samples]
    ys = [s.rss_kb / 1024 for s in samples]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


def trace_length(url: str) -> int | None:
    """How many fired faults the server keeps in its trace (it should be bounded too)."""
    with (
        contextlib.suppress(httpx.HTTPError, ValueError, KeyError, TypeError),
        httpx.Client(timeout=TIMEOUT) as http,
    ):
        return len(http.get(url + "/_mock/faults/trace").json()["data"])
    return None


def settle_fds(server: Server, target: int, seconds: float) -> int:
    """The fd count once the closed connections are gone (or after `seconds`)."""
    deadline = time.monotonic() + seconds
    count = open_fds(server.pid)
    while count > target and time.monotonic() < deadline and server.alive:
        # real-time: the server notices closed connections on its own event loop.
        time.sleep(0.25)
        count = open_fds(server.pid)
    return count


def soak(args: argparse.Namespace, server: Server) -> int:
    duration = 30.0 if args.quick else args.minutes * 60.0
    interval = min(args.interval, 2.0) if args.quick else args.interval
    live_tasks(server.url)  # one request through, so the baseline counts a warmed-up server
    baseline_fds = settle_fds(server, 0, 1.0)
    print(
        f"soak: {server.url} (pid {server.pid}), {duration:.0f} s, {args.threads} clients, "
        f"profile {args.profile}, retention {args.retention_seconds:g} s at speed "
        f"{args.speed:g}x; baseline {baseline_fds} fds, {rss_kb(server.pid) / 1024:.1f} MB",
        flush=True,
    )
    print(HEADER, flush=True)
    stats, stop = Stats(), threading.Event()
    threads = [
        threading.Thread(target=client, args=(i, server, stats, stop), name=f"soak-client-{i}")
        for i in range(args.threads)
    ]
    samples: list[Sample] = []
    started = time.monotonic()
    died = False
    try:
        for thread in threads:
            thread.start()
        next_sample = started + interval
        while time.monotonic() - started < duration:
            # real-time: the soak is about wall time; sample on a fixed interval.
            time.sleep(max(0.0, next_sample - time.monotonic()))
            next_sample += interval
            if not server.alive:
                died = True
                break
            total, bad, done = stats.snapshot()
            try:
                memory, fds = rss_kb(server.pid), open_fds(server.pid)
            except (OSError, RuntimeError):  # gone between the check and the read
                died = True
                break
            sample = Sample(
                time.monotonic() - started,
                memory,
                fds,
                live_tasks(server.url),
                total,
                bad,
                done,
            )
            print(row(sample, samples[-1] if samples else None), flush=True)
            samples.append(sample)
    finally:
        stop.set()
        for thread in threads:
            thread.join(TIMEOUT * 2)
    if died or not server.alive:
        print(f"\nFAIL: the server died (exit code {server.process.poll()})", flush=True)
        print(server.stderr_tail(), flush=True)
        return 1
    final_fds = settle_fds(server, baseline_fds + args.fd_slack, 10.0)
    if not samples:
        print("no samples taken; run longer", flush=True)
        return 0 if args.quick else 2
    verdict = judge(samples, baseline_fds, final_fds, args)
    total, bad, done = stats.snapshot()
    print(
        f"\n{total} requests ({bad} answered 5xx or broken on purpose by the profile), "
        f"{done} tasks followed to the end, {stats.tasks_lost} given up on",
        flush=True,
    )
    print(
        f"memory: {'FLAT' if verdict.flat else 'GROWING'} — RSS {verdict.growth_mb:+.1f} MB "
        f"over the second half (allowed < {verdict.allowed_mb:.1f} MB); slope "
        f"{verdict.slope_mb_per_min:+.2f} MB/min, {verdict.bytes_per_request:+.0f} B/request",
        flush=True,
    )
    kept = trace_length(server.url)
    if kept is not None:
        print(f"fault trace kept by the server: {kept} entries", flush=True)
    print(
        f"file descriptors: {'BACK TO BASELINE' if verdict.fds_back else 'LEAKED'} — "
        f"{verdict.final_fds} after the clients closed, baseline {verdict.baseline_fds} "
        f"(slack {args.fd_slack})",
        flush=True,
    )
    advisory = " (quick run: advisory)" if args.quick else ""
    print(f"verdict: {'OK' if verdict.ok else 'SUSPECT'}{advisory}", flush=True)
    if args.quick:
        return 0
    return 0 if verdict.ok else 2


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--minutes", type=float, default=10.0, help="length of the run (default 10)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="30 s; verdict printed, exit 0 unless the server died"
    )
    parser.add_argument("--threads", type=int, default=8, help="client threads (default 8)")
    parser.add_argument(
        "--interval",
        type=float,
        default=5.0,
        help="seconds between samples (default 5; 2 with --quick)",
    )
    parser.add_argument(
        "--profile", default="flaky-network", help="fault profile (default flaky-network)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--retention-seconds",
        type=float,
        default=30.0,
        help="clock seconds a finished task is kept (default 30)",
    )
    parser.add_argument(
        "--speed", type=float, default=10.0, help="server clock speed-up (default 10)"
    )
    parser.add_argument(
        "--journal-max-entries",
        type=int,
        default=None,
        help="journal bound (default 10,000; 1,000 with --quick, so it is full by half time)",
    )
    parser.add_argument("--rss-slack-mb", type=float, default=4.0)
    parser.add_argument("--rss-slack-ratio", type=float, default=0.02)
    parser.add_argument("--fd-slack", type=int, default=4)
    args = parser.parse_args(argv)
    if args.journal_max_entries is None:
        args.journal_max_entries = 1_000 if args.quick else 10_000
    if args.minutes <= 0 or args.threads < 1 or args.interval <= 0:
        parser.error("--minutes, --threads and --interval must be positive")
    return args


@contextlib.contextmanager
def running_server(args: argparse.Namespace) -> Iterator[Server]:
    with tempfile.TemporaryFile("w+", prefix="soak-stderr-") as stderr:
        server = start_server(args, stderr)
        try:
            yield server
        finally:
            stop_server(server)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not Path("/proc/self/status").exists():
        print("soak needs /proc (Linux) to read the server's memory and descriptors")
        return 2
    with running_server(args) as server:
        return soak(args, server)


if __name__ == "__main__":
    sys.exit(main())
