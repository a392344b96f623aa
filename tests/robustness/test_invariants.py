"""Invariants that must hold when many clients hit one server at once, with faults on.

Clients run as threads (`requests` sessions and `httpx.Client`s) and as asyncio tasks (one
`httpx.AsyncClient`), all over real loopback sockets, while the test thread moves the
manual clock. Every client follows the same script (submit, poll until the task ends, poll
once more, sometimes download the result), written once as a generator and driven by a
synchronous or an asynchronous transport. Each client keeps its own tally of what it saw;
afterwards the tallies, the journal and the task store must tell one consistent story.

Load scales with `LIPSYNC_ROBUSTNESS_SCALE` (see `conftest.py`).
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.service.tasks import TaskStatus, TransitionError

SUBMIT_PATH = "/api/v1/vidu/lip-sync/async"
MODEL_ID = "vidu/lip-sync"
#: Along the lifecycle; both terminal statuses share the last rank.
RANK = {"pending": 0, "processing": 1, "success": 2, "failed": 2}
#: Journal outcomes in which the client got no complete answer (its library raised).
BROKEN = frozenset({"reset", "closed_after_headers", "closed_mid_body", "hang"})
#: Polls per task before a client gives up on seeing it end (the test ends it later).
MAX_POLLS = 10
#: Polls a client makes after it first saw a task end, to watch the status stay put.
EXTRA_POLLS = 1
TIMEOUT = 15.0
BASE_TASKS = 1500  # total submits of the chaos test at scale 1


# -- what a client does ----------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    json: dict[str, Any] | None = None

    @property
    def route(self) -> str:
        if self.method == "POST":
            return "submit"
        if self.path.startswith("/api/v1/tasks/"):
            return "poll"
        return "download"


@dataclass(frozen=True)
class Reply:
    status: int  # 0 when the connection broke before a complete answer arrived
    body: bytes
    document: Any = None  # the parsed JSON body, or None


@dataclass
class Tally:
    """Everything one client saw. Only its own thread or task writes to it."""

    name: str
    counts: Counter[tuple[str, int]] = field(default_factory=Counter)
    unparsable: Counter[str] = field(default_factory=Counter)  # answers that were not JSON
    accepted: dict[str, str] = field(default_factory=dict)  # task id -> video_url marker
    refused: dict[str, int] = field(default_factory=dict)  # marker -> submit status
    views: dict[str, list[str]] = field(default_factory=dict)  # task id -> statuses seen
    terminal: dict[str, str] = field(default_factory=dict)  # first terminal status seen
    downloads: int = 0
    problems: list[str] = field(default_factory=list)
    #: Extra checks on each poll answer that is JSON: (task id, document) -> problems.
    inspect: Callable[[str, Any], list[str]] | None = None

    def record(self, call: Call, reply: Reply) -> None:
        self.counts[call.route, reply.status] += 1
        if reply.status != 0 and call.route != "download" and reply.document is None:
            self.unparsable[call.route] += 1


def parse(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def marker_for(client: str, index: int) -> str:
    return f"https://example.com/robustness/{client}/{index}.mp4"


def script(
    tally: Tally, n_tasks: int, result_size: int, download_every: int = 4
) -> Generator[Call, Reply, None]:
    """One client's life: the calls it makes, and the checks it can make on its own."""
    for index in range(n_tasks):
        marker = marker_for(tally.name, index)
        reply = yield Call("POST", SUBMIT_PATH, {"video_url": marker})
        if reply.status != 200:
            tally.refused[marker] = reply.status
            continue
        document = reply.document
        if not isinstance(document, dict) or document.get("code") != 0:
            tally.problems.append(f"submit 200 without a success envelope: {reply.body[:200]!r}")
            continue
        data = document["data"]
        task_id = data["task_id"]
        if task_id in tally.accepted:
            tally.problems.append(f"task id {task_id} handed out twice")
        if data["status"] != "pending" or data["model_id"] != MODEL_ID:
            tally.problems.append(f"odd submit answer: {data}")
        if not data["get_result"]["url"].endswith(f"/api/v1/tasks/{task_id}"):
            tally.problems.append(f"get_result.url does not lead to the task: {data}")
        tally.accepted[task_id] = marker
        views = tally.views.setdefault(task_id, [])
        not_found = 0
        after_end = 0
        for _ in range(MAX_POLLS):
            reply = yield Call("GET", f"/api/v1/tasks/{task_id}")
            if reply.status == 404:
                not_found += 1
                # Only the eventual-consistency fault answers 404, and only for the first
                # poll that reaches the service (`task_not_found` with polls=1).
                if views or not_found > 1:
                    tally.problems.append(f"{task_id}: 404 after {views} ({not_found} times)")
                continue
            if reply.status != 200 or reply.document is None:
                continue  # a fault: 429, 503, a reset, or a truncated body
            document = reply.document
            data = document.get("data") if isinstance(document, dict) else None
            if (
                not isinstance(data, dict)
                or document.get("code") != 0
                or document.get("message") != "success"
                or data.get("task_id") != task_id
                or data.get("model_id") != MODEL_ID
                or data.get("status") not in RANK
            ):
                tally.problems.append(f"{task_id}: bad poll answer {reply.body[:300]!r}")
                continue
            if tally.inspect is not None:
                tally.problems += [f"{task_id}: {p}" for p in tally.inspect(task_id, document)]
            status = data["status"]
            if views and RANK[status] < RANK[views[-1]]:
                tally.problems.append(f"{task_id}: status went back: {[*views, status]}")
            if task_id in tally.terminal and status != tally.terminal[task_id]:
                tally.problems.append(f"{task_id}: terminal status changed: {[*views, status]}")
            views.append(status)
            if RANK[status] == 2:
                tally.terminal.setdefault(task_id, status)
                after_end += 1
                if after_end > EXTRA_POLLS:
                    break
        if tally.terminal.get(task_id) == "success" and index % download_every == 0:
            reply = yield Call("GET", f"/files/{task_id}/result.mp4")
            if reply.status == 200:
                tally.downloads += 1
                if len(reply.body) != result_size or reply.body[4:8] != b"ftyp":
                    tally.problems.append(f"{task_id}: result file of {len(reply.body)} bytes")


# -- drivers: the same script over three client libraries ------------------------------------


def drive(steps: Generator[Call, Reply, None], send: Callable[[Call], Reply], tally: Tally) -> None:
    call = next(steps)
    while True:
        reply = send(call)
        tally.record(call, reply)
        try:
            call = steps.send(reply)
        except StopIteration:
            return


def with_requests(base: str, headers: dict[str, str]) -> Callable[[Callable[..., Reply]], None]:
    def run(body: Callable[[Callable[[Call], Reply]], None]) -> None:
        with requests.Session() as session:
            session.headers.update(headers)

            def send(call: Call) -> Reply:
                try:
                    with session.request(
                        call.method, base + call.path, json=call.json, timeout=TIMEOUT
                    ) as response:
                        content = response.content
                except requests.RequestException:
                    return Reply(0, b"")
                return Reply(response.status_code, content, parse(content))

            body(send)

    return run


def with_httpx(base: str, headers: dict[str, str]) -> Callable[[Callable[..., Reply]], None]:
    def run(body: Callable[[Callable[[Call], Reply]], None]) -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=TIMEOUT) as http:

            def send(call: Call) -> Reply:
                try:
                    response = http.request(call.method, call.path, json=call.json)
                except httpx.TransportError:
                    return Reply(0, b"")
                return Reply(response.status_code, response.content, parse(response.content))

            body(send)

    return run


async def drive_async(
    http: httpx.AsyncClient, steps: Generator[Call, Reply, None], tally: Tally
) -> None:
    call = next(steps)
    while True:
        try:
            response = await http.request(call.method, call.path, json=call.json)
        except httpx.TransportError:
            reply = Reply(0, b"")
        else:
            reply = Reply(response.status_code, response.content, parse(response.content))
        tally.record(call, reply)
        try:
            call = steps.send(reply)
        except StopIteration:
            return


def run_async_clients(
    base: str, headers: dict[str, str], tallies: list[Tally], n_tasks: int, result_size: int
) -> None:
    async def main() -> None:
        limits = httpx.Limits(max_connections=len(tallies))
        async with httpx.AsyncClient(
            base_url=base, headers=headers, timeout=TIMEOUT, limits=limits
        ) as http:
            await asyncio.gather(
                *(drive_async(http, script(t, n_tasks, result_size), t) for t in tallies)
            )

    asyncio.run(main())


@dataclass
class Load:
    tallies: list[Tally]
    futures: list[Future[None]]


def start_load(
    pool: ThreadPoolExecutor,
    mock: LipSyncMock,
    n_tasks: int,
    *,
    threads: int,
    coroutines: int,
    inspect: Callable[[str, Any], list[str]] | None = None,
) -> Load:
    """`threads` sync clients (alternately requests and httpx) and one thread running
    `coroutines` asyncio clients, each submitting `n_tasks` tasks."""
    base, headers = mock.url, mock.auth_headers
    size = mock.result_media("vidu/lip-sync").file.size
    tallies: list[Tally] = []
    futures: list[Future[None]] = []
    for number in range(threads):
        library = ("requests", "httpx")[number % 2]
        tally = Tally(f"{library}-{number}", inspect=inspect)
        tallies.append(tally)
        runner = (with_requests if library == "requests" else with_httpx)(base, headers)

        def body(send: Callable[[Call], Reply], tally: Tally = tally) -> None:
            drive(script(tally, n_tasks, size), send, tally)

        futures.append(pool.submit(runner, body))
    async_tallies = [Tally(f"asyncio-{n}", inspect=inspect) for n in range(coroutines)]
    tallies += async_tallies
    futures.append(pool.submit(run_async_clients, base, headers, async_tallies, n_tasks, size))
    return Load(tallies, futures)


def tick_clock_until_done(
    mock: LipSyncMock, futures: Iterable[Future[None]], step: float, on_tick: Callable[[], None]
) -> int:
    """The test thread's part: move the clock on (and do `on_tick`) until the clients end."""
    pending = list(futures)
    ticks = 0
    while pending:
        pending = [f for f in pending if not f.done()]
        mock.advance(step)
        on_tick()
        ticks += 1
        # The lifecycle itself only moves when the clock does.
        time.sleep(0.004)  # real-time: give server and clients the CPU between clock steps
    for future in futures:
        future.result()  # re-raise a client's own exception
    return ticks


def wait_for_journal(mock: LipSyncMock, expected: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(mock.journal) < expected and time.monotonic() < deadline:
        time.sleep(0.01)  # real-time: the journal entry lands just after the client's answer


def merged(tallies: Iterable[Tally]) -> Tally:
    total = Tally("all")
    for t in tallies:
        total.counts.update(t.counts)
        total.unparsable.update(t.unparsable)
        overlap = set(total.accepted) & set(t.accepted)
        total.problems += [f"task id {i} handed out to two clients" for i in overlap]
        total.accepted.update(t.accepted)
        total.refused.update(t.refused)
        total.views.update(t.views)
        total.terminal.update(t.terminal)
        total.downloads += t.downloads
        total.problems += [f"{t.name}: {p}" for p in t.problems]
    return total


def seen_status(outcome: str, status: int) -> int:
    """The status a client saw for a journal entry: 0 when its connection broke."""
    return 0 if outcome in BROKEN else status


# -- the tests -------------------------------------------------------------------------------


def test_no_task_lost_duplicated_or_reversed_under_chaos(live, scale):
    mock = live(seed=20240601)
    mock.use_profile("chaos", seed=1234)
    threads, coroutines = 4, 4
    n_tasks = math.ceil(BASE_TASKS * scale / (threads + coroutines))
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads + 1) as pool:
        load = start_load(
            pool, mock, n_tasks, threads=threads, coroutines=coroutines, inspect=check_task_document
        )
        ticks = tick_clock_until_done(mock, load.futures, 0.5, lambda: None)
    seen = merged(load.tallies)
    total_calls = sum(seen.counts.values())
    wait_for_journal(mock, total_calls)
    load_seconds = time.perf_counter() - started
    submitted = (threads + coroutines) * n_tasks
    print(
        f"\n{submitted} submits, {total_calls} requests in {load_seconds:.1f} s "
        f"({total_calls / load_seconds:.0f}/s), {ticks} clock steps; "
        f"{dict(sorted(seen.counts.items()))}"
    )

    # Each client's own checks: statuses only move forward, terminal ones never change, a
    # 404 only before the task was first seen, result files whole.
    assert seen.problems == []
    assert sum(n for (route, _), n in seen.counts.items() if route == "submit") == submitted
    # The run exercised what it claims to: every status, every kind of chaos.
    statuses = Counter(s for views in seen.views.values() for s in views)
    assert set(statuses) == set(RANK), statuses
    for route, status in [("submit", 500), ("submit", 503), ("submit", 429), ("poll", 0)]:
        assert seen.counts[route, status] > 0, (route, status, seen.counts)
    assert seen.counts["poll", 404] > 0
    assert seen.unparsable["poll"] > 0
    assert seen.downloads > 0

    # The journal tells the clients' story, request for request.
    journal = mock.journal.entries()
    assert mock.journal.dropped == 0
    assert len(journal) == total_calls, "journal entries != requests the clients made"
    by_route_and_status = Counter((e.route, seen_status(e.outcome, e.status)) for e in journal)
    assert by_route_and_status == seen.counts
    mangled = Counter(e.route for e in journal if e.outcome == "truncated_json")
    assert mangled == seen.unparsable
    assert len({e.seq for e in journal}) == len(journal)

    submits = [e for e in journal if e.route == "submit"]
    markers = {e.request_json()["video_url"]: e for e in submits}
    assert len(markers) == len(submits) == submitted, "one journal entry per submit"
    accepted_entries = Counter(e.task_id for e in submits if e.status == 200)
    assert accepted_entries == Counter(list(seen.accepted)), "one 200 entry per accepted task"
    for task_id, marker in seen.accepted.items():
        assert markers[marker].task_id == task_id

    # An ambiguous failure (500 after the service acted) created a task, and the journal
    # names it; a refusal before the service acted (429, 503) created nothing.
    created_unseen: dict[str, str] = {}
    problems = []
    for marker, status in seen.refused.items():
        entry = markers[marker]
        assert entry.status == status, (marker, entry)
        if status == 500:
            assert entry.fault is not None
            assert "error:500" in entry.fault
            if entry.task_id is None:
                problems.append(marker)
            else:
                created_unseen[entry.task_id] = marker
        else:
            assert status in (429, 503), (marker, status)
            assert entry.task_id is None, entry
    ambiguous = sum(1 for s in seen.refused.values() if s == 500)
    assert ambiguous > 0
    assert problems == [], (
        f"{len(problems)} of {ambiguous} submits answered 500 after the task was created "
        "have no task_id in the journal"
    )

    # The store holds exactly the tasks the service created: none lost, none twice, none
    # made up, none evicted.
    tasks = mock.tasks()
    ids = [t.task_id for t in tasks]
    assert len(ids) == len(set(ids))
    expected = {**seen.accepted, **created_unseen}
    assert set(ids) == set(expected)
    assert {t.task_id: t.params["video_url"] for t in tasks} == expected
    assert mock.store.evicted_expired == mock.store.evicted_for_space == 0

    # Every task ends, exactly once, the way its submit's faults said it would.
    mock.run_until_terminal()
    final = {t.task_id: t.status.value for t in mock.tasks()}
    assert set(final) == set(expected)
    faults_of = {e.task_id: e.fault or "" for e in submits if e.task_id is not None}
    for task_id, status in final.items():
        assert status == ("failed" if "task_fail" in faults_of[task_id] else "success"), task_id
    for task_id, status in seen.terminal.items():
        assert final[task_id] == status, task_id

    # Clients that keep polling (now without faults) see the same ending.
    mock.clear_faults()
    before = {t.task_id: t for t in mock.tasks()}

    async def poll_all() -> list[tuple[str, int, str | None]]:
        limits = httpx.Limits(max_connections=4)
        async with httpx.AsyncClient(
            base_url=mock.url, headers=mock.auth_headers, timeout=TIMEOUT, limits=limits
        ) as http:
            gate = asyncio.Semaphore(4)

            async def one(task_id: str) -> tuple[str, int, str | None]:
                async with gate:
                    response = await http.get(f"/api/v1/tasks/{task_id}")
                    if response.status_code == 404 and before[task_id].hidden:
                        response = await http.get(f"/api/v1/tasks/{task_id}")
                status = response.json()["data"]["status"] if response.status_code == 200 else None
                return task_id, response.status_code, status

            return await asyncio.gather(*(one(i) for i in final))

    again = asyncio.run(poll_all())
    assert [
        (i, code, status) for i, code, status in again if (code, status) != (200, final[i])
    ] == []


def test_journal_records_the_status_each_client_saw_for_every_fault(live):
    """The count comparison above, made exact: for each way a fault can answer (or break)
    a poll, and for each answer the service would have given, the journal's status is the
    one the client received (0 when the connection broke)."""
    mock = live(seed=3)
    good = {"Authorization": mock.auth_headers["Authorization"]}
    with httpx.Client(base_url=mock.url, timeout=TIMEOUT) as http:
        response = http.post(
            SUBMIT_PATH, json={"video_url": "https://example.com/v.mp4"}, headers=good
        )
        task_id = response.json()["data"]["task_id"]
        targets = {
            "found": (f"/api/v1/tasks/{task_id}", good),
            "unknown": ("/api/v1/tasks/task-doesnotexist", good),
            "no-key": (f"/api/v1/tasks/{task_id}", {}),
        }
        rules: list[dict[str, Any]] = [
            {"fault": "error", "status": 503},
            {"fault": "reset"},
            {"fault": "close_after_headers"},
            {"fault": "close_mid_body"},
            {"fault": "truncated_json"},
            {"fault": "malformed_json"},
            {"fault": "empty_body"},
            {"fault": "slow_body", "seconds": 0.01},
        ]
        mismatches = []
        for rule in rules:
            for target, (path, headers) in targets.items():
                mock.clear_faults()
                mock.add_fault({**rule, "route": "poll", "once": True})
                before = len(mock.journal)
                try:
                    reply = http.get(path, headers=headers)
                    client_status = reply.status_code
                except httpx.TransportError:
                    client_status = 0
                wait_for_journal(mock, before + 1)
                entry = mock.journal.entries()[-1]
                journal_status = seen_status(entry.outcome, entry.status)
                if journal_status != client_status:
                    mismatches.append((rule["fault"], target, client_status, journal_status))
    assert mismatches == [], "(fault, target, client saw, journal says)"


# Fault rules the mutator switches on and off: ones whose answers are still the provider's
# envelope, so a body that is not JSON can only be a deliberate mangling (counted apart).
MUTATOR_RULES: tuple[dict[str, Any], ...] = (
    {"fault": "error", "status": 503, "route": "poll", "probability": 0.2},
    {"fault": "error", "status": 429, "retry_after": 1, "probability": 0.1},
    {"fault": "error", "status": 500, "route": "submit", "phase": "after", "probability": 0.2},
    {"fault": "latency", "seconds": 0.002, "probability": 0.2},
    {"fault": "reset", "route": "poll", "probability": 0.05},
    {"fault": "truncated_json", "route": "poll", "probability": 0.05},
    {"fault": "task_fail", "route": "submit", "probability": 0.3},
    {"fault": "task_slow", "factor": 3.0, "route": "submit", "probability": 0.3},
    {"fault": "task_stuck", "status": "processing", "route": "submit", "probability": 0.1},
    {"fault": "task_not_found", "polls": 1, "route": "submit", "probability": 0.2},
)
PROFILES = ("chaos", "failing-tasks", "provider-outage", "rate-limit-storm")


def check_task_document(task_id: str, document: Any) -> list[str]:
    """A consistent view of one task, as one poll shows it; empty if all is well."""
    problems: list[str] = []
    if not isinstance(document, dict) or set(document) != {"code", "message", "data"}:
        return [f"not the success envelope: {document!r}"]
    data = document["data"]
    if (document["code"], document["message"]) != (0, "success") or not isinstance(data, dict):
        return [f"not the success envelope: {document!r}"]
    status = data.get("status")
    if status not in RANK or data.get("task_id") != task_id:
        problems.append(f"bad status or id: {data}")
    ended = status in ("success", "failed")
    for name in ("end_time", "duration"):
        if (name in data) != ended:
            problems.append(f"{name} {'missing' if ended else 'present'} for {status}: {data}")
    if ended and isinstance(data.get("end_time"), int):
        submit_time, end_time = data["submit_time"], data["end_time"]
        if end_time < submit_time:
            problems.append(f"end_time before submit_time: {data}")
        if data["duration"] != end_time - submit_time:
            problems.append(
                f"duration {data['duration']} != end_time - submit_time "
                f"{end_time - submit_time}: {data}"
            )
    if (status == "success") != ("result" in data and "result_expires_at" in data):
        problems.append(f"result fields do not match status {status}: {data}")
    if (status == "failed") != ("error_message" in data):
        problems.append(f"error_message does not match status {status}: {data}")
    return problems


def test_mutating_faults_clock_and_tasks_while_serving(live, scale, contract):
    mock = live(seed=99)
    threads, coroutines = 4, 6
    n_tasks = math.ceil(700 * scale / (threads + coroutines))
    rng = random.Random(5)
    live_rules: list[str] = []
    forced: Counter[str] = Counter()

    def mutate() -> None:
        """One random change by the test thread, as a test would make between steps."""
        choice = rng.random()
        if choice < 0.35:
            live_rules.append(mock.add_fault(dict(rng.choice(MUTATOR_RULES))).id)
        elif choice < 0.6 and live_rules:
            mock.remove_fault(live_rules.pop(rng.randrange(len(live_rules))))
        elif choice < 0.65:
            mock.use_profile(rng.choice(PROFILES), seed=rng.randrange(1000))
            live_rules[:] = [rule["id"] for rule in mock.fault_rules()]
        elif choice < 0.7:
            mock.clear_faults()
            live_rules.clear()
        else:
            unfinished = mock.tasks(TaskStatus.PENDING) + mock.tasks(TaskStatus.PROCESSING)
            for snapshot in rng.sample(unfinished, min(3, len(unfinished))):
                target = rng.choice(["processing", "success", "failed"])
                try:
                    mock.force(snapshot.task_id, target)
                except TransitionError:
                    forced["refused"] += 1  # it moved on (or was already there) meanwhile
                else:
                    forced[target] += 1

    with ThreadPoolExecutor(max_workers=threads + 1) as pool:
        load = start_load(
            pool, mock, n_tasks, threads=threads, coroutines=coroutines, inspect=check_task_document
        )
        # Odd, sub-millisecond steps, so timestamps land anywhere within a millisecond.
        ticks = tick_clock_until_done(mock, load.futures, 0.1234567, mutate)
    seen = merged(load.tallies)
    wait_for_journal(mock, sum(seen.counts.values()))

    assert mock.crashes == []
    assert ticks > 50
    assert sum(forced.values()) > 0
    assert seen.problems == []
    journal = mock.journal.entries()
    assert len(journal) == sum(seen.counts.values())
    mangled = Counter(e.route for e in journal if e.outcome == "truncated_json")
    assert mangled == seen.unparsable  # every body that was not JSON was mangled on purpose

    # Every poll answer (bar the deliberately mangled ones) is whole: JSON, the served
    # schema's shape, the provider's envelope, and one moment's view of the task.
    task_schema = contract.validator("/components/schemas/TaskResponse")
    error_schema = contract.validator("/components/schemas/Error")
    polls = [e for e in journal if e.route == "poll" and e.outcome == "response"]
    assert len(polls) > 100
    torn: list[str] = []
    for entry in polls:
        assert entry.response_headers["content-type"] == "application/json", entry
        document = json.loads(entry.response_body or "")
        if entry.status == 200:
            task_schema.validate(document)
            torn += [f"{entry.task_id}: {p}" for p in check_task_document(entry.task_id, document)]
        else:
            error_schema.validate(document)
            assert document["code"] == entry.status, entry
    assert torn == [], f"{len(torn)} inconsistent poll answers, e.g. {torn[:3]}"

    # And the server is still whole: a clean submit and poll go through.
    mock.clear_faults()
    with httpx.Client(base_url=mock.url, headers=mock.auth_headers, timeout=TIMEOUT) as http:
        response = http.post(SUBMIT_PATH, json={"video_url": "https://example.com/after.mp4"})
        assert response.status_code == 200, response.text
        task_id = response.json()["data"]["task_id"]
        mock.run_until_terminal(task_id)
        polled = http.get(f"/api/v1/tasks/{task_id}")
        assert polled.status_code == 200
        assert check_task_document(task_id, polled.json()) == []
    assert mock.crashes == []


@pytest.fixture(autouse=True)
def _no_leaked_threads():
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and not t.daemon]
    assert leaked == []
