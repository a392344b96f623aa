"""The inspector in a real browser: what a user sees and does at `/_mock/ui`, checked
against what a client of the mock gets over HTTP. The page refreshes itself every second;
Playwright's `expect` waits for it (at most its default 5 s) — no sleeps here."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.journal.exchange import new_exchange

pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
from playwright.sync_api import expect

SUBMIT = "/api/v1/vidu/lip-sync/async"
BODY = {"video_url": "https://example.com/a.mp4", "audio_url": "https://example.com/a.mp3"}


def submit(mock: LipSyncMock) -> str:
    with httpx.Client(base_url=mock.url, headers=mock.auth_headers) as client:
        response = client.post(SUBMIT, json=BODY)
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["task_id"])


def poll(mock: LipSyncMock, task_id: str, **headers: str) -> httpx.Response:
    with httpx.Client(base_url=mock.url, headers=mock.auth_headers) as client:
        return client.get(f"/api/v1/tasks/{task_id}", headers=headers)


def test_a_submit_over_http_appears_live(page: Any, live: LipSyncMock) -> None:
    expect(page.locator("#tasks-empty")).to_be_visible()
    task_id = submit(live)
    row = page.locator(f"tr[data-task='{task_id}']")
    expect(row).to_be_visible()
    expect(row.locator(".status")).to_have_text("pending")
    expect(row).to_contain_text(live.journal.entries()[0].api_key or "")
    assert live.api_key not in page.content()


def test_forcing_failed_from_the_page_is_what_the_next_poll_answers(
    page: Any, live: LipSyncMock
) -> None:
    task_id = submit(live)
    row = page.locator(f"tr[data-task='{task_id}']")
    row.locator("select.force-status").select_option("failed")
    row.get_by_role("button", name="Force").click()
    expect(row.locator(".status")).to_have_text("failed")
    answered = poll(live, task_id).json()["data"]
    assert answered["status"] == "failed"


def test_push_moves_a_task_one_step_and_delete_forgets_it(page: Any, live: LipSyncMock) -> None:
    task_id = submit(live)
    row = page.locator(f"tr[data-task='{task_id}']")
    row.get_by_role("button", name="Push").click()
    expect(row.locator(".status")).to_have_text("processing")
    row.get_by_role("button", name="Push").click()
    expect(row.locator(".status")).to_have_text("success")
    video = row.locator("video")
    expect(video).to_have_attribute("src", f"/files/{task_id}/" + "result.mp4")
    with httpx.Client(base_url=live.url) as client:
        played = client.get(video.get_attribute("src") or "")
    assert (played.status_code, played.headers["content-type"]) == (200, "video/mp4")
    row.get_by_role("button", name="Delete").click()
    expect(row).to_have_count(0)
    assert poll(live, task_id).status_code == 404


def test_a_rule_added_from_the_form_makes_the_next_submit_fail(
    page: Any, live: LipSyncMock
) -> None:
    page.click("nav button[data-tab='faults']")
    page.select_option("#rule-kind", "error")
    page.fill("input[name='param:status']", "503")
    page.select_option("#rule-route", "submit")
    page.select_option("#rule-schedule", "once")
    page.get_by_role("button", name="Add rule").click()
    rule = page.locator("#rules-body tr")
    expect(rule).to_have_count(1)
    with httpx.Client(base_url=live.url, headers=live.auth_headers) as client:
        assert client.post(SUBMIT, json=BODY).status_code == 503
        assert client.post(SUBMIT, json=BODY).status_code == 200
    expect(rule.locator("td").nth(6)).to_have_text("1")  # fired once
    rule.get_by_role("button", name="Remove").click()
    expect(rule).to_have_count(0)
    assert live.fault_rules() == []


def test_the_form_offers_every_declared_fault_kind(page: Any, live: LipSyncMock) -> None:
    from vidu_lipsync_mock.faults.kinds import FAULT_KINDS

    page.click("nav button[data-tab='faults']")
    options = page.locator("#rule-kind option")
    expect(options).to_have_count(len(FAULT_KINDS))
    assert options.all_text_contents() == list(FAULT_KINDS)


def test_journal_filters_and_one_exchange(page: Any, live: LipSyncMock) -> None:
    task_id = submit(live)
    for _ in range(3):
        poll(live, "task-unknown")
    poll(live, task_id, **{"X-Request-Id": "mine-1"})
    page.click("nav button[data-tab='journal']")
    rows = page.locator(".jrow")
    expect(rows).to_have_count(5)
    page.fill("#journal-filters input[name='status']", "404")
    page.click("#journal-filters button[type='submit']")
    expect(rows).to_have_count(3)
    page.fill("#journal-filters input[name='status']", "")
    page.fill("#journal-filters input[name='task_id']", task_id)
    page.click("#journal-filters button[type='submit']")
    expect(rows).to_have_count(2)
    rows.filter(has_text="mine-1").click()
    shown = page.locator("#exchange-body")
    expect(shown).to_contain_text('"request_id": "mine-1"')
    assert live.api_key not in shown.text_content()
    page.click("#journal-filters button[type='reset']")
    expect(rows).to_have_count(5)


def test_retries_are_marked_as_the_auditor_groups_them(page: Any, live: LipSyncMock) -> None:
    task_id = submit(live)
    live.add_fault("error", status=503, route="poll", times=1)
    poll(live, task_id)
    poll(live, task_id)
    page.click("nav button[data-tab='journal']")
    expect(page.locator(".jrow .retry")).to_have_text("#2 try 2 retry")


def fill(journal: Any, count: int, pause_every: int = 0) -> None:
    """Write `count` poll exchanges straight into the journal (a pause every so many,
    to let a reader in while it fills)."""
    for _ in range(count):
        seq = journal.next_seq()
        journal.record(
            new_exchange(
                seq=seq, method="GET", path=f"/api/v1/tasks/task-{seq}", route="poll",
                clock_time=0.0, wall_time=1.8e9 + seq, started=0.0, task_id=f"task-{seq}",
                query=b"", request_headers=[], request_body=b"", status=404,
            ),
            0.001,
        )  # fmt: skip
        if pause_every and seq % pause_every == 0:
            time.sleep(0.02)  # real-time: let the page's reads interleave with the writes


def test_ten_thousand_entries_stay_responsive(page: Any, live: LipSyncMock) -> None:
    fill(live.journal, 10_000)
    page.click("nav button[data-tab='journal']")
    # Pages of 2,000 come in the background; a loaded CI machine gets a minute for all.
    expect(page.locator("#journal-count")).to_have_text("10000", timeout=60_000)
    assert page.locator(".jrow").count() < 100  # drawn where scrolled to, not all
    page.locator("#journal-scroll").evaluate("box => box.scrollTop = box.scrollHeight")
    expect(page.locator(".jrow").last).to_contain_text("/api/v1/tasks/task-1")


def test_no_exchange_is_missed_while_the_journal_fills(browser: Any, live: LipSyncMock) -> None:
    page = browser.new_page()
    writer = threading.Thread(target=fill, args=(live.journal, 6_000, 300))
    writer.start()
    page.goto(f"{live.url}/_mock/ui")  # its first reads land while the journal fills
    page.click("nav button[data-tab='journal']")
    writer.join()
    expect(page.locator("#journal-count")).to_have_text("6000", timeout=60_000)
    page.close()


def test_the_page_sends_json_same_origin_with_the_token_from_the_fragment(
    browser: Any, live: LipSyncMock
) -> None:
    page = browser.new_page()
    sent: list[Any] = []
    page.on("request", lambda request: sent.append(request))
    page.goto(f"{live.url}/_mock/ui#token=s3cret")
    page.click("nav button[data-tab='clock']")
    later = datetime.fromtimestamp(live.now() + 10, tz=timezone.utc)
    page.get_by_role("button", name="Advance").click()  # by the form's 10 s
    expect(page.locator("#clock-now")).to_contain_text(later.strftime("%Y-%m-%d %H:%M:%S"))
    assert "token" not in page.url  # taken out of the address bar, kept in localStorage
    page.close()
    calls = [r for r in sent if "/_mock/" in r.url and "/_mock/ui" not in r.url]
    assert calls
    assert all(r.url.startswith(live.url) for r in calls)
    assert all(r.headers.get("x-mock-admin-token") == "s3cret" for r in calls)
    writes = [r for r in calls if r.method != "GET"]
    assert writes
    assert all(r.headers["content-type"] == "application/json" for r in writes)


def test_the_screenshot_scene_runs_into_a_temporary_folder(
    browser: Any, screenshots: Any, tmp_path: Any
) -> None:
    written = screenshots.shoot(browser, tmp_path)
    assert [p.name for p in written] == list(screenshots.TABS.values())
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in written)
