"""Teams and their credit: who shares tasks and files, and who pays for a task.

The provider bills a team, not a key: `GET /api/v1/team/balance` answers the team's credit
in USD, a task costs its billing amount, and a submit with no balance left answers 402.
Here each API key is a team of its own unless the `teams` setting groups keys under a
name. A team is named by a key fingerprint (`keys.key_fingerprint`), never by a key: a
one-key team's id is its key's fingerprint, a named team's id is `team:<name>`.

Money moves like a card payment's authorisation hold, so concurrent submits cannot
overspend: a submit *reserves* the task's amount (402 when the credit left after the
holds does not cover it), a success *settles* it, a failure or a vanished task *releases*
it. Task statuses are worked out lazily from the clock, so nothing tells the accounts
when a task ends; they ask the state (`outcome_of`) whenever the answer matters (a team's
holds before its balance or a refusal, every hold when their table is full), and the
polling hot path pays nothing. Lock order: the accounts' lock, then whatever `outcome_of`
takes. Amounts are whole ten-thousandths of a dollar (`int`), the provider's four places:
a hold is two integer additions, where `Decimal` cost a submit more than the rest.

Bounded: a team that still has its starting credit and holds nothing is not stored; the
others live in a table of at most `max_teams`, the least recently used one with no hold
and no admin-set balance forgotten first. The hold table is asked about in full when it
reaches `max_holds`, and next when it has twice what that pass left, so a store evicting
unfinished tasks (which never tells the accounts) costs a submit two questions on average.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from vidu_lipsync_mock.service.errors import insufficient_balance
from vidu_lipsync_mock.service.keys import key_fingerprint, redact
from vidu_lipsync_mock.service.tasks import TaskStatus

__all__ = ["Accounts", "KeyRef", "TeamBalance", "money"]

#: Four places, as the provider's billing amounts (`"0.2400"`) and the CLI's display.
CENT = Decimal("0.0001")
#: Larger amounts are refused: nobody tests with a trillion dollars, and quantizing one
#: to four places would overflow the default decimal context.
MONEY_LIMIT = Decimal(10) ** 12

_FINGERPRINT = re.compile(r"[0-9a-f]{16}")
_SUCCESS = TaskStatus.SUCCESS
_FAILED = TaskStatus.FAILED

#: How a task of a hold ended: a status, or None when the task is gone.
OutcomeOf = Callable[[str], TaskStatus | None]
#: Told, under the accounts' lock, of a team's credit changing: the task whose hold was
#: spent (None: the admin API set the balance) and the team as it now stands.
CreditChanged = Callable[[str | None, "TeamBalance"], None]


def _units(amount: Decimal) -> int:
    """An amount from `money` in ten-thousandths of a dollar."""
    return int(amount.scaleb(4))


def _usd(units: int) -> Decimal:
    """Ten-thousandths of a dollar as the `Decimal` amount, to four places."""
    return Decimal(units).scaleb(-4)


def money(amount: Decimal | str | int | float) -> Decimal:
    """An amount in USD to four places; a float is read by its shortest text (`0.1` is
    0.1000, not 0.1000000000000000055…)."""
    if isinstance(amount, bool):
        raise ValueError(f"an amount must be a number, not {amount!r}")
    try:
        value = Decimal(repr(amount)) if isinstance(amount, float) else Decimal(amount)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"an amount must be a number, not {amount!r}") from None
    if not value.is_finite() or abs(value) >= MONEY_LIMIT:
        raise ValueError(f"an amount must be finite and under {MONEY_LIMIT:,}, not {amount!r}")
    return value.quantize(CENT)


@dataclass(frozen=True)
class KeyRef:
    """A key as listings show it: its fingerprint and redacted form (None until the key
    itself has been seen, for a team set up by fingerprint)."""

    fingerprint: str
    redacted: str | None


@dataclass(frozen=True)
class TeamBalance:
    """One team's account: `balance` is what it can spend (credit minus holds)."""

    team: str
    name: str | None
    keys: tuple[KeyRef, ...]
    balance: Decimal
    held: Decimal
    spent: Decimal
    holds: int


@dataclass(eq=False)
class _Team:
    """A team's money, in ten-thousandths of a dollar (see the module docstring)."""

    team: str
    name: str | None
    credit: int
    members: dict[str, str | None]  # fingerprint -> redacted key
    pinned: bool = False  # configured, or balance set by the admin API: never forgotten
    held: int = 0
    spent: int = 0
    holds: dict[str, int] = field(default_factory=dict)  # task id -> amount

    def view(self) -> TeamBalance:
        return TeamBalance(
            team=self.team,
            name=self.name,
            keys=tuple(KeyRef(fp, shown) for fp, shown in sorted(self.members.items())),
            balance=_usd(self.credit - self.held),
            held=_usd(self.held),
            spent=_usd(self.spent),
            holds=len(self.holds),
        )


def _unknown_outcome(task_id: str) -> TaskStatus | None:
    return TaskStatus.PROCESSING  # no state to ask: holds end only through `conclude`


class Accounts:
    """Every team's credit and holds; thread-safe (one lock), bounded (see the module)."""

    def __init__(
        self,
        *,
        teams: Mapping[str, Sequence[str]] | None = None,
        starting_credit: Decimal | str | int | float = "1000.0000",
        charge: Decimal | str | int | float = "0.2400",
        max_teams: int = 10_000,
        max_holds: int = 200_000,
        outcome_of: OutcomeOf = _unknown_outcome,
    ) -> None:
        if max_teams < 1 or max_holds < 1:
            raise ValueError("max_teams and max_holds must be positive")
        self.starting_credit = money(starting_credit)
        self.charge = money(charge)
        if self.charge < 0:
            raise ValueError("a task cannot cost a negative amount")
        self._start = _units(self.starting_credit)
        self._charge = _units(self.charge)
        self.max_teams = max_teams
        self.max_holds = max_holds
        #: Holds at which every hold is next asked about (see the module docstring).
        self._resolve_at = max_holds
        self.outcome_of = outcome_of
        #: A state file's hook (`CreditChanged`); None in memory-only mode.
        self.on_change: CreditChanged | None = None
        self._lock = threading.Lock()
        self._named: dict[str, _Team] = {}  # team id -> configured team
        self._member_of: dict[str, str] = {}  # fingerprint -> configured team id
        self._teams: OrderedDict[str, _Team] = OrderedDict()  # key teams, least recent first
        self._hold_team: dict[str, str] = {}  # task id -> team id
        for name, keys in (teams or {}).items():
            self._configure(name, keys)

    def _configure(self, name: str, keys: Iterable[str]) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a team needs a non-empty name")
        team_id = f"team:{name}"
        members: dict[str, str | None] = {key_fingerprint(key): redact(key) for key in keys}
        if not members:
            raise ValueError(f"team {name!r} lists no key")
        for fingerprint in members:
            if fingerprint in self._member_of:
                raise ValueError(f"a key of team {name!r} is already in another team")
            self._member_of[fingerprint] = team_id
        self._named[team_id] = _Team(team_id, name, self._start, members, pinned=True)

    # -- finding a team ------------------------------------------------------------------

    def team_of(self, api_key: str) -> str:
        """The id of the team a key belongs to (its fingerprint, unless configured)."""
        fingerprint = key_fingerprint(api_key)
        return self._member_of.get(fingerprint, fingerprint)

    def _team(self, team_id: str, api_key: str | None, *, create: bool) -> _Team | None:
        """A stored team, made (and the bound kept) when `create`; under the lock."""
        team = self._named.get(team_id)
        if team is not None:
            return team
        team = self._teams.get(team_id)
        if team is not None:
            self._teams.move_to_end(team_id)
        elif create:
            team = _Team(team_id, None, self._start, {team_id: None})
            self._teams[team_id] = team
            self._forget_if_full(keep=team_id)
        if team is not None and api_key is not None and team.members[team_id] is None:
            team.members[team_id] = redact(api_key)
        return team

    def _forget_if_full(self, keep: str) -> None:
        """Forget least recently used teams with no hold and no admin balance (never
        `keep`, the team just made), as far as the bound asks; each team is looked at once
        per call."""
        teams = self._teams
        for _ in range(len(teams)):
            if len(teams) <= self.max_teams:
                return
            team_id, team = next(iter(teams.items()))
            if team.holds or team.pinned or team_id == keep:
                teams.move_to_end(team_id)
            else:
                del teams[team_id]

    def _resolve_ref(self, ref: str) -> str:
        """A team id from a team id, a key fingerprint or a team name."""
        if ref in self._named:
            return ref
        if f"team:{ref}" in self._named:
            return f"team:{ref}"
        if _FINGERPRINT.fullmatch(ref):
            return self._member_of.get(ref, ref)
        raise LookupError(f"{ref!r} is neither a team nor a key fingerprint")

    def ref_for(self, key_or_ref: str) -> str:
        """What names a team given a key or a reference: the reference itself when it is
        one (a team id or name, a fingerprint), else the key's fingerprint, so a caller
        holding a key never needs to send it anywhere."""
        try:
            return self._resolve_ref(key_or_ref)
        except LookupError:
            return key_fingerprint(key_or_ref)

    # -- money -------------------------------------------------------------------------

    def reserve(self, api_key: str, task_id: str, amount: Decimal | None = None) -> Decimal:
        """Hold a task's price on its team's credit before the task is created; returns
        the amount held. Raises the provider's 402, holding nothing, when the credit left
        after the holds of tasks still running does not cover it."""
        price = self._charge if amount is None else _units(money(amount))
        if price < 0:
            raise ValueError("a task cannot cost a negative amount")
        team_id = self.team_of(api_key)
        held = self._hold_team
        with self._lock:
            if task_id in held:
                raise ValueError(f"task {task_id!r} already holds an amount")
            if len(held) >= self._resolve_at:
                self._resolve(list(held))
                self._resolve_at = max(self.max_holds, 2 * len(held))
            team = self._team(team_id, api_key, create=False)
            credit = self._start if team is None else team.credit - team.held
            if (credit < price or credit < 0) and team is not None and team.holds:
                self._resolve(list(team.holds))  # some may have ended: ask before refusing
                credit = team.credit - team.held
            if credit < price or credit < 0:
                raise insufficient_balance()
            team = team or self._team(team_id, api_key, create=True)
            assert team is not None
            team.holds[task_id] = price
            team.held += price
            held[task_id] = team_id
        return self.charge if amount is None else _usd(price)

    def conclude(self, task_id: str, succeeded: bool) -> None:
        """A task's hold ends now: spent when it `succeeded`, given back when not.
        Idempotent, and a no-op for a task without a hold."""
        if task_id not in self._hold_team:  # the common case, read without the lock
            return
        with self._lock:
            self._end_hold(task_id, succeeded)

    def release(self, task_id: str) -> None:
        """Give a hold back: the task failed, or was never created."""
        self.conclude(task_id, succeeded=False)

    def _end_hold(self, task_id: str, succeeded: bool) -> None:
        team_id = self._hold_team.pop(task_id, None)
        if team_id is None:
            return
        team = self._named.get(team_id) or self._teams[team_id]  # a team with holds stays
        amount = team.holds.pop(task_id)
        team.held -= amount
        if succeeded:
            team.credit -= amount
            team.spent += amount
            if self.on_change is not None:
                self.on_change(task_id, team.view())

    def _resolve(self, task_ids: Iterable[str]) -> None:
        """Ask how held tasks ended and settle those that did; under the lock."""
        for task_id in task_ids:
            status = self.outcome_of(task_id)
            if status is None or status is _FAILED:
                self._end_hold(task_id, succeeded=False)
            elif status is _SUCCESS:
                self._end_hold(task_id, succeeded=True)

    def balance(self, api_key: str) -> Decimal:
        """What the key's team can still spend, its holds brought up to date first. The
        wire sends `float(...)`: `data.balance` must be a JSON number."""
        team_id = self.team_of(api_key)
        with self._lock:
            team = self._team(team_id, api_key, create=False)
            if team is None:
                return self.starting_credit
            self._resolve(list(team.holds))
            return _usd(team.credit - team.held)

    # -- the admin side ----------------------------------------------------------------

    def set_balance(self, ref: str, amount: Decimal | str | int | float) -> TeamBalance:
        """Set what a team can spend (`ref`: a key fingerprint, a team id or name). The
        credit becomes `amount` plus what is held, so the balance read back is `amount`;
        a negative amount puts the team in arrears (every submit gets 402)."""
        value = money(amount)
        with self._lock:
            team_id = self._resolve_ref(ref)
            team = self._team(team_id, None, create=True)
            assert team is not None
            team.credit = _units(value) + team.held
            team.pinned = True
            if self.on_change is not None:
                self.on_change(None, team.view())
            return team.view()

    def balances(self) -> list[TeamBalance]:
        """Every team with an account of its own: configured teams, then the others from
        least to most recently used. Keys appear as fingerprints and redacted forms only."""
        with self._lock:
            return [team.view() for team in (*self._named.values(), *self._teams.values())]

    def account(self, ref: str) -> TeamBalance:
        """One team as `balances()` shows it; a team never seen has the starting credit."""
        with self._lock:
            team_id = self._resolve_ref(ref)
            team = self._team(team_id, None, create=False)
            if team is None:
                zero = Decimal("0.0000")
                return TeamBalance(
                    team_id, None, (KeyRef(team_id, None),), self.starting_credit, zero, zero, 0
                )
            self._resolve(list(team.holds))
            return team.view()

    # -- a state file's view -----------------------------------------------------------

    def hold_of(self, task_id: str) -> tuple[str, Decimal] | None:
        """The team and amount a task holds, if it holds any (read without the lock: a
        state file asks while holding its own, which the accounts take after theirs)."""
        team_id = self._hold_team.get(task_id)
        team = None if team_id is None else self._named.get(team_id) or self._teams.get(team_id)
        amount = None if team is None else team.holds.get(task_id)
        return None if team_id is None or amount is None else (team_id, _usd(amount))

    def restore_team(
        self,
        team_id: str,
        name: str | None,
        credit: Decimal,
        spent: Decimal,
        members: Mapping[str, str | None],
        pinned: bool,
    ) -> None:
        """Put back a team's credit as a state file kept it (before its holds)."""
        with self._lock:
            team = self._named.get(team_id)
            if team is None:
                team = _Team(team_id, name, _units(credit), dict(members), pinned=pinned)
                self._teams[team_id] = team
            team.credit, team.spent = _units(credit), _units(spent)

    def restore_holds(self, holds: Iterable[tuple[str, str, Decimal]]) -> None:
        """Put back the holds (task id, team id, amount) of tasks a state file kept."""
        with self._lock:
            for task_id, team_id, amount in holds:
                team = self._named.get(team_id) or self._team(team_id, None, create=True)
                assert team is not None
                units = _units(amount)
                team.holds[task_id] = units
                team.held += units
                self._hold_team[task_id] = team_id

    def stats(self) -> dict[str, int]:
        """Figures for memory reports."""
        with self._lock:
            return {
                "teams": len(self._named) + len(self._teams),
                "configured_teams": len(self._named),
                "holds": len(self._hold_team),
                "max_teams": self.max_teams,
            }
