"""Teams and credit: keys grouped into teams, holds at submit, charges on success only,
402 when the credit left cannot cover a task, a bounded table, and no full key in sight."""

from __future__ import annotations

import sys
import threading
from decimal import Decimal

import pytest

from vidu_lipsync_mock.service.accounts import Accounts, money
from vidu_lipsync_mock.service.errors import ApiError
from vidu_lipsync_mock.service.keys import key_fingerprint, make_api_key, redact
from vidu_lipsync_mock.service.tasks import TaskStatus

ALICE = make_api_key("alice")
BOB = make_api_key("bob")
CAROL = make_api_key("carol")


def test_money_is_four_places_and_refuses_what_is_not_a_finite_amount() -> None:
    assert money("12.5") == Decimal("12.5000")
    assert str(money(0.1)) == "0.1000"
    assert money(3) == Decimal("3.0000")
    assert money("0.00005") == Decimal("0.0000")  # half to even
    for bad in ("NaN", "inf", "ten", True, None, 10**12, "-1e13"):
        with pytest.raises(ValueError, match="amount must be"):
            money(bad)  # type: ignore[arg-type]


def test_a_key_is_its_own_team_named_by_its_fingerprint() -> None:
    accounts = Accounts()
    assert accounts.team_of(ALICE) == key_fingerprint(ALICE)
    assert accounts.team_of(ALICE) != accounts.team_of(BOB)
    assert accounts.balance(ALICE) == Decimal("1000.0000")
    assert accounts.balances() == []  # a key that has spent nothing takes no room


def test_configured_keys_share_one_team_and_its_credit() -> None:
    accounts = Accounts(teams={"studio": [ALICE, BOB]}, starting_credit="1.00")
    assert accounts.team_of(ALICE) == accounts.team_of(BOB) == "team:studio"
    assert accounts.team_of(CAROL) == key_fingerprint(CAROL)
    accounts.reserve(ALICE, "task-1")
    accounts.conclude("task-1", succeeded=True)
    assert accounts.balance(BOB) == Decimal("0.7600")
    assert accounts.balance(CAROL) == Decimal("1.0000")


@pytest.mark.parametrize(
    ("teams", "message"),
    [
        ({"": [ALICE]}, "non-empty name"),
        ({"empty": []}, "lists no key"),
        ({"one": [ALICE], "two": [ALICE]}, "already in another team"),
    ],
)
def test_a_team_setting_that_cannot_work_is_refused(teams: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Accounts(teams=teams)


def test_a_success_costs_the_billing_amount_and_a_failure_nothing() -> None:
    accounts = Accounts()
    assert accounts.reserve(ALICE, "task-ok") == Decimal("0.2400")
    accounts.reserve(ALICE, "task-bad")
    assert accounts.balance(ALICE) == Decimal("999.5200")  # both held
    accounts.conclude("task-ok", succeeded=True)
    accounts.conclude("task-bad", succeeded=False)
    account = accounts.account(key_fingerprint(ALICE))
    assert (account.balance, account.held, account.spent, account.holds) == (
        Decimal("999.7600"),
        Decimal("0.0000"),
        Decimal("0.2400"),
        0,
    )
    accounts.conclude("task-ok", succeeded=True)  # told twice: charged once
    accounts.release("task-never-held")
    assert accounts.balance(ALICE) == Decimal("999.7600")


def test_a_submit_the_credit_left_cannot_cover_gets_402_and_holds_nothing() -> None:
    accounts = Accounts(starting_credit="0.50")
    accounts.reserve(ALICE, "task-1")
    accounts.reserve(ALICE, "task-2")
    with pytest.raises(ApiError) as refused:
        accounts.reserve(ALICE, "task-3")
    assert refused.value.status == 402
    assert refused.value.message.startswith("Insufficient balance: ")
    assert accounts.account(key_fingerprint(ALICE)).holds == 2
    assert accounts.balance(ALICE) == Decimal("0.0200")
    accounts.release("task-2")  # a failure gives the hold back: room for one more
    accounts.reserve(ALICE, "task-3")


def test_an_exact_balance_pays_for_a_task_and_arrears_refuse_even_a_free_one() -> None:
    accounts = Accounts(starting_credit="0.24")
    accounts.reserve(ALICE, "task-1")
    assert accounts.balance(ALICE) == 0
    free = Accounts(charge="0")
    free.set_balance(key_fingerprint(ALICE), "-5")
    with pytest.raises(ApiError, match="Insufficient balance"):
        free.reserve(ALICE, "task-1")
    free.reserve(BOB, "task-2")  # zero balance, zero price: fine


def test_one_task_holds_once_and_a_price_cannot_be_negative() -> None:
    accounts = Accounts()
    accounts.reserve(ALICE, "task-1", amount=Decimal("1.5"))
    assert accounts.balance(ALICE) == Decimal("998.5000")
    with pytest.raises(ValueError, match="already holds"):
        accounts.reserve(ALICE, "task-1")
    with pytest.raises(ValueError, match="negative"):
        accounts.reserve(ALICE, "task-2", amount=Decimal("-1"))
    with pytest.raises(ValueError, match="negative"):
        Accounts(charge="-0.24")


def test_concurrent_submits_never_overspend_one_balance() -> None:
    accounts = Accounts(teams={"crowd": [ALICE, BOB, CAROL]}, starting_credit="2.40")
    keys = [ALICE, BOB, CAROL]
    accepted: list[str] = []
    refused: list[int] = []
    start = threading.Barrier(12)

    def submit(worker: int) -> None:
        start.wait()
        for attempt in range(20):
            task_id = f"task-{worker}-{attempt}"
            try:
                accounts.reserve(keys[worker % 3], task_id)
            except ApiError as error:
                refused.append(error.status)
            else:
                accepted.append(task_id)

    threads = [threading.Thread(target=submit, args=(worker,)) for worker in range(12)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show up
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert len(accepted) == 10  # 2.40 / 0.24, never one more
    assert refused == [402] * (12 * 20 - 10)
    assert accounts.balance(ALICE) == 0
    for task_id in accepted:
        accounts.conclude(task_id, succeeded=True)
    account = accounts.account("crowd")
    assert (account.balance, account.spent, account.held) == (0, Decimal("2.4000"), 0)


def test_a_balance_read_settles_holds_whose_tasks_ended_unseen() -> None:
    statuses: dict[str, TaskStatus] = {}
    accounts = Accounts(outcome_of=statuses.get)
    for task_id in ("task-ok", "task-bad", "task-running", "task-gone"):
        statuses[task_id] = TaskStatus.PENDING
        accounts.reserve(ALICE, task_id)
    statuses.update({"task-ok": TaskStatus.SUCCESS, "task-bad": TaskStatus.FAILED})
    del statuses["task-gone"]  # expired or evicted before anyone saw it end: free
    assert accounts.balance(ALICE) == Decimal("999.5200")  # ok spent, running held
    account = accounts.account(key_fingerprint(ALICE))
    assert (account.held, account.spent, account.holds) == (
        Decimal("0.2400"),
        Decimal("0.2400"),
        1,
    )


def test_a_submit_the_holds_would_refuse_asks_how_they_ended_first() -> None:
    statuses: dict[str, TaskStatus] = {}
    accounts = Accounts(outcome_of=statuses.get, starting_credit="0.48")
    for task_id in ("task-1", "task-2"):
        statuses[task_id] = TaskStatus.PROCESSING
        accounts.reserve(ALICE, task_id)
    statuses["task-1"] = TaskStatus.FAILED  # ended unseen: its hold is free again
    accounts.reserve(ALICE, "task-3")
    statuses["task-2"] = TaskStatus.SUCCESS
    statuses["task-3"] = TaskStatus.PROCESSING
    with pytest.raises(ApiError, match="Insufficient balance"):
        accounts.reserve(ALICE, "task-4")
    account = accounts.account(key_fingerprint(ALICE))
    assert (account.balance, account.spent, account.holds) == (0, Decimal("0.2400"), 1)


def test_a_full_hold_table_asks_how_every_held_task_ended() -> None:
    statuses: dict[str, TaskStatus] = {}
    accounts = Accounts(outcome_of=statuses.get, max_holds=3)
    for index in range(3):
        statuses[f"task-{index}"] = TaskStatus.PROCESSING
        accounts.reserve(ALICE, f"task-{index}")
    statuses["task-0"] = TaskStatus.SUCCESS
    del statuses["task-1"]
    accounts.reserve(BOB, "task-3")
    assert accounts.stats()["holds"] == 2  # task-2 and task-3
    assert accounts.account(key_fingerprint(ALICE)).spent == Decimal("0.2400")


def test_the_team_table_is_bounded_and_forgets_idle_teams_first() -> None:
    accounts = Accounts(max_teams=3)
    keys = [make_api_key(f"user{index}") for index in range(6)]
    accounts.reserve(keys[0], "task-held")  # busy: never forgotten
    for index, key in enumerate(keys[1:], start=1):
        accounts.reserve(key, f"task-{index}")
        accounts.conclude(f"task-{index}", succeeded=True)
    listed = [view.team for view in accounts.balances()]
    assert len(listed) == 3
    assert key_fingerprint(keys[0]) in listed
    assert listed[-2:] == [key_fingerprint(keys[4]), key_fingerprint(keys[5])]
    # A forgotten team starts again from the starting credit.
    assert accounts.balance(keys[1]) == Decimal("1000.0000")
    accounts.conclude("task-held", succeeded=True)
    assert accounts.balance(keys[0]) == Decimal("999.7600")


def test_a_table_full_of_busy_teams_still_admits_a_new_one() -> None:
    accounts = Accounts(max_teams=2)
    for index in range(4):
        accounts.reserve(make_api_key(f"busy{index}"), f"task-{index}")
    assert len(accounts.balances()) == 4  # over the bound by the teams holding tasks
    for index in range(4):
        accounts.release(f"task-{index}")
    accounts.reserve(make_api_key("late"), "task-late")
    assert len(accounts.balances()) == 2


def test_set_balance_by_fingerprint_before_and_after_the_key_is_seen() -> None:
    accounts = Accounts(max_teams=1)
    fingerprint = key_fingerprint(ALICE)
    view = accounts.set_balance(fingerprint, 12.5)
    assert (view.team, view.balance, view.keys[0].redacted) == (fingerprint, Decimal("12.5"), None)
    accounts.reserve(ALICE, "task-1")
    assert accounts.balance(ALICE) == Decimal("12.2600")
    accounts.set_balance(fingerprint, "3")  # what it can spend, holds aside
    assert accounts.balance(ALICE) == Decimal("3.0000")
    accounts.release("task-1")
    assert accounts.balance(ALICE) == Decimal("3.2400")
    for index in range(3):  # pinned by the admin: other keys do not push it out
        accounts.reserve(make_api_key(f"other{index}"), f"task-x{index}")
        accounts.release(f"task-x{index}")
    assert accounts.account(fingerprint).keys[0].redacted == redact(ALICE)
    assert accounts.balance(ALICE) == Decimal("3.2400")


def test_a_named_team_is_addressed_by_any_member_fingerprint_its_id_or_its_name() -> None:
    accounts = Accounts(teams={"studio": [ALICE, BOB]})
    accounts.set_balance(key_fingerprint(BOB), "7")
    assert accounts.account("studio").balance == Decimal("7.0000")
    accounts.set_balance("team:studio", "8")
    assert accounts.balance(ALICE) == Decimal("8.0000")
    for bad in (ALICE, "nobody", "team:nobody"):
        with pytest.raises(LookupError):
            accounts.set_balance(bad, "1")


def test_listings_never_show_a_full_key() -> None:
    accounts = Accounts(teams={"studio": [ALICE, BOB]})
    accounts.reserve(CAROL, "task-1")
    shown = repr(accounts.balances()) + repr(accounts.stats())
    for key in (ALICE, BOB, CAROL):
        assert key not in shown
        assert redact(key) in shown
        assert key_fingerprint(key) in shown
    studio = accounts.balances()[0]
    assert (studio.team, studio.name) == ("team:studio", "studio")
    assert {ref.fingerprint for ref in studio.keys} == {
        key_fingerprint(ALICE),
        key_fingerprint(BOB),
    }


def test_a_team_never_seen_reads_the_starting_credit_without_being_stored() -> None:
    accounts = Accounts(starting_credit="5")
    view = accounts.account(key_fingerprint(ALICE))
    assert (view.balance, view.holds, view.keys[0].redacted) == (Decimal("5.0000"), 0, None)
    assert accounts.stats() == {"teams": 0, "configured_teams": 0, "holds": 0, "max_teams": 10_000}


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Accounts(max_teams=0)
    with pytest.raises(ValueError, match="positive"):
        Accounts(max_holds=0)


def test_a_task_evicted_from_a_full_store_settles_its_hold_at_once() -> None:
    """The store tells the accounts what it drops: an unfinished task is given back, a
    succeeded one charged, and no submit into a full store asks about every hold."""
    from vidu_lipsync_mock.config import MockConfig
    from vidu_lipsync_mock.state import MockState

    state = MockState(MockConfig(clock="manual", progression="manual", max_tasks=3, rate_limit=0))
    key = "mdlx-" + "e" * 48
    first = state.submit("vidu/lip-sync", {"video_url": "https://e.com/a.mp4"}, key)
    state.force(first.task_id, "success")  # charged when it ended
    for name in ("b", "c"):
        state.submit("vidu/lip-sync", {"video_url": f"https://e.com/{name}.mp4"}, key)
    asked: list[str] = []
    outcome_of = state.accounts.outcome_of
    state.accounts.outcome_of = lambda task_id: asked.append(task_id) or outcome_of(task_id)  # type: ignore[assignment, func-returns-value]
    for name in ("d", "e", "f"):  # each evicts one: the succeeded one first, then the oldest
        state.submit("vidu/lip-sync", {"video_url": f"https://e.com/{name}.mp4"}, key)
    assert asked == []  # settled by the eviction, not by asking every held task
    team = state.account(key)
    assert team.holds == 3  # the three live tasks, nothing of the evicted ones
    assert team.spent == state.accounts.charge  # only the task that succeeded was charged
