"""Memory: resident size per finished task, eviction after the retention period, the
journal's cost per request, and what a submit costs once the store is full.

Each measurement runs in a fresh subprocess (`python benchmarks/bench_memory.py --child
...`) so that the resident size it reports is that of the mock alone.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "measure_full_store",
    "measure_journal",
    "measure_tasks",
    "run_child",
]

HERE = Path(__file__).resolve().parent
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", choices=("tasks", "journal", "full-store"), required=True)
    parser.add_argument("numbers", type=int, nargs="*")
    args = parser.parse_args(argv)
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
