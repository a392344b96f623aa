"""The journal on its own: exchanges written through its one writer, read back as entries.

No app and no socket: each test builds `Exchange` records the way the edge does and reads
what the journal makes of them (bounds, filters, order, redaction, body limits).
"""

from __future__ import annotations

import gc
import json
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

from vidu_lipsync_mock.journal.exchange import Exchange, new_exchange
from vidu_lipsync_mock.journal.journal import (
    BODY_LIMIT,
    HEADERS_LIMIT,
    LINE_LIMIT,
    Entry,
    Journal,
    bearer_token,
)
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


def hammer(write_from: Callable[[int], None], per_writer: int, check: Callable[[], None]) -> None:
    """Four writer threads (`write_from(first_seq)`, each `per_writer` entries) and two
    reader threads running `check` until the writers are done, with threads switching as
    often as the interpreter can; fails with whatever a reader's check raised."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    done = threading.Event()
    failures: list[BaseException] = []

    def reader() -> None:
        try:
            while not done.is_set():
                check()
        except BaseException as error:  # reported by the assertion below
            failures.append(error)

    try:
        readers = [threading.Thread(target=reader) for _ in range(2)]
        writers = [
            threading.Thread(target=write_from, args=(1 + k * per_writer,)) for k in range(4)
        ]
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


def test_concurrent_writers_and_readers_lose_no_entry_and_no_drop() -> None:
    journal = Journal(max_entries=50)

    def writer(first: int) -> None:
        for seq in range(first, first + 500):
            journal.record(exchange(seq), 11.0)

    def check() -> None:
        assert len(journal.entries()) <= 50

    hammer(writer, 500, check)
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


# --- what one entry keeps, and what the whole journal keeps ---------------------------------


def test_a_long_body_is_cut_to_the_limit_and_the_entry_says_so() -> None:
    journal = Journal()
    big = b'{"video_url": "' + b"v" * (BODY_LIMIT * 16) + b'"}'
    write(journal, exchange(1, request_body=big, response_body=b'{"code":0}'))
    (entry,) = journal.entries()
    assert len(entry.request_body or "") == BODY_LIMIT
    assert (entry.request_body_bytes, entry.response_body_bytes) == (len(big), 10)
    assert entry.truncated == ("request_body",)
    assert entry.as_dict()["truncated"] == ["request_body"]
    assert journal.bytes < 2 * BODY_LIMIT  # what is kept is what is counted


def test_an_entry_that_fits_is_whole_and_names_no_cut() -> None:
    journal = Journal()
    write(journal, exchange(1, request_body=b'{"video_url": "x"}'))
    (entry,) = journal.entries()
    assert entry.truncated == ()
    assert (entry.request_body, entry.request_body_bytes) == ('{"video_url": "x"}', 18)


def test_huge_headers_path_and_query_are_cut_and_the_key_header_survives() -> None:
    journal = Journal()
    headers = [
        (b"x-padding", b"p" * 1_000_000),
        *((f"x-h{i}".encode(), b"v" * 500) for i in range(200)),
        (b"authorization", f"Bearer {KEY}".encode()),
    ]
    long_path = "/api/v1/tasks/" + "t" * 100_000
    write(journal, exchange(1, request_headers=headers, path=long_path, query=b"q=" * 50_000))
    (entry,) = journal.entries()
    assert set(entry.truncated) == {"request_headers", "path", "query"}
    kept = sum(len(name) + len(value) for name, value in entry.request_headers.items())
    assert kept <= HEADERS_LIMIT
    assert len(entry.request_headers["x-padding"]) == 1024
    assert entry.api_key == redact(KEY)  # the key header is kept first
    assert seqs(journal, api_key=KEY) == [1]
    assert len(entry.path) == LINE_LIMIT
    assert len(entry.query) == LINE_LIMIT
    assert journal.bytes < HEADERS_LIMIT + 2 * LINE_LIMIT + 4096


def test_the_byte_budget_drops_the_oldest_entries_and_counts_them() -> None:
    body = b"b" * 10_000
    journal = Journal(max_entries=1000, max_bytes=50_000)
    write(journal, *(exchange(seq, request_body=body) for seq in range(1, 21)))
    assert 0 < journal.bytes <= 50_000
    kept = seqs(journal)
    assert kept == list(range(21 - len(kept), 21))  # the newest, in order
    assert 3 <= len(kept) < 5
    assert journal.dropped == 20 - len(kept)
    journal.clear()
    assert (journal.bytes, journal.dropped, len(journal)) == (0, 0, 0)


def test_the_newest_entry_is_kept_even_alone_over_the_budget() -> None:
    journal = Journal(max_bytes=1)
    write(journal, exchange(1), exchange(2, request_body=b"x" * 1000))
    assert seqs(journal) == [2]
    assert journal.dropped == 1


def test_the_byte_budget_counts_what_an_entry_keeps_not_what_was_sent() -> None:
    journal = Journal(max_entries=1000, max_bytes=100 * BODY_LIMIT)
    huge = b"x" * (16 * BODY_LIMIT)
    write(journal, *(exchange(seq, request_body=huge) for seq in range(1, 51)))
    assert len(journal) == 50  # 50 cut bodies fit in 100 of them
    assert journal.dropped == 0


SECRET = "mdlx-" + "S3cret" * 7


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("x-api-key", SECRET, redact(SECRET)),
        ("api-key", SECRET, redact(SECRET)),
        ("apikey", SECRET, redact(SECRET)),
        ("x-goog-api-key", "AIza" + "k" * 35, redact("AIza" + "k" * 35)),
        ("x-auth-token", "short", "***"),
        ("proxy-authorization", f"Bearer {SECRET}", f"Bearer {redact(SECRET)}"),
        ("x-authorization", f"Bearer {SECRET}", f"Bearer {redact(SECRET)}"),
        ("x-forwarded-for", f"bearer {SECRET}, 10.0.0.1", f"bearer {redact(SECRET)}, 10.0.0.1"),
        ("x-note", f"key is {SECRET}.", f"key is {redact(SECRET)}."),
        (
            "x-note",
            "Bearer opaque-token-value-123456",
            f"Bearer {redact('opaque-token-value-123456')}",
        ),
        ("idempotency-key", "order-42", "order-42"),
        ("user-agent", "curl/8.0", "curl/8.0"),
    ],
)
def test_a_key_in_any_header_is_shown_redacted(name: str, value: str, shown: str) -> None:
    journal = Journal()
    write(journal, exchange(1, request_headers=[(name.encode(), value.encode())]))
    (entry,) = journal.entries()
    assert entry.request_headers[name] == shown
    assert SECRET not in journal.to_jsonl()


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        (f"api_key={SECRET}", f"api_key={redact(SECRET)}"),
        (f"a=1&KEY={SECRET}&b=2", f"a=1&KEY={redact(SECRET)}&b=2"),
        ("token=abc", "token=***"),
        (f"access_token={'t' * 30}", f"access_token={redact('t' * 30)}"),
        (f"x={SECRET}", f"x={redact(SECRET)}"),
        (f"next=%2Ftasks%3Fk%3D{SECRET}", f"next=%2Ftasks%3Fk%3D{redact(SECRET)}"),
        ("page=2&key", "page=2&key"),
    ],
)
def test_a_key_in_the_query_string_is_shown_redacted(query: str, shown: str) -> None:
    journal = Journal()
    write(journal, exchange(1, query=query.encode()))
    (entry,) = journal.entries()
    assert entry.query == shown
    assert SECRET not in journal.to_jsonl()


def test_a_key_in_a_path_or_a_body_is_shown_redacted() -> None:
    journal = Journal()
    body = json.dumps({"video_url": f"https://x/{SECRET}.mp4", "note": "bearer of news"})
    write(journal, exchange(1, path=f"/api/v1/tasks/{SECRET}", request_body=body.encode()))
    (entry,) = journal.entries()
    assert entry.path == f"/api/v1/tasks/{redact(SECRET)}"
    assert entry.request_json() == {
        "video_url": f"https://x/{redact(SECRET)}.mp4",
        "note": "bearer of news",  # only a header's Bearer is a token
    }
    assert SECRET not in journal.to_jsonl()


# --- reads hold nothing --------------------------------------------------------------------


def _live_entries() -> int:
    gc.collect()
    return sum(1 for thing in gc.get_objects() if isinstance(thing, Entry))


def test_reading_the_journal_again_and_again_keeps_no_entry_alive() -> None:
    """The leak of `/_mock/journal?limit=50` reads: each read used to leave its entries in a
    cache the journal never emptied, beyond the entries it still held."""
    journal = Journal(max_entries=100)
    before = _live_entries()
    for seq in range(1, 2001):
        write(journal, exchange(seq))
        if seq % 10 == 0:
            assert len(journal.entries(limit=50)) == min(seq, 50)
    assert _live_entries() == before
    assert len(journal._shown) == 0


def test_an_entry_a_reader_still_holds_is_the_one_read_again() -> None:
    journal = Journal()
    write(journal, exchange(1))
    held = journal.entries()
    assert journal.last is held[0]
    del held
    assert _live_entries() == 0


def test_concurrent_writers_under_the_byte_budget_account_for_every_entry() -> None:
    """Both bounds at once, with threads switching as often as the interpreter can: every
    entry written is either kept or counted as dropped, and the byte count is exactly what
    the kept entries count."""
    journal = Journal(max_entries=40, max_bytes=30_000)

    def writer(first: int) -> None:
        for seq in range(first, first + 300):
            journal.record(exchange(seq, request_body=b"x" * (seq % 7 * 1000)), 11.0)

    def check() -> None:
        entries = journal.entries()
        assert len(entries) <= 40
        assert len({e.seq for e in entries}) == len(entries)

    hammer(writer, 300, check)
    assert len(journal) + journal.dropped == 1200
    assert journal.bytes <= 30_000
    assert journal.bytes == sum(row[-1] for row in journal._stored())


def test_stored_rows_leave_the_garbage_collectors_sight() -> None:
    """A full journal must not be walked by every collection (a pause of milliseconds
    under load): a row leaves the collector's sight on its second collection (the first
    finds its parts untracked, the second the row). With the answer's headers kept as
    pairs, a fifth of the rows were still tracked after two."""
    journal = Journal(max_entries=1000)
    for seq in range(1, 1001):
        headers = [(b"content-type", b"application/json"), (b"x-n", str(seq).encode())]
        write(journal, exchange(seq, response_headers=headers))
    gc.collect()
    gc.collect()
    rows = journal._stored()
    assert len(rows) == 1000
    assert sum(gc.is_tracked(row) for row in rows) == 0
    assert journal.entries()[-1].response_headers == {
        "content-type": "application/json",
        "x-n": "1000",
    }
