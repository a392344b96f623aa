"""The admin HTTP API and the Python API are one API: each operation done through Python
on one mock and through `/_mock` on an identically configured, identically seeded mock
gives the same state and the same data. Bad admin input gets the provider's envelope."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from vidu_lipsync_mock import ApiError, ByPolls
from vidu_lipsync_mock.faults import FaultError
from vidu_lipsync_mock.http.admin_routes import task_record
from vidu_lipsync_mock.service.tasks import TransitionError

SEED = 11
T0 = 1_900_000_020.0
VOLATILE = ("wall_time", "duration_ms")  # real time: differs between any two runs


def stable(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k not in VOLATILE}


class Pair:
    """Mock `py` driven through Python, mock `web` through the admin API; `traffic` sends the
    same client requests to both."""

    def __init__(self, make_mock: Callable[..., Any], api: Any, admin: Any) -> None:
        self.py = make_mock(seed=SEED)
        self.web = make_mock(seed=SEED)
        for mock in (self.py, self.web):
            mock.set_time(T0)
        self.py_api = api(self.py)
        self.web_api = api(self.web)
        self.admin = admin(self.web)

    def both(self, action: Callable[[Any], Any]) -> tuple[Any, Any]:
        return action(self.py_api), action(self.web_api)

    def traffic(self) -> list[str]:
        """A few submits and polls (and a 404), the same on both; the task ids."""
        ids = []
        for _ in range(3):
            a, b = self.both(lambda c: c.submit_raw())
            assert (a.status_code, a.content) == (b.status_code, b.content)
            if a.status_code == 200:
                ids.append(a.json()["data"]["task_id"])
        for task_id in [*ids, "task-unknown"]:
            a, b = self.both(lambda c, t=task_id: c.poll(t))
            assert (a.status_code, a.content) == (b.status_code, b.content)
        return ids

    def journals(self, query: str = "", **filters: Any) -> tuple[list[dict], list[dict]]:
        py = [stable(e.as_dict()) for e in self.py.journal.entries(**filters)]
        web = self.admin.call("GET", "/journal" + query)
        return py, [stable(e) for e in web["entries"]]


@pytest.fixture
def pair(make_mock, api, admin) -> Pair:
    return Pair(make_mock, api, admin)


def clock_data(mock: Any) -> dict[str, Any]:
    return {**mock.clock.describe(), "now_ms": mock.clock.now_ms()}


# -- parity --------------------------------------------------------------------------------------


def test_clock_get_set_advance(pair):
    assert pair.admin.call("GET", "/clock") == clock_data(pair.py)

    assert pair.py.set_time(T0 + 100.5) == T0 + 100.5
    data = pair.admin.call("PUT", "/clock", {"now": T0 + 100.5})
    assert data == clock_data(pair.py)
    assert data["now"] == T0 + 100.5
    assert data["now_ms"] == int((T0 + 100.5) * 1000)

    now = pair.py.advance(12.25)
    data = pair.admin.call("POST", "/clock/advance", {"seconds": 12.25})
    assert data["now"] == now == T0 + 112.75
    assert data == clock_data(pair.py)


def test_add_list_remove_clear_faults(pair, expect_error):
    specs = [
        {"fault": "error", "status": 503, "route": "poll", "times": 2},
        {
            "fault": {"kind": "latency", "seconds": 0.0},
            "match": {"route": "submit", "method": "POST"},
            "schedule": {"kind": "every", "n": 2},
        },
        {
            "id": "custom",
            "fault": "task_fail",
            "message": "Task failed: test",
            "route": "submit",
            "probability": 0.5,
        },
        {"fault": "error", "status": 500, "body": {"video_url": "https://x.com/v.mp4"}},
    ]
    for spec in specs:
        assert pair.py.add_fault(spec).describe() == pair.admin.call("POST", "/faults", spec)
    assert pair.admin.call("GET", "/faults") == pair.py.fault_rules()
    assert [r["id"] for r in pair.py.fault_rules()] == ["rule-1", "rule-2", "custom", "rule-4"]

    pair.traffic()
    assert pair.admin.call("GET", "/faults") == pair.py.fault_rules()  # same seen and hits
    assert pair.admin.call("GET", "/faults/trace") == pair.py.fault_trace()
    assert pair.py.fault_trace()  # something fired

    assert pair.py.remove_fault("rule-1") is True
    assert pair.admin.call("DELETE", "/faults/rule-1") == pair.py.fault_rules()
    assert pair.py.remove_fault("rule-1") is False
    expect_error(
        pair.admin.raw("DELETE", "/faults/rule-1"),
        404,
        "Resource not found: no fault rule 'rule-1'",
    )

    pair.py.clear_faults()
    assert pair.admin.call("DELETE", "/faults") == []
    assert pair.py.fault_rules() == pair.admin.call("GET", "/faults") == []


def test_profile_and_its_replay(pair):
    rules = pair.py.use_profile("rate-limit-storm", 5)
    loaded = pair.admin.call("POST", "/profile", {"name": "rate-limit-storm", "seed": 5})
    assert loaded == [r.describe() for r in rules]

    pair.traffic()

    assert pair.admin.call("GET", "/faults/trace") == pair.py.fault_trace()
    assert pair.admin.call("GET", "/faults") == pair.py.fault_rules()


def test_run_until_terminal(pair):
    first, second, _ = pair.traffic()
    pair.py.force(second, "processing")
    pair.admin.call("POST", f"/tasks/{second}/force", {"status": "processing"})
    pair.py.set_progression(second, ByPolls(5, 9))  # time alone will not finish it
    pair.admin.call(
        "POST",
        f"/tasks/{second}/progression",
        {"kind": "polls", "processing_on": 5, "terminal_on": 9},
    )

    now = pair.py.run_until_terminal(first)
    data = pair.admin.call("POST", "/clock/run-until-terminal", {"task_id": first})

    assert data["now"] == now == T0 + 3.0
    assert data == clock_data(pair.py)
    assert pair.py.task(first).status.value == "success"
    assert pair.admin.call("GET", f"/tasks/{first}") == task_record(pair.py.task(first))

    with pytest.raises(TransitionError):
        pair.py.run_until_terminal()
    response = pair.admin.raw("POST", "/clock/run-until-terminal", json={})
    assert response.status_code == 409
    assert response.json()["message"].startswith("Conflict: task ")
    assert clock_data(pair.web) == clock_data(pair.py)  # neither moved


def test_tasks_list_get_force_progression(pair):
    ids = pair.traffic()
    assert len(ids) == 3
    records = [task_record(t) for t in pair.py.tasks()]
    assert pair.admin.call("GET", "/tasks") == records
    assert [r["task_id"] for r in records] == ids  # same seed, same ids
    assert pair.admin.call("GET", f"/tasks/{ids[0]}") == task_record(pair.py.task(ids[0]))

    forced = pair.py.force(ids[0], "failed", "Task failed: forced by the test")
    data = pair.admin.call(
        "POST",
        f"/tasks/{ids[0]}/force",
        {"status": "failed", "error_message": "Task failed: forced by the test"},
    )
    assert data == task_record(forced)
    assert data["status"] == "failed"

    moved = pair.py.set_progression(ids[1], ByPolls(1, 2))
    data = pair.admin.call(
        "POST",
        f"/tasks/{ids[1]}/progression",
        {"kind": "polls", "processing_on": 1, "terminal_on": 2},
    )
    assert data == task_record(moved)
    assert data["progression"] == {"kind": "polls", "processing_on": 1, "terminal_on": 2}

    for _ in range(2):
        a, b = pair.both(lambda c: c.poll(ids[1]))
        assert a.content == b.content
    assert a.json()["data"]["status"] == "success"

    for status in ("pending", "processing", "success", "failed"):
        assert pair.admin.call("GET", f"/tasks?status={status}") == [
            task_record(t) for t in pair.py.tasks(status)
        ]
    assert pair.admin.call("GET", "/tasks") == [task_record(t) for t in pair.py.tasks()]


def test_journal_list_filter_export_clear(pair):
    pair.py.add_fault("error", status=502, route="poll", every=3)
    pair.admin.call(
        "POST", "/faults", {"fault": "error", "status": 502, "route": "poll", "every": 3}
    )
    ids = pair.traffic()

    everything, over_http = pair.journals()
    assert everything == over_http
    assert len(everything) == 7
    cases = [
        ("?route=poll", {"route": "poll"}),
        ("?status=404", {"status": 404}),
        ("?status=502", {"status": 502}),
        (f"?task_id={ids[0]}", {"task_id": ids[0]}),
        ("?faulted=true", {"faulted": True}),
        ("?faulted=false", {"faulted": False}),
        ("?since=3", {"since_seq": 3}),
        ("?limit=2", {"limit": 2}),
        ("?method=post", {"method": "post"}),
        ("?route=poll&faulted=false&limit=1", {"route": "poll", "faulted": False, "limit": 1}),
    ]
    for query, filters in cases:
        py, web = pair.journals(query, **filters)
        assert py == web, query
        assert py, query  # each filter picks something
    assert len(pair.journals("?route=poll", route="poll")[0]) == 4
    assert [e["path"] for e in pair.journals("?faulted=true", faulted=True)[0]] == [
        f"/api/v1/tasks/{ids[2]}"
    ]

    for query, filters in [("", {}), ("?route=submit", {"route": "submit"})]:
        response = pair.admin.raw("GET", "/journal.jsonl" + query)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        web = [stable(json.loads(line)) for line in response.text.splitlines()]
        py = [stable(json.loads(line)) for line in pair.py.journal.to_jsonl(**filters).splitlines()]
        assert web == py
        assert len(py) == pair.py.journal.count(**filters)

    pair.py.journal.clear()
    assert pair.admin.call("DELETE", "/journal") == {"entries": [], "dropped": 0}
    assert pair.journals() == ([], [])
    assert pair.admin.call("GET", "/journal") == {"entries": [], "dropped": 0}


def test_reset(pair, make_mock, api):
    fresh_first_id = api(make_mock(seed=SEED)).submit()
    for mock in (pair.py, pair.web):
        mock.add_fault("error", status=503, route="poll", once=True)
    pair.traffic()
    pair.py.advance(500)
    pair.admin.call("POST", "/clock/advance", {"seconds": 500})

    pair.py.reset()
    assert pair.admin.call("POST", "/reset") == {"reset": True}

    for mock in (pair.py, pair.web):
        assert mock.tasks() == []
        assert mock.fault_rules() == []
        assert mock.fault_trace() == []
        assert len(mock.journal) == 0
        assert mock.clock.describe()["kind"] == "manual"
        assert abs(mock.now() - time.time()) < 5  # a new clock, at the wall time again
    assert pair.admin.call("GET", "/tasks") == []
    assert pair.admin.call("GET", "/faults") == []
    a, b = pair.both(lambda c: c.submit())
    assert a == b == fresh_first_id  # the seeded sequence starts over


# -- bad admin input -----------------------------------------------------------------------------

#: A body the admin API reads as JSON (any other type of body is refused 415 first).
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "message"),
    [
        (
            "POST",
            "/faults",
            {"content": b"{not json", "headers": JSON},
            400,
            "Invalid format: invalid JSON format",
        ),
        (
            "POST",
            "/faults",
            {"json": [1, 2]},
            400,
            "Invalid format: request body must be a JSON object",
        ),
        (
            "POST",
            "/faults",
            {"json": {"fault": "explode"}},
            400,
            "Invalid parameters: unknown fault 'explode'",
        ),
        (
            "POST",
            "/faults",
            {"json": {"fault": "error", "status": "503"}},
            400,
            "Invalid parameters: fault error: status must be int",
        ),
        (
            "POST",
            "/faults",
            {"json": {"fault": "error", "status": 200}},
            400,
            "Invalid parameters: fault error: status must be a whole number >= 400 and <= 599",
        ),
        (
            "POST",
            "/faults",
            {"json": {"fault": "error", "times": "x"}},
            400,
            "Invalid parameters: ",
        ),
        (
            "POST",
            "/faults",
            {"json": {"fault": "error", "probability": 2}},
            400,
            "Invalid parameters: probability must be between 0 and 1",
        ),
        (
            "POST",
            "/faults",
            {"json": {"fault": "error", "route": "nowhere"}},
            400,
            "Invalid parameters: route must be one of",
        ),
        (
            "POST",
            "/faults",
            {"json": {"fault": "task_fail", "route": "poll"}},
            400,
            "Invalid parameters: task_fail changes a submitted task",
        ),
        (
            "POST",
            "/faults",
            {"json": {"fault": "error", "phase": "during"}},
            400,
            "Invalid parameters: phase must be",
        ),
        ("POST", "/faults", {"json": {}}, 400, "Invalid parameters: a rule needs a 'fault'"),
        (
            "POST",
            "/clock/advance",
            {"json": {"seconds": "ten"}},
            400,
            "Invalid format: parameter 'seconds' must be a number",
        ),
        (
            "POST",
            "/clock/advance",
            {"json": {"seconds": True}},
            400,
            "Invalid format: parameter 'seconds' must be a number",
        ),
        (
            "POST",
            "/clock/advance",
            {"json": {}},
            400,
            "Invalid format: parameter 'seconds' must be a number",
        ),
        (
            "POST",
            "/clock/advance",
            {"json": {"seconds": -1}},
            400,
            "Invalid parameters: a clock only moves forward",
        ),
        (
            "PUT",
            "/clock",
            {"json": {"now": T0 - 1}},
            400,
            "Invalid parameters: a clock only moves forward",
        ),
        (
            "PUT",
            "/clock",
            {"content": b"now=5", "headers": JSON},
            400,
            "Invalid format: invalid JSON format",
        ),
        (
            "GET",
            "/journal?status=abc",
            {},
            400,
            "Invalid format: status, since and limit must be integers",
        ),
        (
            "GET",
            "/journal?limit=1.5",
            {},
            400,
            "Invalid format: status, since and limit must be integers",
        ),
        ("GET", "/tasks?status=done", {}, 400, "Invalid parameters: "),
        ("GET", "/tasks/task-nope", {}, 404, "Resource not found: task 'task-nope' does not exist"),
        (
            "POST",
            "/tasks/task-nope/force",
            {"json": {"status": "success"}},
            404,
            "Resource not found: task 'task-nope'",
        ),
        ("DELETE", "/faults/rule-99", {}, 404, "Resource not found: no fault rule 'rule-99'"),
        ("GET", "/nothing-here", {}, 404, "Resource not found: "),
        ("PATCH", "/clock", {}, 405, "Method not allowed: "),
    ],
)
def test_bad_admin_input_gets_the_envelope(
    make_mock, admin, expect_error, method, path, kwargs, status, message
):
    mock = make_mock(seed=SEED)
    mock.set_time(T0)
    before = (mock.fault_rules(), mock.now())

    response = admin(mock).raw(method, path, **kwargs)

    assert expect_error(response, status).startswith(message)
    assert (mock.fault_rules(), mock.now()) == before  # nothing changed


def test_bad_task_operations(make_mock, api, admin, expect_error):
    client = api(make_mock(seed=SEED))
    mock = client.mock
    done, running = client.submit(), client.submit()
    mock.force(done, "success")
    web = admin(mock)
    record = web.call("GET", f"/tasks/{done}")

    with pytest.raises(TransitionError):
        mock.force(done, "failed")
    response = web.raw("POST", f"/tasks/{done}/force", json={"status": "failed"})
    assert expect_error(response, 409).startswith(f"Conflict: task {done} already ended as success")
    assert web.call("GET", f"/tasks/{done}") == record  # unchanged

    response = web.raw("POST", f"/tasks/{done}/progression", json={"kind": "manual"})
    assert expect_error(response, 409).startswith("Conflict: ")

    mock.force(running, "processing")
    response = web.raw("POST", f"/tasks/{running}/force", json={"status": "pending"})
    assert expect_error(response, 409).startswith(f"Conflict: task {running} is processing")

    for body in ({"status": "done"}, {}):
        expect_error(web.raw("POST", f"/tasks/{running}/force", json=body), 400)
    for body in (
        {"kind": "sometimes"},
        {"kind": "polls", "processing_on": 0},
        {"kind": "clock", "colour": 1},
    ):
        expect_error(web.raw("POST", f"/tasks/{running}/progression", json=body), 400)
    assert mock.task(running).status.value == "processing"


def test_python_raises_what_the_admin_api_reports(make_mock):
    mock = make_mock(seed=SEED)
    mock.set_time(T0)
    with pytest.raises(FaultError, match="unknown fault 'explode'"):
        mock.add_fault("explode")
    with pytest.raises(FaultError):
        mock.add_fault("error", times="x")
    with pytest.raises(ValueError, match="only moves forward"):
        mock.set_time(T0 - 1)
    with pytest.raises(ValueError, match="only moves forward"):
        mock.advance(-1)
    with pytest.raises(ApiError) as caught:
        mock.task("task-nope")
    assert caught.value.status == 404
    assert mock.fault_rules() == []
    assert mock.now() == T0
