"""Memory: what the mock keeps per request, and whether it stays flat.

Over a real socket (the default), against `vidu-lipsync-mock serve` and, in the same run,
bare Starlette on the same uvicorn (`reference_app.py`), each in a subprocess whose
resident size (RSS) is read before and after each wave:

* (a) submits of 1 MB bodies (a valid body with a 1 MB unknown field): a task keeps its
  declared fields and a summary of the rest, a journal entry 64 KiB of the body; target:
  200 of them grow the mock by well under 50 MiB;
* (b) polls with a 1 MB header (431 before the app sees them) and one 64 MiB header;
* (c) a soak: submits and polls with `GET /_mock/journal?limit=50` every 300 requests;
  RSS over the second half should be flat (the leak those reads once had made it grow).

    python benchmarks/bench_memory.py --quick    # CI: the targets' sizes, a short soak
    python benchmarks/bench_memory.py            # larger waves, a longer soak

In-process measurements run each in a fresh interpreter (`--child ...`): resident size per
finished task, eviction after the retention period, the journal's cost per request, and
what a submit costs once the store is full.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_servers import Server, python_argv  # noqa: E402

__all__ = [
    "measure_full_store",
    "measure_journal",
    "measure_over_socket",
    "measure_tasks",
    "run_child",
]

MODEL = "vidu/lip-sync"
#: Credit no benchmark can spend: unfinished tasks hold their price.
CREDIT = "1000000000"


def _rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _params(i: int) -> dict[str, str]:
    # Fresh strings per task, as a parsed JSON body would give.
    return {
        "video_url": f"https://example.com/presenter-{i:07d}.mp4",
        "audio_url": f"https://example.com/voiceover-{i:07d}.mp3",
    }


def _key(i: int) -> str:
    return "mdlx-" + f"{i % 7:d}" * 40  # a new string object per request, as HTTP gives


def measure_tasks(n: int, cycles: int) -> dict[str, Any]:
    """Fill the store with n finished tasks, note RSS, let the retention pass and sweep, note RSS;
    `cycles` times, to see whether the process keeps growing."""
    from vidu_lipsync_mock.config import MockConfig
    from vidu_lipsync_mock.state import MockState

    state = MockState(MockConfig(clock="manual", rate_limit=0, starting_credit=CREDIT))
    state.submit(MODEL, _params(-1), _key(0))  # warm every lazy cache
    state.advance(state.config.retention_seconds + 10)
    state.store.sweep(state.now())
    gc.collect()
    baseline = _rss_bytes()
    rows: list[dict[str, Any]] = []
    for cycle in range(cycles):
        started = time.perf_counter()
        for i in range(n):
            state.submit(MODEL, _params(i), _key(i))
        submit_s = time.perf_counter() - started
        state.advance(state.config.pending_seconds + state.config.processing_seconds + 1)
        state.store.sweep(state.now())  # derives (and writes down) every task's status
        finished = sum(1 for s in state.tasks() if s.status.value == "success")
        gc.collect()
        filled = _rss_bytes()
        state.advance(state.config.retention_seconds + 10)
        started = time.perf_counter()
        evicted = state.store.sweep(state.now())
        sweep_s = time.perf_counter() - started
        gc.collect()
        rows.append(
            {
                "cycle": cycle + 1,
                "finished": finished,
                "rss_filled": filled,
                "evicted": evicted,
                "left": len(state.store),
                "rss_evicted": _rss_bytes(),
                "submit_us": submit_s / n * 1e6,
                "sweep_ms": sweep_s * 1000,
            }
        )
    first = rows[0]
    return {
        "n": n,
        "baseline": baseline,
        "cycles": rows,
        "bytes_per_task": (first["rss_filled"] - baseline) / n,
    }


def measure_journal(n: int) -> dict[str, Any]:
    """RSS growth per journal entry: n polls through the ASGI app (journal on)."""
    import httpx

    from vidu_lipsync_mock import LipSyncMock

    mock = LipSyncMock(clock="manual", rate_limit=0, progression="manual", starting_credit=CREDIT)

    async def run() -> dict[str, Any]:
        transport = httpx.ASGITransport(app=mock.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://lipsync.test", headers=mock.auth_headers
        ) as client:
            response = await client.post(
                "/api/v1/vidu/lip-sync/async", json=_params(0), headers=mock.auth_headers
            )
            task_id = response.json()["data"]["task_id"]
            mock.force(task_id, "success")
            for _ in range(200):
                await client.get(f"/api/v1/tasks/{task_id}")
            mock.journal.clear()
            gc.collect()
            before = _rss_bytes()
            for _ in range(n):
                await client.get(f"/api/v1/tasks/{task_id}")
            gc.collect()
            after = _rss_bytes()
        return {
            "n": n,
            "entries": len(mock.journal),
            "max_entries": mock.journal.max_entries,
            "rss_before": before,
            "rss_after": after,
            "bytes_per_entry": (after - before) / n,
        }

    return asyncio.run(run())


def measure_full_store(max_tasks: int, probes: int) -> dict[str, Any]:
    """What one submit costs once the store holds `max_tasks` unfinished tasks, against
    the same submit into an empty store."""
    from vidu_lipsync_mock.config import MockConfig
    from vidu_lipsync_mock.state import MockState

    state = MockState(
        MockConfig(
            clock="manual",
            rate_limit=0,
            progression="manual",
            max_tasks=max_tasks,
            starting_credit=CREDIT,
        )
    )
    warm = min(max_tasks // 2, 200)  # the same submit into a (nearly) empty store
    for i in range(20):
        state.submit(MODEL, _params(i), _key(i))
    started = time.perf_counter()
    for i in range(20, warm):
        state.submit(MODEL, _params(i), _key(i))
    empty_us = (time.perf_counter() - started) / max(1, warm - 20) * 1e6
    for i in range(warm, max_tasks):
        state.submit(MODEL, _params(i), _key(i))
    started = time.perf_counter()
    for i in range(probes):
        state.submit(MODEL, _params(max_tasks + i), _key(i))
    full_us = (time.perf_counter() - started) / probes * 1e6
    return {
        "max_tasks": max_tasks,
        "probes": probes,
        "submit_us_empty": empty_us,
        "submit_us_full": full_us,
    }


def run_child(kind: str, *args: int, timeout: float = 300.0) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter and return its JSON."""
    done = subprocess.run(
        [sys.executable, str(HERE / "bench_memory.py"), "--child", kind, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory child {kind} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- over a real socket: the mock and bare Starlette, wave by wave ------------------------

SUBMIT_PATH = "/api/v1/vidu/lip-sync/async"
SOCKET_KEY = "mdlx-" + "M3mB3nch" * 6
MIB = 1024 * 1024
#: The journal read of the soak, every `READ_EVERY` requests.
JOURNAL_READ = "/_mock/journal?limit=50"
READ_EVERY = 300


def _status_of(reply: bytes) -> int:
    """The status of a raw HTTP answer; 0 when the server answered nothing."""
    parts = reply.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def _exchange(port: int, head: bytes, body: bytes = b"", *, pad: int = 0) -> int:
    """Send one request on a new connection and return its status. `pad` bytes of an
    `X-Padding` header are streamed in 1 MiB pieces (a server may answer and close early:
    the answer is read whatever happened to the rest)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        try:
            if pad:
                sock.sendall(head + b"X-Padding: ")
                piece = b"p" * MIB
                for start in range(0, pad, MIB):
                    sock.sendall(piece[: min(MIB, pad - start)])
                sock.sendall(b"\r\n\r\n")
            else:
                sock.sendall(head + b"\r\n" + body)
        except OSError:
            pass  # answered and closed while we were still sending: read what it said
        reply = b""
        try:
            while b"\r\n" not in reply:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
        except OSError:
            pass
    return _status_of(reply)


def _head(method: str, path: str, **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n").encode()


def submit_of(size: int) -> Callable[[int], int]:
    """A valid submit of `size` bytes: a video URL and one large unknown field."""
    prefix = b'{"video_url": "https://example.com/v.mp4", "padding": "'
    body = prefix + b"p" * (size - len(prefix) - 2) + b'"}'
    head = _head(
        "POST", SUBMIT_PATH, Authorization=f"Bearer {SOCKET_KEY}",
        Content_Type="application/json", Content_Length=str(len(body)),
    )  # fmt: skip
    return lambda port: _exchange(port, head, body)


def poll_with_header(size: int) -> Callable[[int], int]:
    head = _head("GET", "/api/v1/tasks/task-none", Authorization=f"Bearer {SOCKET_KEY}")
    return lambda port: _exchange(port, head, pad=size)


def _soak(server: Server, port: int, requests: int) -> tuple[Counter[int], list[float]]:
    """Submits and polls on one keep-alive connection, a journal read every `READ_EVERY`
    requests; the RSS (MiB) after each read."""
    import http.client

    auth = {"Authorization": f"Bearer {SOCKET_KEY}", "Content-Type": "application/json"}
    body = json.dumps({"video_url": "https://example.com/v.mp4"})
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    statuses: Counter[int] = Counter()
    samples: list[float] = []
    try:
        for i in range(1, requests + 1):
            if i % 3 == 1:
                connection.request("POST", SUBMIT_PATH, body=body, headers=auth)
            else:
                connection.request("GET", f"/api/v1/tasks/task-{i:024d}", headers=auth)
            response = connection.getresponse()
            response.read()
            statuses[response.status] += 1
            if i % READ_EVERY == 0:
                connection.request("GET", JOURNAL_READ)
                read = connection.getresponse()
                read.read()
                statuses[read.status] += 1
                samples.append((server.rss_kib() or 0) / 1024)
    finally:
        connection.close()
    return statuses, samples


def _servers(tmp: Path) -> dict[str, list[str]]:
    for name, content in (("poll.json", b'{"code":0}'), ("submit.json", b'{"code":0}')):
        (tmp / name).write_bytes(content)
    (tmp / "result.mp4").write_bytes(b"")
    mock = python_argv(
        "-m", "vidu_lipsync_mock", "serve", "--port", "0", "--rate-limit", "0",
        "--starting-credit", "1000000000", "--log-level", "warning",
        # The soak's tasks end and expire within a second, and its journal is full early,
        # so that what is left to grow is a leak.
        "--speed", "10", "--retention-seconds", "5", "--journal-max-entries", "1000",
    )  # fmt: skip
    reference = python_argv(
        str(HERE / "reference_app.py"), "--poll-body", str(tmp / "poll.json"),
        "--submit-body", str(tmp / "submit.json"), "--video", str(tmp / "result.mp4"),
    )  # fmt: skip
    return {"mock": mock, "bare Starlette": reference}


def measure_over_socket(
    *, submits: int, polls: int, huge_header: int, soak: int
) -> list[dict[str, Any]]:
    """The waves (a), (b) and (c) against each server, one row per server and wave."""
    waves: list[tuple[str, int, Callable[[int], int]]] = [
        ("(a) submit, 1 MB body", submits, submit_of(1_000_000)),
        ("(b) poll, 1 MB header", polls, poll_with_header(1_000_000)),
        (f"(b) poll, {huge_header // MIB} MiB header", 1, poll_with_header(huge_header)),
    ]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, argv in _servers(Path(tmp)).items():
            with Server(name, argv, core=None) as server:
                port = int(server.url.rsplit(":", 1)[1])
                for _ in range(20):  # warm every lazy path before the first measurement
                    submit_of(1000)(port)
                    poll_with_header(10)(port)
                for wave, count, send in waves:
                    before = server.rss_kib() or 0
                    started = time.perf_counter()
                    statuses = Counter(send(port) for _ in range(count))
                    rows.append(_row(name, wave, count, statuses, before, server, started))
                before = server.rss_kib() or 0
                started = time.perf_counter()
                statuses, samples = _soak(server, port, soak)
                row = _row(name, "(c) soak, journal reads", soak, statuses, before, server, started)
                half = len(samples) // 2
                row["second_half_mib"] = round(
                    statistics.median(samples[-3:]) - statistics.median(samples[half : half + 3]),
                    1,
                )
                rows.append(row)
    return rows


def _row(
    server: str, wave: str, count: int, statuses: Counter[int], before_kib: int,
    running: Server, started: float,
) -> dict[str, Any]:  # fmt: skip
    after = running.rss_kib() or 0
    return {
        "server": server,
        "wave": wave,
        "requests": count,
        "statuses": dict(sorted(statuses.items())),
        "rss_before_mib": round(before_kib / 1024, 1),
        "rss_after_mib": round(after / 1024, 1),
        "rss_delta_mib": round((after - before_kib) / 1024, 1),
        "seconds": round(time.perf_counter() - started, 2),
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| server | wave | requests | statuses | RSS MiB before | after | delta | seconds |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        statuses = ", ".join(f"{s}: {n}" for s, n in r["statuses"].items())
        lines.append(
            f"| {r['server']} | {r['wave']} | {r['requests']} | {statuses} "
            f"| {r['rss_before_mib']} | {r['rss_after_mib']} | {r['rss_delta_mib']} "
            f"| {r['seconds']} |"
        )
    soaks = [r for r in rows if "second_half_mib" in r]
    lines += [""] + [
        f"{r['server']}: the soak's second half moved RSS by {r['second_half_mib']} MiB"
        for r in soaks
    ]
    return "\n".join(lines)


def verdict(rows: list[dict[str, Any]]) -> str:
    """Whether 200 submits of 1 MB grew the mock by under 50 MiB (scaled to the count)."""
    (wave,) = [r for r in rows if r["server"] == "mock" and r["wave"].startswith("(a)")]
    per_200 = wave["rss_delta_mib"] * 200 / max(1, wave["requests"])
    met = "met" if per_200 < 50 else "NOT met"
    return f"(a) target < 50 MiB per 200 one-megabyte submits: {per_200:.1f} MiB, {met}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="the targets' sizes, short soak")
    parser.add_argument("--json", metavar="FILE", help="also write the socket rows as JSON")
    parser.add_argument("--child", choices=("tasks", "journal", "full-store"))
    parser.add_argument("numbers", type=int, nargs="*")
    args = parser.parse_args(argv)
    if args.child is None:
        scale = 1 if args.quick else 5
        rows = measure_over_socket(
            submits=200 * scale, polls=300 * scale, huge_header=64 * MIB, soak=3000 * scale * 2
        )
        print(markdown(rows))
        print(verdict(rows))
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")
        return 0
    numbers: list[int] = args.numbers
    if args.child == "tasks":
        result = measure_tasks(*numbers[:2])
    elif args.child == "journal":
        result = measure_journal(numbers[0])
    else:
        result = measure_full_store(*numbers[:2])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
