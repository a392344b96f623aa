"""The retry-policy auditor, on hand-built journals and on journals real clients leave.

Hand-built entries pin each rule's edges (thresholds, excuses, the seqs reported); the
scripted clients below drive a real `LipSyncMock` so the auditor is also checked against
what the middleware actually records for each fault, not only against what we think it
records. Clients "wait" with `mock.advance`, never with a real sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.journal.journal import Entry
from vidu_lipsync_mock.pytest_plugin.audit import (
    RULES,
    AuditPolicy,
    Finding,
    assert_sound_retry_policy,
    audit,
    format_findings,
)

SUBMIT = "/api/v1/vidu/lip-sync/async"
KEY = "mdlx-alice…0000"
OTHER_KEY = "mdlx-bobby…0000"
BODY = {"video_url": "https://cdn.example.com/in/talk.mp4"}
T0 = 1_700_000_000.0
TASK = "task-aaaaaaaaaaaaaaaaaaaaaaaa"


# -- hand-built journals ----------------------------------------------------------------


class Journal:
    """Builds entries the way the middleware records them, with a running seq."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []

    def add(
        self,
        method: str,
        path: str,
        status: int,
        t: float,
        *,
        route: str | None = None,
        key: str | None = KEY,
        task_id: str | None = None,
        outcome: str = "response",
        body: Any = None,
        headers: dict[str, str] | None = None,
        response: Any = None,
    ) -> int:
        if route is None:
            route = "submit" if method == "POST" else "poll"
        if route == "poll" and task_id is None:
            task_id = path.rsplit("/", 1)[-1]
        seq = len(self.entries) + 1
        self.entries.append(
            Entry(
                seq=seq,
                method=method,
                path=path,
                route=route,
                status=status,
                clock_time=T0 + t,
                wall_time=0.0,
                duration_ms=1.0,
                api_key=key,
                task_id=task_id,
                outcome=outcome,
                request_body=None if body is None else json.dumps(body),
                response_headers=headers or {},
                response_body=None if response is None else json.dumps(response),
            )
        )
        return seq

    def submit(self, status: int, t: float, *, task_id: str | None = None, **kw: Any) -> int:
        kw.setdefault("body", BODY)
        if status == 200 and task_id is not None and "response" not in kw:
            kw["response"] = {
                "code": 0,
                "message": "success",
                "data": {"status": "pending", "task_id": task_id, "model_id": "vidu/lip-sync"},
            }
        return self.add("POST", SUBMIT, status, t, task_id=task_id, **kw)

    def poll(self, status: int, t: float, task_status: str | None = "processing", **kw: Any) -> int:
        task_id = kw.pop("task_id", TASK)
        if status == 200 and task_status is not None and "response" not in kw:
            kw["response"] = {
                "code": 0,
                "message": "success",
                "data": {"status": task_status, "task_id": task_id, "model_id": "vidu/lip-sync"},
            }
        return self.add("GET", f"/api/v1/tasks/{task_id}", status, t, **kw)


def rules_of(findings: list[Finding]) -> list[str]:
    return [f.rule for f in findings]


def only(findings: list[Finding], rule: str) -> Finding:
    matching = [f for f in findings if f.rule == rule]
    assert len(matching) == 1, format_findings(findings)
    return matching[0]


def test_a_careful_client_leaves_no_findings() -> None:
    j = Journal()
    j.submit(200, 0, task_id=TASK)
    j.poll(200, 5, "pending")
    j.poll(503, 10)
    j.poll(503, 11)  # retried after 1 s, then 2 s: backoff
    j.poll(200, 13, "processing")
    j.poll(200, 20, "success")
    j.add("GET", f"/files/{TASK}/result.mp4", 200, 21, route="download", task_id=TASK)
    assert audit(j.entries) == []
    assert_sound_retry_policy(j.entries)


def test_entries_are_judged_in_seq_order_whatever_order_they_come_in() -> None:
    j = Journal()
    j.submit(503, 0)
    j.submit(200, 1, task_id=TASK)
    shuffled = list(reversed(j.entries))
    assert rules_of(audit(shuffled)) == ["double-submit"]


class TestDoubleSubmit:
    def test_resubmitting_after_a_5xx_that_created_a_task_pays_twice(self) -> None:
        j = Journal()
        first = j.submit(503, 0, task_id="task-first00000000000000000")
        second = j.submit(200, 1, task_id=TASK)
        finding = only(audit(j.entries), "double-submit")
        assert finding.entries == (first, second)
        assert finding.severity == "error"
        assert "paid twice" in finding.message
        assert "#1" in finding.message
        assert "#2" in finding.message
        assert "t=+1 s" in finding.message
        assert "503" in finding.message

    @pytest.mark.parametrize(
        ("status", "outcome"),
        [
            (0, "reset"),
            (0, "hang"),
            (504, "hang"),
            (500, "response"),
            (502, "response"),
            (200, "truncated_json"),
            (200, "malformed_json"),
            (200, "empty_body"),
            (200, "closed_mid_body"),
            (200, "closed_after_headers"),
        ],
    )
    def test_every_ambiguous_failure_counts(self, status: int, outcome: str) -> None:
        j = Journal()
        j.submit(status, 0, outcome=outcome)
        j.submit(200, 2, task_id=TASK)
        finding = only(audit(j.entries), "double-submit")
        assert finding.entries == (1, 2)
        if status == 200:  # the service answered 200 before the body was lost
            assert "paid twice" in finding.message
            assert "its id lost with the body" in finding.message
        else:
            assert "only one task created" in finding.message

    def test_a_chain_of_resubmits_is_one_finding_counting_every_task(self) -> None:
        j = Journal()
        j.submit(0, 0, outcome="reset", task_id="task-one000000000000000000")
        j.submit(504, 1, outcome="hang", task_id="task-two000000000000000000")
        j.submit(200, 3, task_id=TASK)
        finding = only(audit(j.entries), "double-submit")
        assert finding.entries == (1, 2, 3)
        assert "3 tasks created" in finding.message
        assert "paid 3 times" in finding.message

    def test_the_task_in_front_of_a_replaced_answer_counts_as_created(self) -> None:
        # What the middleware records for a fault with phase="after": the real answer,
        # then the error the client got, and no task_id.
        real = {"code": 0, "message": "success", "data": {"status": "pending", "task_id": TASK}}
        j = Journal()
        j.submit(503, 0)
        j.entries[0] = Entry(
            **{
                **j.entries[0].as_dict(),
                "response_body": json.dumps(real) + '{"code":503,"message":"Service x: y"}',
            }
        )
        j.submit(200, 1, task_id="task-second0000000000000000")
        assert "paid twice" in only(audit(j.entries), "double-submit").message

    def test_a_poll_of_the_first_task_in_between_is_a_check(self) -> None:
        j = Journal()
        j.submit(0, 0, outcome="reset", task_id=TASK)
        j.poll(404, 5)
        j.submit(200, 6, task_id="task-second0000000000000000")
        assert "double-submit" not in rules_of(audit(j.entries))

    @pytest.mark.parametrize("status", [429, 400, 200])
    def test_unambiguous_answers_may_be_followed_by_the_same_submit(self, status: int) -> None:
        j = Journal()
        j.submit(status, 0, task_id=TASK if status == 200 else None)
        j.submit(200, 70, task_id="task-second0000000000000000")
        assert "double-submit" not in rules_of(audit(j.entries))

    def test_a_different_body_or_key_is_a_different_job(self) -> None:
        j = Journal()
        j.submit(503, 0)
        j.submit(200, 1, task_id=TASK, body={"video_url": "https://cdn.example.com/other.mp4"})
        j.submit(200, 2, task_id="task-b00000000000000000000", key=OTHER_KEY)
        assert audit(j.entries) == []

    def test_body_key_order_does_not_make_a_different_job(self) -> None:
        j = Journal()
        j.submit(503, 0, body={"video_url": "v", "audio_url": "a"})
        j.submit(200, 1, task_id=TASK, body={"audio_url": "a", "video_url": "v"})
        assert rules_of(audit(j.entries)) == ["double-submit"]


class TestRetryNonRetryable:
    @pytest.mark.parametrize("status", [400, 401, 402])
    def test_repeating_a_refused_submit(self, status: int) -> None:
        j = Journal()
        j.submit(status, 0)
        j.submit(status, 1)
        j.submit(status, 3)
        finding = only(audit(j.entries), "retry-non-retryable")
        assert finding.entries == (1, 2, 3)
        assert str(status) in finding.message

    def test_repeating_a_404_for_a_task_never_submitted(self) -> None:
        j = Journal()
        j.poll(404, 0)
        j.poll(404, 5)
        assert only(audit(j.entries), "retry-non-retryable").entries == (1, 2)

    def test_a_404_right_after_submit_that_later_resolves_is_eventual_consistency(
        self,
    ) -> None:
        j = Journal()
        j.submit(200, 0, task_id=TASK)
        j.poll(404, 100)  # outside the grace window, but the task did show up
        j.poll(404, 105)
        j.poll(200, 110, "success")
        assert audit(j.entries) == []

    def test_404s_within_the_grace_window_are_excused(self) -> None:
        j = Journal()
        j.submit(200, 0, task_id=TASK)
        j.poll(404, 5)
        j.poll(404, 10)
        j.poll(404, 20)
        assert "retry-non-retryable" not in rules_of(audit(j.entries))

    def test_404s_past_the_grace_window_that_never_resolve_are_flagged(self) -> None:
        j = Journal()
        j.submit(200, 0, task_id=TASK)
        j.poll(404, 25)
        j.poll(404, 31)
        j.poll(404, 40)
        finding = only(audit(j.entries), "retry-non-retryable")
        assert finding.entries == (2, 3, 4)
        grace = audit(j.entries, AuditPolicy(not_found_grace=60))
        assert "retry-non-retryable" not in rules_of(grace)

    def test_a_fixed_request_is_not_a_retry(self) -> None:
        j = Journal()
        j.submit(400, 0, body={"video_url": ""})
        j.submit(200, 1, task_id=TASK)
        assert audit(j.entries) == []


class TestIgnoredRetryAfter:
    def test_retry_after_in_seconds(self) -> None:
        j = Journal()
        j.poll(429, 0, headers={"Retry-After": "30"})
        j.poll(200, 10)
        finding = only(audit(j.entries), "ignored-retry-after")
        assert finding.entries == (1, 2)
        assert "Retry-After: 30" in finding.message
        assert "20 s early" in finding.message

    def test_waiting_long_enough_is_fine(self) -> None:
        j = Journal()
        j.poll(503, 0, headers={"retry-after": "30"})
        j.poll(200, 30)
        assert audit(j.entries) == []

    def test_retry_after_as_an_http_date(self) -> None:
        when = datetime.fromtimestamp(T0 + 60, tz=timezone.utc)
        j = Journal()
        j.poll(503, 0, headers={"Retry-After": format_datetime(when, usegmt=True)})
        j.poll(200, 59)
        j.poll(503, 200, headers={"Retry-After": format_datetime(when, usegmt=True)})
        j.poll(200, 201)  # the date is already past: any time is fine
        finding = only(audit(j.entries), "ignored-retry-after")
        assert finding.entries == (1, 2)
        assert "1 s early" in finding.message

    def test_rate_limit_reset_on_a_429_without_retry_after(self) -> None:
        j = Journal()
        j.submit(429, 0, headers={"X-RateLimit-Reset": str(int(T0 + 60))})
        j.submit(200, 30, task_id=TASK)
        finding = only(audit(j.entries), "ignored-retry-after")
        assert "X-RateLimit-Reset" in finding.message

    def test_rate_limit_reset_on_a_success_is_not_an_instruction(self) -> None:
        j = Journal()
        j.poll(200, 0, headers={"X-RateLimit-Reset": str(int(T0 + 60))})
        j.poll(200, 5)
        assert audit(j.entries) == []

    def test_retry_after_wins_over_the_window_reset(self) -> None:
        j = Journal()
        j.submit(429, 0, headers={"Retry-After": "5", "X-RateLimit-Reset": str(int(T0 + 60))})
        j.submit(200, 5, task_id=TASK)
        assert audit(j.entries) == []


class TestNoBackoff:
    def test_constant_gaps(self) -> None:
        j = Journal()
        for i in range(4):
            j.poll(503, i * 1.0)
        j.poll(200, 4.0)
        finding = only(audit(j.entries), "no-backoff")
        assert finding.entries == (1, 2, 3, 4, 5)
        assert "1 s, 1 s, 1 s, 1 s" in finding.message

    def test_two_constant_retries_are_too_few_to_judge(self) -> None:
        j = Journal()
        for i in range(2):
            j.poll(503, i * 1.0)
        j.poll(200, 2.0)
        j.poll(200, 8.0, "success")
        assert "no-backoff" not in rules_of(audit(j.entries))

    def test_exponential_backoff_up_to_the_cap(self) -> None:
        j = Journal()
        t = 0.0
        for gap in (1, 2, 4, 8, 10, 10):
            j.poll(503, t)
            t += gap
        j.poll(200, t, "success")
        assert audit(j.entries) == []

    def test_waits_the_server_dictated_need_not_grow(self) -> None:
        j = Journal()
        for i in range(4):
            j.poll(503, i * 3.0, headers={"Retry-After": "3"})
        j.poll(200, 12.0, "success")
        assert audit(j.entries) == []

    def test_shrinking_gaps(self) -> None:
        j = Journal()
        t = 0.0
        for gap in (4, 2, 1, 0.5):
            j.poll(500, t)
            t += gap
        j.poll(200, t, "success")
        assert rules_of(audit(j.entries)) == ["no-backoff"]

    def test_tolerance_decides_what_counts_as_growth(self) -> None:
        j = Journal()
        t = 0.0
        for gap in (1, 1.05, 1.1, 1.15):
            j.poll(502, t)
            t += gap
        j.poll(200, t, "success")
        assert rules_of(audit(j.entries)) == ["no-backoff"]
        assert audit(j.entries, AuditPolicy(backoff_tolerance=0.01)) == []


class TestPolling:
    def test_polling_a_running_task_too_often(self) -> None:
        j = Journal()
        j.submit(200, 0, task_id=TASK)
        j.poll(200, 5, "pending")
        j.poll(200, 5.5, "processing")
        j.poll(200, 10, "processing")
        j.poll(200, 10.25, "success")
        finding = only(audit(j.entries), "poll-too-fast")
        assert finding.entries == (2, 3, 4, 5)
        assert "0.25 s" in finding.message
        assert TASK in finding.message

    def test_the_threshold_is_the_policy_s(self) -> None:
        j = Journal()
        j.poll(200, 0, "pending")
        j.poll(200, 5, "success")
        assert audit(j.entries) == []
        stricter = audit(j.entries, AuditPolicy(min_poll_interval=10))
        assert only(stricter, "poll-too-fast").entries == (1, 2)

    def test_a_quick_retry_after_a_failed_poll_is_not_a_fast_poll(self) -> None:
        j = Journal()
        j.poll(200, 0, "pending")
        j.poll(503, 5)
        j.poll(200, 6, "success")
        assert audit(j.entries) == []

    @pytest.mark.parametrize("status", ["success", "failed", "completed", "cancelled"])
    def test_polling_after_the_task_ended(self, status: str) -> None:
        j = Journal()
        j.poll(200, 0, "processing")
        j.poll(200, 5, status)
        j.poll(200, 10, status)
        j.poll(200, 60, status)
        finding = only(audit(j.entries), "poll-after-terminal")
        assert finding.entries == (2, 3, 4)
        assert f"'{status}'" in finding.message
        assert "2 more time(s)" in finding.message

    def test_an_unreadable_terminal_answer_was_not_seen(self) -> None:
        j = Journal()
        j.poll(200, 0, "success", outcome="truncated_json")
        j.poll(200, 2, "success")
        assert audit(j.entries) == []


class TestGivingUp:
    def test_one_failed_get_then_silence(self) -> None:
        j = Journal()
        j.submit(200, 0, task_id=TASK)
        j.poll(503, 5)
        finding = only(audit(j.entries), "gave-up-early")
        assert finding.entries == (2,)
        assert finding.severity == "error"

    def test_two_attempts_are_enough_by_default(self) -> None:
        j = Journal()
        j.poll(503, 5)
        j.poll(0, 6, outcome="reset")
        assert audit(j.entries) == []
        assert rules_of(audit(j.entries, AuditPolicy(min_attempts_before_giving_up=3))) == [
            "gave-up-early"
        ]

    def test_stopping_after_an_ambiguous_submit_is_right(self) -> None:
        j = Journal()
        j.submit(503, 0)
        assert audit(j.entries) == []

    def test_not_retrying_a_refused_submit_is_only_a_warning(self) -> None:
        j = Journal()
        j.submit(429, 0, headers={"Retry-After": "2"})
        finding = only(audit(j.entries), "gave-up-early")
        assert finding.severity == "warning"
        assert assert_sound_retry_policy(j.entries) == [finding]

    def test_a_long_requested_wait_excuses_giving_up(self) -> None:
        j = Journal()
        j.poll(429, 0, headers={"Retry-After": "60"})
        assert audit(j.entries) == []

    def test_retrying_forever(self) -> None:
        j = Journal()
        t = 0.0
        for _ in range(11):
            j.poll(503, t)
            t += 10
        finding = only(audit(j.entries), "never-gave-up")
        assert finding.entries == tuple(range(1, 12))
        assert "11 times in a row" in finding.message
        assert "11 x 503" in finding.message

    def test_max_attempts_is_allowed(self) -> None:
        j = Journal()
        t = 0.0
        for _ in range(10):
            j.poll(503, t)
            t += 10
        assert audit(j.entries) == []
        assert rules_of(audit(j.entries, AuditPolicy(max_attempts=5))) == ["never-gave-up"]


class TestReporting:
    def bad_journal(self) -> Journal:
        j = Journal()
        j.submit(503, 0, task_id="task-first00000000000000000")
        j.submit(200, 1, task_id=TASK)
        j.poll(200, 2, "success")
        j.poll(200, 3, "success")
        return j

    def test_the_assertion_lists_every_error_readably(self) -> None:
        with pytest.raises(AssertionError) as raised:
            assert_sound_retry_policy(self.bad_journal().entries)
        text = str(raised.value)
        assert "2 finding(s)" in text
        assert "1. [error] double-submit (requests #1, #2)" in text
        assert "2. [error] poll-after-terminal (requests #3, #4)" in text

    def test_ignored_rules_do_not_fail(self) -> None:
        entries = self.bad_journal().entries
        assert_sound_retry_policy(entries, ignore=["double-submit", "poll-after-terminal"])
        policy = AuditPolicy(ignore={"double-submit"})
        assert_sound_retry_policy(entries, policy, ignore=["poll-after-terminal"])
        with pytest.raises(AssertionError, match="poll-after-terminal"):
            assert_sound_retry_policy(entries, policy)
        assert rules_of(audit(entries, AuditPolicy(ignore=["double-submit"]))) == [
            "poll-after-terminal"
        ]

    def test_demoted_rules_are_reported_but_do_not_fail(self) -> None:
        entries = self.bad_journal().entries
        policy = AuditPolicy(warnings=frozenset(RULES))
        findings = assert_sound_retry_policy(entries, policy)
        assert {f.severity for f in findings} == {"warning"}
        assert len(findings) == 2

    def test_unknown_rule_names_are_a_mistake(self) -> None:
        with pytest.raises(ValueError, match="poll-to-fast"):
            assert_sound_retry_policy([], ignore=["poll-to-fast"])
        with pytest.raises(ValueError, match="poll-to-fast"):
            AuditPolicy(ignore={"poll-to-fast"})

    def test_a_single_rule_name_is_not_split_into_letters(self) -> None:
        assert AuditPolicy(ignore="poll-too-fast").ignore == frozenset({"poll-too-fast"})

    @pytest.mark.parametrize(
        "settings",
        [
            {"min_poll_interval": -1},
            {"max_attempts": 0},
            {"min_attempts_before_giving_up": 1.5},
            {"backoff_cap": float("inf")},
            {"give_up_wait": "15"},
            {"retryable_statuses": [404, 503]},
            {"max_attempts": 2, "min_attempts_before_giving_up": 3},
        ],
    )
    def test_policy_rejects_nonsense(self, settings: dict[str, Any]) -> None:
        with pytest.raises((ValueError, TypeError)):
            AuditPolicy(**settings)

    def test_policy_takes_lists_as_a_marker_dict_gives_them(self) -> None:
        marker: dict[str, Any] = {"retryable_statuses": [503], "non_retryable_statuses": [400]}
        policy = AuditPolicy(**marker)
        assert policy.retryable_statuses == frozenset({503})
        j = Journal()
        j.poll(500, 0)
        j.poll(500, 0)
        assert audit(j.entries, policy) == []  # 500 is neither: no rule applies

    def test_format_findings(self) -> None:
        assert format_findings([]) == "no findings"
        finding = Finding("poll-too-fast", "task x was polled too soon", (3, 4), "warning")
        assert format_findings([finding]) == (
            "1. [warning] poll-too-fast (requests #3, #4): task x was polled too soon"
        )
        assert str(finding) == "[warning] poll-too-fast: task x was polled too soon"

    def test_sources_it_accepts(self) -> None:
        mock = LipSyncMock(clock="manual")
        assert assert_sound_retry_policy(mock) == []
        assert assert_sound_retry_policy(mock.journal) == []
        with pytest.raises(TypeError):
            assert_sound_retry_policy(42)  # type: ignore[arg-type]


# -- real journals from scripted clients ---------------------------------------------------

VIDEO_BODY = {
    "video_url": "https://cdn.example.com/in/presenter.mp4",
    "audio_url": "https://cdn.example.com/in/voiceover.mp3",
}
RETRYABLE = {429, 500, 502, 503, 504}


@contextlib.asynccontextmanager
async def http_for(mock: LipSyncMock) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=mock.app),
        base_url="http://testserver",
        headers=mock.auth_headers,
    ) as http:
        yield http


async def send(http: httpx.AsyncClient, method: str, url: str, **kw: Any) -> httpx.Response | None:
    """A request, or None when the connection broke (in-process: the mock's TransportFault)."""
    try:
        return await http.request(method, url, **kw)
    except (httpx.TransportError, ConnectionError):
        return None


def data_of(response: httpx.Response | None) -> dict[str, Any] | None:
    if response is None or response.status_code != 200:
        return None
    try:
        data: dict[str, Any] = response.json()["data"]
    except (ValueError, KeyError, TypeError):
        return None
    return data


def retry_after(response: httpx.Response | None) -> float | None:
    if response is None or "retry-after" not in response.headers:
        return None
    return float(response.headers["retry-after"])


class Client:
    """A client after the provider's CLI: never resubmits, retries GETs with backoff."""

    def __init__(self, mock: LipSyncMock, http: httpx.AsyncClient) -> None:
        self.mock = mock
        self.http = http

    async def submit(self, body: dict[str, str] = VIDEO_BODY) -> str | None:
        data = data_of(await send(self.http, "POST", SUBMIT, json=body))
        return None if data is None else str(data["task_id"])  # None: outcome unknown

    async def get(self, url: str, attempts: int = 4) -> dict[str, Any] | None:
        delay = 1.0
        for attempt in range(attempts):
            response = await send(self.http, "GET", url)
            data = data_of(response)
            if data is not None:
                return data
            if response is not None and response.status_code not in RETRYABLE | {200}:
                return None
            if attempt == attempts - 1:
                return None
            self.mock.advance(retry_after(response) or delay)
            delay = min(delay * 2, 10.0)
        return None

    async def wait(self, task_id: str, interval: float = 5.0) -> dict[str, Any] | None:
        while True:
            self.mock.advance(interval)
            data = await self.get(f"/api/v1/tasks/{task_id}")
            if data is None or data["status"] in ("success", "failed"):
                return data

    async def run(self, body: dict[str, str] = VIDEO_BODY) -> dict[str, Any] | None:
        task_id = await self.submit(body)
        return None if task_id is None else await self.wait(task_id)


def drive(
    mock: LipSyncMock, script: Callable[[LipSyncMock, httpx.AsyncClient], Coroutine[Any, Any, Any]]
) -> Any:
    async def main() -> Any:
        async with http_for(mock) as http:
            return await script(mock, http)

    return asyncio.run(main())


@pytest.fixture
def mock() -> Iterator[LipSyncMock]:
    made = LipSyncMock(clock="manual", seed=7)
    yield made
    made.stop()
    assert not made.crashes, made.crashes


class TestScriptedClients:
    def test_the_careful_client_passes_through_chaos(self, mock: LipSyncMock) -> None:
        mock.add_fault("error", status=503, route="poll", times=2)
        mock.add_fault("error", status=429, route="poll", retry_after=3.0, every=4)
        mock.add_fault("truncated_json", route="poll", every=5)

        async def script(mock: LipSyncMock, http: httpx.AsyncClient) -> Any:
            client = Client(mock, http)
            results = [await client.run() for _ in range(3)]
            mock.add_fault("error", status=503, route="submit", once=True)
            results.append(await client.run())  # outcome unknown: reported, not resubmitted
            return results

        results = drive(mock, script)
        assert [r and r["status"] for r in results] == ["success"] * 3 + [None]
        faulted = mock.journal.entries(faulted=True)
        assert len(faulted) >= 4  # the faults really fired
        assert audit(mock.journal.entries()) == []
        assert_sound_retry_policy(mock)

    @pytest.mark.parametrize(
        ("fault", "options"),
        [
            ("error", {"status": 503}),
            ("error", {"status": 500}),
            ("reset", {}),
            ("truncated_json", {}),
            ("empty_body", {}),
            ("close_mid_body", {}),
        ],
    )
    def test_resubmitting_after_an_ambiguous_failure_pays_twice(
        self, mock: LipSyncMock, fault: str, options: dict[str, Any]
    ) -> None:
        mock.add_fault(fault, route="submit", phase="after", once=True, **options)

        async def script(mock: LipSyncMock, http: httpx.AsyncClient) -> Any:
            for _ in range(3):  # the bug: "it failed, so try again"
                task_id = await Client(mock, http).submit()
                if task_id is not None:
                    return task_id
                mock.advance(1)
            return None

        assert drive(mock, script) is not None
        assert len(mock.tasks()) == 2  # what the auditor is about to say
        finding = only(audit(mock.journal.entries()), "double-submit")
        assert finding.entries == (1, 2)
        assert "paid twice" in finding.message
        with pytest.raises(AssertionError, match="double-submit"):
            assert_sound_retry_policy(mock)

    def test_a_fault_before_the_service_still_makes_a_resubmit_unsound(
        self, mock: LipSyncMock
    ) -> None:
        mock.add_fault("error", status=502, route="submit", once=True)

        async def script(mock: LipSyncMock, http: httpx.AsyncClient) -> Any:
            client = Client(mock, http)
            if await client.submit() is None:
                mock.advance(2)
                await client.submit()

        drive(mock, script)
        assert len(mock.tasks()) == 1
        finding = only(audit(mock.journal.entries()), "double-submit")
        assert finding.entries == (1, 2)
        assert "could not have known" in finding.message

    def test_retrying_a_rejected_body(self, mock: LipSyncMock) -> None:
        async def script(mock: LipSyncMock, http: httpx.AsyncClient) -> Any:
            for _ in range(3):
                response = await send(http, "POST", SUBMIT, json={"audio_url": "x"})
                assert response is not None
                assert response.status_code == 400
                mock.advance(1)

        drive(mock, script)
        finding = only(audit(mock.journal.entries()), "retry-non-retryable")
        assert finding.entries == (1, 2, 3)
        assert "400" in finding.message

    def test_eventual_consistency_404s_are_excused(self, mock: LipSyncMock) -> None:
        mock.add_fault("task_not_found", route="submit", polls=2)

        async def script(mock: LipSyncMock, http: httpx.AsyncClient) -> Any:
            task_id = await Client(mock, http).submit()
            statuses = []
            for _ in range(4):
                mock.advance(5)
                response = await send(http, "GET", f"/api/v1/tasks/{task_id}")
                assert response is not None
                statuses.append(response.status_code)
                if response.status_code == 200 and response.json()["data"]["status"] == "success":
                    break
            return statuses

        assert drive(mock, script) == [404, 404, 200]
        assert audit(mock.journal.entries()) == []

    def test_hammering_a_rate_limit(self, mock: LipSyncMock) -> None:
        mock.add_fault("error", status=429, route="poll", times=3, retry_after=10.0)

        async def script(mock: LipSyncMock, http: httpx.AsyncClient) -> Any:
            task_id = await Client(mock, http).submit()
            mock.advance(5)
            for _ in range(4):  # retries after 1 s whatever the server says
                response = await send(http, "GET", f"/api/v1/tasks/{task_id}")
                if response is not None and response.status_code == 200:
                    return
                mock.advance(1)

        drive(mock, script)
        findings = audit(mock.journal.entries())
        ignored = only(findings, "ignored-retry-after")
        assert ignored.entries == (2, 3, 4, 5)
        assert "Retry-After: 10" in ignored.message
        assert "9 s early" in ignored.message
        assert rules_of(findings) == ["ignored-retry-after", "no-backoff"]

    def test_a_fixed_retry_interval(self, mock: LipSyncMock) -> None:
        mock.add_fault("error", status=503, route="poll", times=4)

        async def script(mock: LipSyncMock, http: httpx.AsyncClient) -> Any:
            task_id = await Client(mock, http).submit()
            mock.advance(5)
            while True:
                data = data_of(await send(http, "GET", f"/api/v1/tasks/{task_id}"))
                if data is not None:
                    return data
                mock.advance(2)

        drive(mock, script)
        finding = only(audit(mock.journal.entries()), "no-backoff")
        assert finding.entries == (2, 3, 4, 5, 6)
        assert "2 s, 2 s, 2 s, 2 s" in finding.message

    def test_polling_in_a_tight_loop_and_past_the_end(self, mock: LipSyncMock) -> None:
        async def script(mock: LipSyncMock, http: httpx.AsyncClient) -> Any:
            task_id = await Client(mock, http).submit()
            for _ in range(8):  # forgets to stop at success, polls every 0.5 s
                await send(http, "GET", f"/api/v1/tasks/{task_id}")
                mock.advance(0.5)

        drive(mock, script)  # pending 1 s + processing 2 s: success from poll 7
        findings = audit(mock.journal.entries())
        assert rules_of(findings) == ["poll-too-fast", "poll-after-terminal"]
        assert only(findings, "poll-too-fast").entries == (2, 3, 4, 5, 6, 7, 8)
        assert only(findings, "poll-after-terminal").entries == (8, 9)

    def test_giving_up_on_the_first_hiccup(self, mock: LipSyncMock) -> None:
        mock.add_fault("reset", route="poll", once=True)

        async def script(mock: LipSyncMock, http: httpx.AsyncClient) -> Any:
            task_id = await Client(mock, http).submit()
            mock.advance(5)
            return await Client(mock, http).get(f"/api/v1/tasks/{task_id}", attempts=1)

        assert drive(mock, script) is None
        entries = mock.journal.entries()
        assert (entries[1].status, entries[1].outcome) == (0, "reset")
        finding = only(audit(entries), "gave-up-early")
        assert finding.entries == (2,)
        assert "connection reset" in finding.message

    def test_never_giving_up(self, mock: LipSyncMock) -> None:
        mock.add_fault("error", status=500, route="poll")

        async def script(mock: LipSyncMock, http: httpx.AsyncClient) -> Any:
            task_id = await Client(mock, http).submit()
            mock.advance(5)
            return await Client(mock, http).get(f"/api/v1/tasks/{task_id}", attempts=12)

        assert drive(mock, script) is None
        finding = only(audit(mock.journal.entries()), "never-gave-up")
        assert finding.entries == tuple(range(2, 14))
        assert "12 times in a row" in finding.message

    def test_a_random_careful_client_never_trips_the_auditor(self) -> None:
        """Seeded chaos against the careful client: whatever fires, it stays sound."""
        fired = 0
        for seed in range(5):
            mock = LipSyncMock(clock="manual", seed=seed, profile=None)
            rng = random.Random(seed)
            for kind in ("reset", "truncated_json", "malformed_json"):
                mock.add_fault(kind, route="poll", probability=0.25)
            mock.add_fault(
                "error", status=rng.choice([500, 502, 503]), route="poll", probability=0.25
            )

            async def script(mock: LipSyncMock, http: httpx.AsyncClient) -> Any:
                for _ in range(4):
                    await Client(mock, http).run()

            drive(mock, script)
            fired += mock.journal.count(faulted=True)
            assert_sound_retry_policy(mock)
            assert not mock.crashes
        assert fired >= 5  # the chaos was real


def test_a_reset_on_a_real_socket_is_recorded_and_judged() -> None:
    """Over a real connection the client sees a reset; the journal says status 0."""
    mock = LipSyncMock(clock="manual")
    try:
        base_url = mock.start()
        mock.add_fault("reset", route="submit", phase="after", once=True)
        with httpx.Client(base_url=base_url, headers=mock.auth_headers, timeout=10) as http:
            with pytest.raises(httpx.TransportError):
                http.post(SUBMIT, json=VIDEO_BODY)
            mock.advance(1)
            assert http.post(SUBMIT, json=VIDEO_BODY).status_code == 200
    finally:
        mock.stop()
    first = mock.journal.entries()[0]
    assert (first.status, first.outcome) == (0, "reset")
    finding = only(audit(mock.journal.entries()), "double-submit")
    assert finding.entries == (1, 2)
    assert "paid twice" in finding.message
