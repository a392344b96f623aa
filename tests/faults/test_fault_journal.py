"""The journal: every request the client made, as the client saw it, with the key redacted
everywhere, filterable, and complete under concurrency on a real server."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx

from vidu_lipsync_mock import make_api_key
from vidu_lipsync_mock.service.keys import redact

SUBMIT = "/api/v1/vidu/lip-sync/async"
BODY = {"video_url": "https://example.com/presenter.mp4", "audio_url": "https://example.com/a.mp3"}
T0 = 1_900_000_020.0


def run_session(world: Any, key: str) -> dict[str, Any]:
    """A client session touching every route, with faults, errors and clock steps."""
    mock = world.mock
    mock.set_time(T0)
    auth = {"Authorization": f"Bearer {key}"}
    wall_before = time.time()
    with httpx.Client(base_url=world.base, timeout=5, headers=auth) as http:
        submitted = http.post(SUBMIT + "?trace=on", json=BODY)
        task_id = submitted.json()["data"]["task_id"]
        mock.advance(1)
        http.get(f"/api/v1/tasks/{task_id}")
        http.get("/api/v1/tasks/task-unknown")
        mock.add_fault("error", status=503, route="poll", once=True)
        mock.advance(1)
        http.get(f"/api/v1/tasks/{task_id}")
        http.get(f"/api/v1/tasks/{task_id}", headers={"X-Mock-Fault": "error; status=502"})
        http.get(f"/api/v1/tasks/{task_id}", headers={"X-Mock-Fault": "explode"})
        mock.advance(1)
        url = http.get(f"/api/v1/tasks/{task_id}").json()["data"]["result"]["resources"][0]["url"]
        http.get(url)
        http.get("/media/face.jpg")
        http.get(
            f"/api/v1/tasks/{task_id}", headers={"Authorization": "Bearer sk-live-0123456789abcdef"}
        )
        http.get("/_mock/journal")  # admin calls are not the client's: not journaled
    return {"task_id": task_id, "wall": (wall_before, time.time()), "url": url}


def test_every_request_is_recorded_as_the_client_saw_it(shared_server):
    key = make_api_key()  # random, like a real secret
    session = run_session(shared_server, key)
    task_id = session["task_id"]
    poll = f"/api/v1/tasks/{task_id}"

    entries = shared_server.mock.journal.entries()

    assert [
        (e.method, e.path, e.route, e.status, e.fault, e.task_id, e.clock_time) for e in entries
    ] == [
        ("POST", SUBMIT, "submit", 200, None, task_id, T0),
        ("GET", poll, "poll", 200, None, task_id, T0 + 1),
        ("GET", "/api/v1/tasks/task-unknown", "poll", 404, None, "task-unknown", T0 + 1),
        ("GET", poll, "poll", 503, "error:503", task_id, T0 + 2),
        ("GET", poll, "poll", 502, "error:502", task_id, T0 + 2),
        ("GET", poll, "poll", 400, None, task_id, T0 + 2),
        ("GET", poll, "poll", 200, None, task_id, T0 + 3),
        ("GET", f"/files/{task_id}/result.mp4", "download", 200, None, task_id, T0 + 3),
        ("GET", "/media/face.jpg", "sample", 200, None, None, T0 + 3),
        ("GET", poll, "poll", 401, None, task_id, T0 + 3),
    ]
    seqs = [e.seq for e in entries]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    low, high = session["wall"]
    assert all(low <= e.wall_time <= high for e in entries)
    assert all(e.duration_ms >= 0 for e in entries)

    submit = entries[0]
    assert submit.query == "trace=on"
    assert submit.request_json() == BODY
    assert submit.json()["data"]["task_id"] == task_id
    assert submit.response_headers["x-ratelimit-remaining"] == "99"
    assert entries[3].json() == {
        "code": 503,
        "message": "Service unavailable: circuit breaker open, try again later",
    }
    assert entries[5].json()["message"].startswith("Invalid parameters: X-Mock-Fault: ")
    assert entries[7].response_body is None  # the video is not copied into the journal
    assert all(e.request_body is None for e in entries[1:])

    shown = f"Bearer {redact(key)}"
    for entry in entries[:7]:
        assert entry.api_key == redact(key)
        assert entry.request_headers["authorization"] == shown
    assert entries[-1].request_headers["authorization"] == "Bearer " + redact(
        "sk-live-0123456789abcdef"
    )


def test_the_full_key_appears_nowhere(shared_server, admin):
    key = make_api_key()
    bad_token = "sk-live-0123456789abcdef"
    run_session(shared_server, key)
    mock = shared_server.mock
    web = admin(mock)

    dumps = [
        json.dumps([e.as_dict() for e in mock.journal.entries()], ensure_ascii=False),
        mock.journal.to_jsonl(),
        web.raw("GET", "/journal").text,
        web.raw("GET", "/journal.jsonl").text,
        json.dumps(web.call("GET", "/tasks")),
    ]
    for text in dumps:
        assert key[:9] in text  # the key is shown, redacted to its ends
        assert key[-4:] in text
        assert key not in text
        assert key[5:] not in text  # not even without its prefix
        assert bad_token not in text


def test_filters(shared_server):
    session = run_session(shared_server, make_api_key())
    task_id = session["task_id"]
    journal = shared_server.mock.journal
    seq = [e.seq for e in journal.entries()]  # 10 entries, in order

    def picked(**filters: Any) -> list[int]:
        return [seq.index(e.seq) for e in journal.entries(**filters)]

    assert picked(route="poll") == [1, 2, 3, 4, 5, 6, 9]
    assert picked(route="download") == [7]
    assert picked(status=404) == [2]
    assert picked(task_id=task_id) == [0, 1, 3, 4, 5, 6, 7, 9]
    assert picked(faulted=True) == [3, 4]
    assert picked(faulted=False) == [0, 1, 2, 5, 6, 7, 8, 9]
    assert picked(since_seq=seq[6]) == [7, 8, 9]
    assert picked(limit=3) == [7, 8, 9]
    assert picked(limit=0) == []
    assert picked(route="poll", status=200, limit=1) == [6]
    assert picked(method="post") == [0]
    assert journal.count(route="poll") == 7
    assert journal.last.seq == seq[-1]


def test_complete_under_concurrency(serve):
    world = serve(seed=2)
    threads, per_thread = 8, 50
    keys = [make_api_key(f"thread{i}") for i in range(threads)]
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []
    statuses: list[list[int]] = [[] for _ in range(threads)]
    task_ids: list[str] = [""] * threads

    def client(index: int) -> None:
        try:
            auth = {"Authorization": f"Bearer {keys[index]}"}
            with httpx.Client(base_url=world.base, timeout=10, headers=auth) as http:
                barrier.wait()
                task_id = http.post(SUBMIT, json=BODY).json()["data"]["task_id"]
                task_ids[index] = task_id
                statuses[index].append(200)
                for _ in range(per_thread - 1):
                    statuses[index].append(http.get(f"/api/v1/tasks/{task_id}").status_code)
        except BaseException as error:  # reported below, in the test thread
            errors.append(error)

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)

    assert errors == []
    assert all(s == [200] * per_thread for s in statuses)
    journal = world.mock.journal
    entries = journal.entries()
    assert len(entries) == threads * per_thread
    assert journal.dropped == 0
    seqs = [e.seq for e in entries]
    assert len(set(seqs)) == len(seqs) == 400
    assert seqs == list(range(seqs[0], seqs[0] + 400))
    for task_id in task_ids:
        mine = journal.entries(task_id=task_id)
        assert len(mine) == per_thread
        assert [e.route for e in mine] == ["submit"] + ["poll"] * (per_thread - 1)
        assert {e.status for e in mine} == {200}
    assert sorted(t.task_id for t in world.mock.tasks()) == sorted(task_ids)


def test_filter_by_api_key_tells_keys_apart(make_mock, api):
    # Readable test keys from make_api_key share their padding; the journal must still
    # tell them apart (it shows keys redacted to mdlx-team…0000 for both).
    client = api(make_mock())
    team_a, team_b = make_api_key("teama"), make_api_key("teamb")
    for _ in range(2):
        client.poll("task-x", key=team_a)
    client.poll("task-x", key=team_b)

    journal = client.mock.journal
    assert journal.count(api_key=team_a) == 2
    assert journal.count(api_key=team_b) == 1
