"""In-process costs: a submit+poll through the ASGI transports, the per-test work of the
pytest fixtures, the start of a server thread, and the same seen from pytest itself.

Every loop here is bounded by a count and by a wall-time budget, whichever ends first.
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from reference_app import create_reference_app
from starlette.types import ASGIApp, Message

from vidu_lipsync_mock import LipSyncMock, MockConfig
from vidu_lipsync_mock.pytest_plugin.fixtures import _Session
from vidu_lipsync_mock.pytest_plugin.transport import AsyncMockTransport, SyncMockTransport

__all__ = [
    "BENCH_RATE_LIMIT",
    "NEVER_MATCHING_RULE",
    "SUBMIT_BODY",
    "SUBMIT_PATH",
    "PytestCost",
    "Timing",
    "bench_mock",
    "measure_asgi_layers",
    "measure_async_roundtrip",
    "measure_fixture_overhead",
    "measure_pytest_level",
    "measure_server_start",
    "measure_sync_roundtrip",
    "parse_pytest_seconds",
    "summarize",
]

SUBMIT_PATH = "/api/v1/vidu/lip-sync/async"
SUBMIT_BODY: dict[str, str] = {
    "video_url": "https://example.com/presenter.mp4",
    "audio_url": "https://example.com/voiceover.mp3",
}
#: Keeps the fault engine busy on every request without ever firing.
NEVER_MATCHING_RULE: dict[str, Any] = {
    "fault": "error",
    "status": 503,
    "body": {"video_url": "never-sent-by-the-benchmark"},
}
BASE_URL = "http://lipsync.test"
#: Requests per minute per key in the benchmarks: the limiter stays on (it counts every
#: request, and every answer carries its headers) with a quota no load uses up.
BENCH_RATE_LIMIT = 1_000_000_000


@dataclass(frozen=True)
class Timing:
    """Per-operation times in microseconds over `n` operations."""

    n: int
    median_us: float
    mean_us: float
    p99_us: float
    min_us: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(samples_ns: Sequence[int]) -> Timing:
    if not samples_ns:
        raise ValueError("no samples")
    ordered = sorted(samples_ns)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return Timing(
        n=len(ordered),
        median_us=statistics.median(ordered) / 1000,
        mean_us=statistics.fmean(ordered) / 1000,
        p99_us=p99 / 1000,
        min_us=ordered[0] / 1000,
    )


def bench_mock(**settings: Any) -> LipSyncMock:
    """A mock as the server benchmark runs it: the defaults (journal, rate limiter with a
    quota never used up, accounts), manual progression, and one fault rule that never
    fires."""
    mock = LipSyncMock(
        rate_limit=BENCH_RATE_LIMIT,
        progression="manual",
        clock="manual",
        starting_credit="1000000000",  # unfinished tasks hold credit: never run out
        **settings,
    )
    mock.add_fault(dict(NEVER_MATCHING_RULE))
    return mock


def _sample(
    operation: Callable[[], object], n: int, budget_s: float, warmup: int = 20
) -> list[int]:
    for _ in range(warmup):
        operation()
    samples: list[int] = []
    deadline = time.perf_counter() + budget_s
    clock = time.perf_counter_ns
    for _ in range(n):
        start = clock()
        operation()
        samples.append(clock() - start)
        if time.perf_counter() > deadline:
            break
    return samples


def _check(response: httpx.Response, status: int = 200) -> httpx.Response:
    if response.status_code != status:
        raise RuntimeError(f"unexpected {response.status_code}: {response.text[:300]}")
    return response


async def _async_roundtrips(
    transport: httpx.AsyncBaseTransport, mock: LipSyncMock, n: int, budget_s: float
) -> list[int]:
    samples: list[int] = []
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE_URL, headers=mock.auth_headers
    ) as client:

        async def once() -> None:
            submitted = _check(await client.post(SUBMIT_PATH, json=SUBMIT_BODY))
            task_id = submitted.json()["data"]["task_id"]
            _check(await client.get(f"/api/v1/tasks/{task_id}"))

        for _ in range(10):
            await once()
        deadline = time.perf_counter() + budget_s
        for _ in range(n):
            start = time.perf_counter_ns()
            await once()
            samples.append(time.perf_counter_ns() - start)
            if time.perf_counter() > deadline:
                break
    return samples


def measure_async_roundtrip(n: int, budget_s: float = 5.0, *, plugin: bool = False) -> Timing:
    """One submit + one poll through `httpx.ASGITransport` (or the plugin's async
    transport, which wraps it), on one event loop."""
    mock = bench_mock()
    transport: httpx.AsyncBaseTransport = (
        AsyncMockTransport(mock.app) if plugin else httpx.ASGITransport(app=mock.app)
    )
    return summarize(asyncio.run(_async_roundtrips(transport, mock, n, budget_s)))


def measure_sync_roundtrip(n: int, budget_s: float = 5.0) -> Timing:
    """One submit + one poll through the plugin's `SyncMockTransport` (a private event
    loop per transport, one `run_until_complete` per request)."""
    mock = bench_mock()
    with httpx.Client(
        transport=SyncMockTransport(mock.app), base_url=BASE_URL, headers=mock.auth_headers
    ) as client:

        def once() -> None:
            submitted = _check(client.post(SUBMIT_PATH, json=SUBMIT_BODY))
            _check(client.get(f"/api/v1/tasks/{submitted.json()['data']['task_id']}"))

        return summarize(_sample(once, n, budget_s, warmup=10))


def _empty() -> None:
    return None


def measure_fixture_overhead(n: int, budget_s: float = 3.0) -> dict[str, Timing]:
    """What the fixtures do per test, each timed per call next to an empty function (the
    timer's own cost, to subtract).

    - `mock_for`: `_Session.mock_for(config)` for a cached configuration (which resets);
    - `build+mock_for`: a fresh `MockConfig` per test, as `resolve_settings` makes (each
      test has its own seed), then `mock_for`;
    - `server reset`: what `lipsync_live` does to the session's running server
      (`config.replace(host, port)` and `reset()`).
    """
    session = _Session()
    config = MockConfig.build({"clock": "manual", "seed": 1})
    session.mock_for(config)
    seeds = iter(range(10**9))

    def build_and_mock_for() -> None:
        session.mock_for(MockConfig.build({"clock": "manual"}, seed=next(seeds)))

    server = LipSyncMock(
        MockConfig.build({"clock": "manual", "seed": 1}),
        registry=session.registry,
        media=session.media,
    )
    server.start()
    try:

        def server_reset() -> None:
            server.config = config.replace(host=server.config.host, port=server.config.port)
            server.reset()

        results = {
            "empty function": summarize(_sample(_empty, n, budget_s)),
            "mock_for (cached config)": summarize(
                _sample(lambda: session.mock_for(config), n, budget_s)
            ),
            "config build + mock_for": summarize(_sample(build_and_mock_for, n, budget_s)),
            "server reset (lipsync_live)": summarize(_sample(server_reset, n, budget_s)),
        }
    finally:
        server.stop()
        session.close()
    return results


def measure_server_start(repeats: int, budget_s: float = 10.0) -> list[float]:
    """`LipSyncMock().start()` and a first GET answered, in milliseconds, then stop().
    The first sample is the cold one (sample media and model specs read for the first
    time in this process)."""
    samples: list[float] = []
    deadline = time.perf_counter() + budget_s
    for _ in range(repeats):
        start = time.perf_counter()
        mock = LipSyncMock()
        try:
            url = mock.start()
            with urllib.request.urlopen(f"{url}/_mock/health", timeout=5) as response:
                response.read()
            samples.append((time.perf_counter() - start) * 1000)
        finally:
            mock.stop()
        if time.perf_counter() > deadline:
            break
    return samples


_PYTEST_TIME = re.compile(r"\b([0-9]+) passed\b.* in ([0-9.]+)s")


def parse_pytest_seconds(output: str) -> tuple[int, float] | None:
    """(tests passed, seconds) from pytest's closing line, e.g. `300 passed in 0.91s`."""
    found = _PYTEST_TIME.findall(output)
    if not found:
        return None
    passed, seconds = found[-1]
    return int(passed), float(seconds)


@dataclass(frozen=True)
class PytestCost:
    """Per-test cost of a fixture as pytest sees it (its own session time, min of runs)."""

    n: int
    empty_s: float
    fixture_s: float
    per_test_ms: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


#: A control: pytest's own cost of a function-scoped generator fixture that does nothing.
_CONFTEST = """import pytest


@pytest.fixture
def trivial_fixture():
    yield object()
"""


def _write_tests(directory: Path, name: str, n: int, fixture: str | None) -> Path:
    lines = ["# generated by benchmarks/bench_inprocess.py\n"]
    for i in range(n):
        if fixture is None:
            lines.append(f"\n\ndef test_{i}():\n    pass\n")
        else:
            lines.append(f"\n\ndef test_{i}({fixture}):\n    pass\n")
    path = directory / name
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _pytest_seconds(path: Path, n: int, timeout: float) -> float:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    parsed = parse_pytest_seconds(done.stdout)
    if done.returncode != 0 or parsed is None or parsed[0] != n:
        raise RuntimeError(f"pytest on {path.name} failed:\n{done.stdout[-2000:]}{done.stderr}")
    return parsed[1]


def measure_pytest_level(
    n: int, repeats: int, fixtures: Sequence[str] = ("lipsync_mock",), timeout: float = 120.0
) -> dict[str, PytestCost]:
    """Run pytest on N tests using each fixture and on N empty tests; the difference of
    pytest's own session times, divided by N, is the fixture's per-test cost (one-time
    costs such as the first mock's construction included, spread over the N tests).
    The test bodies are `pass` in both files, so assertion rewriting costs the same."""
    results: dict[str, PytestCost] = {}
    with tempfile.TemporaryDirectory(prefix="lipsync-bench-") as tmp:
        directory = Path(tmp)
        (directory / "conftest.py").write_text(_CONFTEST, encoding="utf-8")
        empty = _write_tests(directory, "test_empty.py", n, None)
        files = {f: _write_tests(directory, f"test_{f}.py", n, f) for f in fixtures}
        empty_times: list[float] = []
        fixture_times: dict[str, list[float]] = {f: [] for f in fixtures}
        for _ in range(repeats):
            empty_times.append(_pytest_seconds(empty, n, timeout))
            for fixture, path in files.items():
                fixture_times[fixture].append(_pytest_seconds(path, n, timeout))
        for fixture, times in fixture_times.items():
            results[fixture] = PytestCost(
                n=n,
                empty_s=min(empty_times),
                fixture_s=min(times),
                per_test_ms=(min(times) - min(empty_times)) / n * 1000,
            )
    return results


def _scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _asgi_call(
    app: ASGIApp, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes
) -> list[Message]:
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[Message] = []

    async def receive() -> Message:
        return pending.pop() if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(_scope(method, path, headers), receive, send)
    return sent


AsgiRequest = tuple[str, str, list[tuple[bytes, bytes]], bytes]


async def asgi_requests(mock: LipSyncMock) -> tuple[dict[str, AsgiRequest], ASGIApp]:
    """A poll of a finished task and a submit, as `_asgi_call` takes them, and the bare
    reference app answering the same bytes the mock does (its quota headers too)."""
    body = json.dumps(SUBMIT_BODY).encode()
    auth = mock.auth_headers["Authorization"].encode()
    get_headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk"), (b"authorization", auth)]
    post_headers = [
        *get_headers,
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    sent = await _asgi_call(mock.app, "POST", SUBMIT_PATH, post_headers, body)
    task_id = json.loads(sent[-1]["body"])["data"]["task_id"]
    mock.force(task_id, "success")
    poll_path = f"/api/v1/tasks/{task_id}"
    polled = await _asgi_call(mock.app, "GET", poll_path, get_headers, b"")
    quota = {
        name.decode(): value.decode()
        for name, value in sent[0]["headers"]
        if name.startswith(b"x-ratelimit-") or name == b"x-request-id"
    }
    reference = create_reference_app(polled[-1]["body"], sent[-1]["body"], b"", quota)
    requests = {
        "poll": ("GET", poll_path, get_headers, b""),
        "submit": ("POST", SUBMIT_PATH, post_headers, body),
    }
    return requests, reference


def measure_asgi_layers(n: int, budget_s: float = 4.0) -> dict[str, dict[str, Timing]]:
    """One request straight into an ASGI app (no socket, no httpx), to split the app's own
    cost by layer: the bare reference app answering fixed bytes, our app with no fault
    rule (so the edge skips the fault engine), and our full app (journal on, one
    never-firing rule, so the engine is consulted on every request)."""
    mock = bench_mock()
    full = mock.app

    async def run() -> dict[str, dict[str, Timing]]:
        requests, reference = await asgi_requests(mock)
        apps: dict[str, ASGIApp] = {
            "bare Starlette (fixed bytes)": reference,
            "our full app, no fault rule": full,
            "our full app": full,
        }
        results: dict[str, dict[str, Timing]] = {}
        for name, app in apps.items():
            results[name] = {}
            mock.clear_faults()
            if name == "our full app":
                mock.add_fault(dict(NEVER_MATCHING_RULE))
            for kind, (method, path, headers, payload) in requests.items():
                for _ in range(50):
                    await _asgi_call(app, method, path, headers, payload)
                samples: list[int] = []
                deadline = time.perf_counter() + budget_s / 6
                for _ in range(n):
                    start = time.perf_counter_ns()
                    answer = await _asgi_call(app, method, path, headers, payload)
                    samples.append(time.perf_counter_ns() - start)
                    if answer[0].get("status") != 200:
                        raise RuntimeError(f"{name} answered {answer[0].get('status')}")
                    if time.perf_counter() > deadline:
                        break
                results[name][kind] = summarize(samples)
        return results

    return asyncio.run(run())
