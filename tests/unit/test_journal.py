"""The journal on its own: exchanges written through its one writer, read back as entries.

No app and no socket: each test builds `Exchange` records the way the edge does and reads
what the journal makes of them (bounds, filters, order, redaction, body limits).
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

import pytest

from vidu_lipsync_mock.journal.exchange import Exchange, new_exchange
from vidu_lipsync_mock.journal.journal import BODY_LIMIT, Journal, bearer_token
from vidu_lipsync_mock.service.keys import key_fingerprint, redact

KEY = "mdlx-" + "a" * 40
OTHER_KEY = "mdlx-" + "b" * 40
TASK = "task-" + "c" * 24


def exchange(seq: int, **fields: Any) -> Exchange:
    """A poll of TASK by KEY that got a 200, unless `fields` say otherwise."""
    key = fields.pop("key", KEY)
    values: dict[str, Any] = {
        "seq": seq,
        "method": "GET",
        "path": f"/api/v1/tasks/{TASK}",
        "route": "poll",
        "clock_time": 1000.0 + seq,
        "wall_time": 2000.0 + seq,
        "started": 10.0,
        "task_id": TASK,
        "query": b"",
        "request_headers": [(b"host", b"mock"), (b"authorization", f"Bearer {key}".encode())],
        "request_body": b"",
        "status": 200,
        "response_headers": [(b"content-type", b"application/json")],
        "response_body": b'{"code":0}',
    }
    values.update(fields)
    return new_exchange(**values)


def write(journal: Journal, *exchanges: Exchange, ended: float = 10.5) -> None:
    for one in exchanges:
        journal.record(one, ended)


def seqs(journal: Journal, **filters: Any) -> list[int]:
    return [e.seq for e in journal.entries(**filters)]


def test_an_entry_carries_the_exchange_and_its_duration() -> None:
    journal = Journal()
    write(journal, exchange(1, query=b"a=1"), ended=10.25)
    (entry,) = journal.entries()
    assert (entry.seq, entry.method, entry.route, entry.status, entry.task_id) == (
        1,
        "GET",
        "poll",
        200,
        TASK,
    )
    assert (entry.clock_time, entry.wall_time, entry.query) == (1001.0, 2001.0, "a=1")
    assert entry.duration_ms == pytest.approx(250.0)
    assert entry.response_headers == {"content-type": "application/json"}
    assert entry.json() == {"code": 0}
    assert (entry.outcome, entry.fault) == ("response", None)


def test_the_one_writer_writes_an_exchange_once() -> None:
    journal = Journal()
    one = exchange(1)
    assert not one.recorded
    journal.record(one, 11.0)
    one.status = 500  # what a fault path does after an early write: no second entry
    journal.record(one, 12.0)
    assert one.recorded
    assert [(e.seq, e.status) for e in journal.entries()] == [(1, 200)]


def test_the_journal_keeps_the_newest_entries_and_counts_the_dropped() -> None:
    journal = Journal(max_entries=3)
    write(journal, *(exchange(seq) for seq in range(1, 6)))
    assert len(journal) == 3
    assert journal.dropped == 2
    assert seqs(journal) == [3, 4, 5]
    journal.clear()
    assert (len(journal), journal.dropped, journal.entries()) == (0, 0, [])


def test_far_past_its_bound_the_journal_shows_the_newest_and_counts_every_drop() -> None:
    journal = Journal(max_entries=3)
    for seq in range(1, 101):
        write(journal, exchange(seq))
        assert len(journal) == min(seq, 3)
    assert journal.dropped == 97
    assert seqs(journal) == [98, 99, 100]


def test_concurrent_writers_and_readers_lose_no_entry_and_no_drop() -> None:
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        journal = Journal(max_entries=50)
        done = threading.Event()
        failures: list[BaseException] = []

        def writer(first: int) -> None:
            for seq in range(first, first + 500):
                journal.record(exchange(seq), 11.0)

        def reader() -> None:
            try:
                while not done.is_set():
                    assert len(journal.entries()) <= 50
            except BaseException as error:  # reported by the assertion below
                failures.append(error)

        readers = [threading.Thread(target=reader) for _ in range(2)]
        writers = [threading.Thread(target=writer, args=(1 + k * 500,)) for k in range(4)]
        for thread in [*readers, *writers]:
            thread.start()
        for thread in writers:
            thread.join()
        done.set()
        for thread in readers:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert failures == []
    assert (len(journal), journal.dropped) == (50, 1950)
    assert len(set(seqs(journal))) == 50


def test_entries_are_in_the_order_requests_began_whatever_order_they_ended() -> None:
    journal = Journal()
    write(journal, exchange(3), exchange(1), exchange(2))
    assert seqs(journal) == [1, 2, 3]
    last = journal.last
    assert last is not None
    assert last.seq == 3
    assert Journal().last is None


def test_sequence_numbers_are_taken_in_order() -> None:
    journal = Journal()
    assert [journal.next_seq() for _ in range(3)] == [1, 2, 3]


def test_filters_select_entries() -> None:
    journal = Journal()
    write(
        journal,
        exchange(1),
        exchange(2, method="POST", route="submit", path="/submit", task_id=None, status=400),
        exchange(3, key=OTHER_KEY, fault="error:503", status=503),
        exchange(4, task_id="task-other", status=200),
    )
    assert seqs(journal, route="submit") == [2]
    assert seqs(journal, method="get") == [1, 3, 4]
    assert seqs(journal, status=200) == [1, 4]
    assert seqs(journal, task_id=TASK) == [1, 3]
    assert seqs(journal, api_key=OTHER_KEY) == [3]
    assert seqs(journal, api_key=KEY) == [1, 2, 4]
    assert seqs(journal, faulted=True) == [3]
    assert seqs(journal, faulted=False) == [1, 2, 4]
    assert seqs(journal, route="poll", status=200, api_key=KEY) == [1, 4]
    assert journal.count(status=503) == 1


def test_since_seq_and_limit_read_the_tail() -> None:
    journal = Journal()
    write(journal, *(exchange(seq) for seq in range(1, 7)))
    assert seqs(journal, since_seq=4) == [5, 6]
    assert seqs(journal, limit=2) == [5, 6]
    assert seqs(journal, since_seq=1, limit=3) == [4, 5, 6]
    assert seqs(journal, limit=0) == []
    assert seqs(journal, since_seq=6) == []


def test_keys_are_redacted_everywhere_an_entry_shows_them() -> None:
    journal = Journal()
    write(journal, exchange(1))
    (entry,) = journal.entries()
    assert entry.api_key == redact(KEY)
    assert entry.api_key_id == key_fingerprint(KEY)
    assert entry.request_headers["authorization"] == f"Bearer {redact(KEY)}"
    assert KEY not in json.dumps(entry.as_dict())
    assert KEY not in journal.to_jsonl()


def test_a_request_without_a_bearer_key_shows_none() -> None:
    journal = Journal()
    write(
        journal,
        exchange(1, request_headers=[(b"authorization", b"Basic dXNlcg==")]),
        exchange(2, request_headers=[]),
    )
    first, second = journal.entries()
    assert (first.api_key, first.api_key_id) == (None, None)
    assert first.request_headers["authorization"] == "***"
    assert (second.api_key, second.request_headers) == (None, {})
    assert bearer_token("bearer  tok ") == "tok"
    assert bearer_token("Basic tok") is None


def test_the_first_of_repeated_authorization_headers_is_the_key() -> None:
    journal = Journal()
    headers = [(b"authorization", f"Bearer {KEY}".encode()), (b"authorization", b"Bearer x")]
    write(journal, exchange(1, request_headers=headers))
    assert seqs(journal, api_key=KEY) == [1]


def test_bodies_are_kept_up_to_the_limit() -> None:
    journal = Journal()
    big = b"x" * (BODY_LIMIT + 100)
    write(journal, exchange(1, request_body=big, response_body=big))
    (entry,) = journal.entries()
    assert len(entry.request_body or "") == BODY_LIMIT
    assert len(entry.response_body or "") == BODY_LIMIT
    write(journal, exchange(2, request_body=b"", response_body=None))
    last = journal.entries()[-1]
    assert (last.request_body, last.response_body) == (None, None)


def test_reading_twice_gives_the_same_entries() -> None:
    journal = Journal()
    write(journal, exchange(1), exchange(2))
    assert all(a is b for a, b in zip(journal.entries(), journal.entries(), strict=True))


def test_jsonl_is_one_entry_per_line_and_takes_the_filters() -> None:
    journal = Journal()
    write(journal, exchange(1), exchange(2, status=503))
    lines = journal.to_jsonl(status=503).splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [2]
    assert [e.seq for e in journal] == [1, 2]


def test_an_exchange_starts_unanswered() -> None:
    one = new_exchange(
        seq=1,
        method="GET",
        path="/x",
        route="other",
        clock_time=0.0,
        wall_time=0.0,
        started=0.0,
        task_id=None,
        query=b"",
        request_headers=[],
        request_body=b"",
    )
    assert (one.status, one.outcome, one.fault, one.response_body) == (0, "response", None, None)
    assert one.response_headers == []


class _Reply:
    def __init__(self, status: int, task_id: str | None) -> None:
        self.status = status
        self.task_id = task_id


def test_answered_takes_the_reply_and_a_submits_task() -> None:
    submit = exchange(1, route="submit", task_id=None, status=0)
    submit.answered(_Reply(200, TASK), [(b"content-length", b"2")], b"{}")
    assert (submit.status, submit.task_id, submit.response_body) == (200, TASK, b"{}")
    assert submit.response_headers == [(b"content-length", b"2")]
    poll = exchange(2, task_id="task-polled", status=0)
    poll.answered(_Reply(404, "task-else"), [], None)
    assert (poll.status, poll.task_id) == (404, "task-polled")
