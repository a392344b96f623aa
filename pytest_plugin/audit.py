"""The retry-policy auditor: judge a client from the journal of what it sent.

A client's retry logic is where the expensive bugs hide (a resubmitted paid job, a loop
that hammers a 429, a poller that never learns a task ended), and none of them shows up as
a failed assertion in the client's own tests: the client "works". The mock's journal
records every request with the mock's clock, so the auditor can read the client's
behaviour back after the fact and say, in words a person can act on, what it did wrong.

It is pure Python over `Entry` objects: no HTTP, no pytest, no I/O. Time is always the
journal's `clock_time` (the mock's clock, virtual under `clock="manual"`), because that is
the time the client *chose* to wait; a client whose sleeps do not move the mock's clock
(no fast-forward, no `mock.advance`) therefore looks as if it never waits at all.

Vocabulary. The **same request** means the same API key, method, path, query and body
(bodies compared as parsed JSON, so key order and spacing do not matter). A **retry** is
the next same request after one that failed. A failure is **retryable** when its status is
in `AuditPolicy.retryable_statuses` or the connection broke or the body could not be read
(`broken_outcomes`); **non-retryable** when its status is in `non_retryable_statuses`. A
submit failure is **ambiguous** when the task may or may not exist afterwards: the
connection broke, the body was unreadable, or any 5xx (a 429 is not ambiguous: the
provider refuses before it creates anything).

The rules, each with the id a `Finding` carries:

* ``double-submit`` — a paid submit repeated (same key, same body) after an ambiguous
  failure, with no poll of the task the first attempt created in between. The provider's
  CLI never does this: it reports "outcome unknown". There is no list endpoint, so the
  only possible check is a poll of a task id the client somehow learned. When the journal
  shows the failed attempt did create a task, the message says the client paid twice.
* ``retry-non-retryable`` — the same request sent again after 400, 401, 402, 403, 404, 405,
  413, 415 or 416: repeating cannot change those answers. One exception, decided here: a
  404 on a poll of a task id the same key got from a successful submit may be the
  provider's eventual consistency (the mock's ``task_not_found`` fault), so repeating it
  is excused when a later poll of that task succeeds or when the repeat comes within
  `not_found_grace` seconds of the submit. A 404 for a task id the client never got, or
  long after, is a real 404.
* ``ignored-retry-after`` — a retry sooner than the failed answer's ``Retry-After``
  (seconds or an HTTP date) allowed, or, on a 429 without ``Retry-After``, sooner than its
  ``X-RateLimit-Reset`` (Unix seconds). ``Retry-After`` wins when both are present, because
  it is the more specific instruction and the mock's injected 429s may set it shorter
  than the window.
* ``no-backoff`` — three consecutive retries of the same request whose gaps do not grow
  (each at most `backoff_tolerance` longer than the one before). A gap is excused when it
  waited what the server asked for (``Retry-After``/``X-RateLimit-Reset``) or at least
  `backoff_cap` seconds (the CLI caps its backoff at 10 s, so 10, 10, 10 is fine).
  Two shrinking steps in a row from a fully jittered client will also trip this: loosen
  `backoff_tolerance` or ignore the rule for such a client.
* ``poll-too-fast`` — the client saw a task still running and polled it again sooner than
  `min_poll_interval`. Gaps after a failed poll are retries, judged by the rules above,
  and the gap between the submit and the first poll is not judged.
* ``poll-after-terminal`` — a poll of a task after a poll had already shown it ended
  (success, succeeded, completed, failed, error, canceled, cancelled): a finished task
  never changes, so the client does not recognise that status.
* ``gave-up-early`` — the last attempt of a request was a retryable failure, after fewer
  than `min_attempts_before_giving_up` attempts in a row. Not raised for an ambiguous
  submit failure (stopping there is right) nor when the server asked for a wait longer
  than `give_up_wait` (the CLI's whole GET retry budget is 15 s). A submit refused with
  429 is only a warning: not retrying it is a choice, not a bug.
* ``never-gave-up`` — more than `max_attempts` retryable failures of the same request in a
  row.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from itertools import pairwise
from typing import Any, Literal, Protocol

from vidu_lipsync_mock.journal.journal import Entry

__all__ = [
    "RULES",
    "AuditPolicy",
    "Finding",
    "Severity",
    "assert_sound_retry_policy",
    "audit",
    "format_findings",
]

Severity = Literal["error", "warning"]

#: Every rule id the auditor can report, with what it means in one line.
RULES: Mapping[str, str] = {
    "double-submit": "a paid submit repeated after an ambiguous failure, unchecked",
    "retry-non-retryable": "a request repeated after an answer repeating cannot change",
    "ignored-retry-after": "a retry sooner than Retry-After / X-RateLimit-Reset allowed",
    "no-backoff": "three or more retries in a row whose waits do not grow",
    "poll-too-fast": "a running task polled again sooner than min_poll_interval",
    "poll-after-terminal": "a task polled again after it was seen finished",
    "gave-up-early": "a request abandoned after too few retryable failures",
    "never-gave-up": "more than max_attempts retryable failures of one request in a row",
}

#: Outcomes after which the client did not get a usable answer (see the journal).
BROKEN_OUTCOMES = frozenset(
    {
        "reset",
        "hang",
        "closed_after_headers",
        "closed_mid_body",
        "truncated_json",
        "malformed_json",
        "empty_body",
    }
)

TERMINAL_STATUSES = frozenset(
    {"success", "succeeded", "completed", "failed", "error", "canceled", "cancelled"}
)

_AUDITED_ROUTES = frozenset({"submit", "poll", "download"})


def _frozen_ints(value: Iterable[int]) -> frozenset[int]:
    return frozenset(int(v) for v in value)


def _frozen_strs(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):  # "poll-too-fast" meant as one name, not its letters
        return frozenset({value})
    return frozenset(str(v) for v in value)


@dataclass(frozen=True)
class AuditPolicy:
    """What the auditor tolerates. Every field has a default drawn from the provider's CLI
    and NOTES.md, and can be set from a `@pytest.mark.lipsync(audit={...})` dict, so the
    collection fields take any collection (a list from a marker) and keep a frozenset."""

    #: Seconds of clock time a client should leave between polls of a running task. The
    #: provider's own clients use 5-10 s for video; 2 s is a lenient floor.
    min_poll_interval: float = 2.0
    #: Most retryable failures of one request in a row before the client must give up.
    max_attempts: int = 10
    #: Fewest attempts in a row before abandoning a request after retryable failures.
    min_attempts_before_giving_up: int = 2
    retryable_statuses: Collection[int] = frozenset({429, 500, 502, 503, 504})
    #: The provider's four (400, 401, 402, 404) plus the HTTP-layer refusals the mock can
    #: give (403 expired link, 405, 413, 415, 416): none changes by asking again.
    non_retryable_statuses: Collection[int] = frozenset(
        {400, 401, 402, 403, 404, 405, 413, 415, 416}
    )
    broken_outcomes: Collection[str] = BROKEN_OUTCOMES
    terminal_statuses: Collection[str] = TERMINAL_STATUSES
    #: Seconds by which a retry gap must exceed the previous one to count as growing, and
    #: the slack allowed around a server-directed wait.
    backoff_tolerance: float = 0.1
    #: A retry gap at least this long (seconds) counts as backed off (the CLI's cap).
    backoff_cap: float = 10.0
    #: Slack (seconds) when comparing a retry with Retry-After / X-RateLimit-Reset.
    retry_after_tolerance: float = 0.05
    #: A server-requested wait longer than this (seconds) makes giving up acceptable.
    give_up_wait: float = 15.0
    #: Seconds after a submit during which 404 polls of its task may be repeated.
    not_found_grace: float = 30.0
    #: Rules not to run at all.
    ignore: Collection[str] = frozenset()
    #: Rules to report as warnings instead of errors (so they do not fail an assertion).
    warnings: Collection[str] = frozenset()

    def __post_init__(self) -> None:
        for name in ("retryable_statuses", "non_retryable_statuses"):
            object.__setattr__(self, name, _frozen_ints(getattr(self, name)))
        for name in ("broken_outcomes", "terminal_statuses", "ignore", "warnings"):
            object.__setattr__(self, name, _frozen_strs(getattr(self, name)))
        for name in (
            "min_poll_interval",
            "backoff_tolerance",
            "backoff_cap",
            "retry_after_tolerance",
            "give_up_wait",
            "not_found_grace",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"AuditPolicy.{name} must be a number of seconds, not {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"AuditPolicy.{name} must be a finite number >= 0, not {value}")
        for name in ("max_attempts", "min_attempts_before_giving_up"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"AuditPolicy.{name} must be a whole number >= 1, not {value!r}")
        if self.min_attempts_before_giving_up > self.max_attempts:
            raise ValueError(
                "AuditPolicy.min_attempts_before_giving_up must not exceed max_attempts: no "
                "client could satisfy both"
            )
        both = set(self.retryable_statuses) & set(self.non_retryable_statuses)
        if both:
            raise ValueError(
                f"statuses cannot be both retryable and not: {', '.join(map(str, sorted(both)))}"
            )
        unknown = (set(self.ignore) | set(self.warnings)) - RULES.keys()
        if unknown:
            raise ValueError(
                f"unknown audit rule(s) {', '.join(sorted(unknown))}; known: {', '.join(RULES)}"
            )


@dataclass(frozen=True)
class Finding:
    """One thing the client did wrong: `entries` are the journal seqs involved, in order."""

    rule: str
    message: str
    entries: tuple[int, ...]
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"[{self.severity}] {self.rule}: {self.message}"


class _HasJournal(Protocol):
    @property
    def journal(self) -> Any: ...


# -- reading entries --------------------------------------------------------------------


def _header(entry: Entry, name: str) -> str | None:
    wanted = name.lower()
    for key, value in entry.response_headers.items():
        if key.lower() == wanted:
            return value
    return None


def _seconds(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return f"{text} s"


class _Reader:
    """Classifies entries under one policy and words them for messages."""

    def __init__(self, entries: Sequence[Entry], policy: AuditPolicy) -> None:
        self.entries = entries
        self.policy = policy
        self.origin = min((e.clock_time for e in entries), default=0.0)

    def at(self, entry: Entry) -> str:
        return f"t=+{_seconds(entry.clock_time - self.origin)}"

    def answer(self, entry: Entry) -> str:
        outcome = entry.outcome
        if outcome == "reset" or (entry.status == 0 and outcome not in self.policy.broken_outcomes):
            return "no response: connection reset"
        if outcome == "hang":
            return "no response: the server hung"
        if outcome == "closed_after_headers":
            return f"{entry.status} headers, then the connection closed"
        if outcome == "closed_mid_body":
            return f"{entry.status}, connection closed mid-body"
        if outcome in self.policy.broken_outcomes:
            return f"{entry.status} with a {outcome.replace('_', ' ')} body"
        return str(entry.status)

    def describe(self, entry: Entry) -> str:
        return (
            f"#{entry.seq} {entry.method} {entry.path} at {self.at(entry)} ({self.answer(entry)})"
        )

    def short(self, entry: Entry) -> str:
        return f"#{entry.seq} at {self.at(entry)} ({self.answer(entry)})"

    def broken(self, entry: Entry) -> bool:
        return entry.status == 0 or entry.outcome in self.policy.broken_outcomes

    def retryable(self, entry: Entry) -> bool:
        return self.broken(entry) or entry.status in self.policy.retryable_statuses

    def fatal(self, entry: Entry) -> bool:
        return not self.broken(entry) and entry.status in self.policy.non_retryable_statuses

    def ok(self, entry: Entry) -> bool:
        return not self.broken(entry) and 200 <= entry.status < 400

    def ambiguous_submit(self, entry: Entry) -> bool:
        return entry.route == "submit" and (self.broken(entry) or entry.status >= 500)

    def task_status(self, entry: Entry) -> str | None:
        """`data.status` of a poll the client could read, else None."""
        if not self.ok(entry):
            return None
        document = entry.json()
        if not isinstance(document, dict):
            return None
        data = document.get("data")
        status = data.get("status") if isinstance(data, dict) else None
        return status if isinstance(status, str) else None

    def terminal(self, entry: Entry) -> bool:
        status = self.task_status(entry)
        return status is not None and status.lower() in self.policy.terminal_statuses

    @staticmethod
    def created_task(entry: Entry) -> str | None:
        """The id of the task a submit created, as far as the journal shows, whatever the
        client saw.

        Falls back to the first JSON document of the recorded body: when a fault replaces
        an answer after the service handled it, the journal keeps the real answer in front
        of the one the client got (and leaves `task_id` unset).
        """
        if entry.route != "submit":
            return None
        if entry.task_id:
            return entry.task_id
        if not entry.response_body:
            return None
        try:
            document, _ = json.JSONDecoder().raw_decode(entry.response_body.lstrip())
        except ValueError:
            return None
        data = document.get("data") if isinstance(document, dict) else None
        task_id = data.get("task_id") if isinstance(data, dict) else None
        return task_id if isinstance(task_id, str) and task_id else None

    def created(self, entry: Entry) -> bool:
        """Whether a submit created a task, even when its id was lost with the body.

        A body mangled in transit (truncated, malformed, empty) is recorded with the
        status the service itself answered, so a 2xx there means the task exists.
        """
        if entry.route != "submit":
            return False
        if self.created_task(entry) is not None:
            return True
        return entry.outcome in self.policy.broken_outcomes and 200 <= entry.status < 300

    def wait_until(self, entry: Entry) -> tuple[float, str] | None:
        """The clock time before which the server asked not to be asked again, and why."""
        retry_after = _header(entry, "retry-after")
        if retry_after is not None:
            text = retry_after.strip()
            try:
                seconds = float(text)
            except ValueError:
                seconds = math.nan
            if math.isfinite(seconds):
                return entry.clock_time + max(seconds, 0.0), f"Retry-After: {text}"
            try:
                when = parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                when = None
            if when is not None and when.tzinfo is not None:
                return when.timestamp(), f"Retry-After: {text}"
        if entry.status == 429:
            reset = _header(entry, "x-ratelimit-reset")
            if reset is not None:
                try:
                    moment = float(reset.strip())
                except ValueError:
                    return None
                if math.isfinite(moment):
                    return moment, f"X-RateLimit-Reset: {reset.strip()}"
        return None


def _body_key(entry: Entry) -> str:
    parsed = entry.request_json()
    if parsed is not None:
        return json.dumps(parsed, sort_keys=True, separators=(",", ":"))
    return entry.request_body or ""


Identity = tuple[str | None, str, str, str, str]


def _identity(entry: Entry) -> Identity:
    return (entry.api_key, entry.method, entry.path, entry.query, _body_key(entry))


def _by_identity(entries: Sequence[Entry]) -> dict[Identity, list[Entry]]:
    groups: dict[Identity, list[Entry]] = defaultdict(list)
    for entry in entries:
        if entry.route in _AUDITED_ROUTES:
            groups[_identity(entry)].append(entry)
    return groups


def _polls_by_task(entries: Sequence[Entry]) -> dict[str, list[Entry]]:
    polls: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        if entry.route == "poll" and entry.task_id:
            polls[entry.task_id].append(entry)
    return polls


def _request_name(entry: Entry) -> str:
    where = f"{entry.path}?{entry.query}" if entry.query else entry.path
    return f"{entry.method} {where}"


def _seqs(entries: Iterable[Entry]) -> tuple[int, ...]:
    return tuple(sorted({e.seq for e in entries}))


def _listed(items: Sequence[str]) -> str:
    return "; ".join(items)


# -- the rules --------------------------------------------------------------------------


def _double_submits(read: _Reader, groups: Mapping[Identity, list[Entry]]) -> list[Finding]:
    polls = _polls_by_task(read.entries)
    findings: list[Finding] = []
    for group in groups.values():
        if group[0].route != "submit":
            continue
        chains: list[list[Entry]] = []
        chain: list[Entry] = []
        for before, after in pairwise(group):
            created = read.created_task(before)
            checked = created is not None and any(
                before.seq < p.seq < after.seq for p in polls.get(created, [])
            )
            if read.ambiguous_submit(before) and not checked:
                if not chain:
                    chain = [before]
                chain.append(after)
            elif chain:
                chains.append(chain)
                chain = []
        if chain:
            chains.append(chain)
        for chain in chains:
            findings.append(_double_submit_finding(read, chain))
    return findings


def _double_submit_finding(read: _Reader, chain: list[Entry]) -> Finding:
    first = chain[0]
    attempts = _listed([read.short(e) for e in chain])
    tasks = [(e, read.created_task(e)) for e in chain if read.created(e)]
    made = ", ".join(
        f"{t} by #{e.seq}" if t else f"one by #{e.seq}, its id lost with the body" for e, t in tasks
    )
    if len(tasks) > 1:
        money = (
            f"The journal shows {len(tasks)} tasks created ({made}): the client paid "
            f"{'twice' if len(tasks) == 2 else f'{len(tasks)} times'} for one job."
        )
    elif tasks:
        money = (
            f"The journal shows only one task created ({made}); the client could not have "
            "known that when it resubmitted."
        )
    else:
        money = "The journal shows no task created, but the client could not have known that."
    return Finding(
        rule="double-submit",
        message=(
            f"the same paid submit ({_request_name(first)}, same key and body) was sent "
            f"{len(chain)} times after ambiguous failures, with no check of the first "
            f"task in between: {attempts}. A submit that fails this way may still have "
            "created the task; the provider's CLI reports 'outcome unknown' instead of "
            f"resubmitting. {money}"
        ),
        entries=_seqs(chain),
    )


def _retries_of_non_retryable(
    read: _Reader, groups: Mapping[Identity, list[Entry]]
) -> list[Finding]:
    polls = _polls_by_task(read.entries)
    submitted: dict[tuple[str | None, str], Entry] = {}
    for entry in read.entries:
        if entry.route == "submit" and read.ok(entry) and entry.task_id:
            submitted.setdefault((entry.api_key, entry.task_id), entry)
    findings: list[Finding] = []
    for group in groups.values():
        pairs: list[tuple[Entry, Entry]] = []
        for before, after in pairwise(group):
            if not read.fatal(before):
                continue
            if before.route == "poll" and before.status == 404 and before.task_id:
                submit = submitted.get((before.api_key, before.task_id))
                if submit is not None and submit.seq < before.seq:
                    later_ok = any(p.seq > before.seq and read.ok(p) for p in polls[before.task_id])
                    in_grace = after.clock_time - submit.clock_time <= read.policy.not_found_grace
                    if later_ok or in_grace:
                        continue
            pairs.append((before, after))
        if not pairs:
            continue
        first = pairs[0][0]
        described = _listed([f"{read.short(a)} after {read.short(b)}" for b, a in pairs])
        findings.append(
            Finding(
                rule="retry-non-retryable",
                message=(
                    f"{_request_name(first)} was repeated after an answer repeating cannot "
                    f"change ({', '.join(sorted({str(b.status) for b, _ in pairs}))}; the "
                    f"provider lists 400, 401, 402 and 404 as not retryable): {described}"
                ),
                entries=_seqs(e for pair in pairs for e in pair),
            )
        )
    return findings


def _ignored_retry_afters(read: _Reader, groups: Mapping[Identity, list[Entry]]) -> list[Finding]:
    tolerance = read.policy.retry_after_tolerance
    findings: list[Finding] = []
    for group in groups.values():
        early: list[str] = []
        involved: list[Entry] = []
        for before, after in pairwise(group):
            if read.ok(before):
                continue
            wait = read.wait_until(before)
            if wait is None:
                continue
            until, why = wait
            if after.clock_time + tolerance < until:
                early.append(
                    f"{read.short(before)} said {why} (not before t=+"
                    f"{_seconds(until - read.origin)}), retried {read.short(after)}, "
                    f"{_seconds(until - after.clock_time)} early"
                )
                involved += [before, after]
        if early:
            findings.append(
                Finding(
                    rule="ignored-retry-after",
                    message=(
                        f"{_request_name(group[0])} was retried sooner than the server "
                        f"allowed: {_listed(early)}"
                    ),
                    entries=_seqs(involved),
                )
            )
    return findings


def _failure_runs(read: _Reader, group: list[Entry]) -> list[list[Entry]]:
    """Maximal runs of retryable failures, each with the attempt that followed (if any)."""
    runs: list[list[Entry]] = []
    run: list[Entry] = []
    for entry in group:
        if read.retryable(entry):
            run.append(entry)
            continue
        if run:
            runs.append([*run, entry])
            run = []
    if run:
        runs.append(run)
    return runs


def _no_backoffs(read: _Reader, groups: Mapping[Identity, list[Entry]]) -> list[Finding]:
    policy = read.policy
    tolerance = policy.backoff_tolerance
    findings: list[Finding] = []
    for group in groups.values():
        for run in _failure_runs(read, group):
            gaps: list[tuple[float, bool]] = []
            for before, after in pairwise(run):
                gap = after.clock_time - before.clock_time
                wait = read.wait_until(before)
                directed = wait is not None and after.clock_time + tolerance >= wait[0]
                gaps.append((gap, directed or gap + tolerance >= policy.backoff_cap))
            flat = any(
                not any(excused for _, excused in gaps[i : i + 3])
                and gaps[i + 1][0] <= gaps[i][0] + tolerance
                and gaps[i + 2][0] <= gaps[i + 1][0] + tolerance
                for i in range(len(gaps) - 2)
            )
            if not flat:
                continue
            waits = ", ".join(_seconds(gap) for gap, _ in gaps)
            attempts = _listed([read.short(e) for e in run])
            findings.append(
                Finding(
                    rule="no-backoff",
                    message=(
                        f"{_request_name(run[0])} was retried {len(gaps)} times after "
                        f"retryable failures with waits that did not grow ({waits}; growth "
                        f"means more than {_seconds(tolerance)} longer each time, up to "
                        f"{_seconds(policy.backoff_cap)}): {attempts}. "
                        "Back off exponentially (the CLI waits 1 s, 2 s, 4 s … capped at 10 s) "
                        "or as Retry-After says."
                    ),
                    entries=_seqs(run),
                )
            )
    return findings


def _fast_polls(read: _Reader) -> list[Finding]:
    minimum = read.policy.min_poll_interval
    findings: list[Finding] = []
    for task_id, polls in _polls_by_task(read.entries).items():
        close: list[tuple[Entry, Entry, float]] = []
        for before, after in pairwise(polls):
            if not read.ok(before) or read.terminal(before):
                continue
            gap = after.clock_time - before.clock_time
            if gap + 1e-9 < minimum:
                close.append((before, after, gap))
        if not close:
            continue
        shortest = min(gap for _, _, gap in close)
        pairs = _listed(
            [f"#{b.seq}→#{a.seq} {_seconds(gap)} (at {read.at(a)})" for b, a, gap in close]
        )
        findings.append(
            Finding(
                rule="poll-too-fast",
                message=(
                    f"task {task_id} was polled again {len(close)} time(s) less than "
                    f"{_seconds(minimum)} after a poll that showed it still running, the "
                    f"shortest gap {_seconds(shortest)}: {pairs}. A lip-sync run takes tens "
                    "of seconds to minutes; the provider's clients poll every 5-10 s."
                ),
                entries=_seqs(e for b, a, _ in close for e in (b, a)),
            )
        )
    return findings


def _polls_after_terminal(read: _Reader) -> list[Finding]:
    findings: list[Finding] = []
    for task_id, polls in _polls_by_task(read.entries).items():
        ended = next((p for p in polls if read.terminal(p)), None)
        if ended is None:
            continue
        later = [p for p in polls if p.seq > ended.seq]
        if not later:
            continue
        findings.append(
            Finding(
                rule="poll-after-terminal",
                message=(
                    f"task {task_id} was seen '{read.task_status(ended)}' at #{ended.seq} "
                    f"({read.at(ended)}) and polled {len(later)} more time(s) after that: "
                    f"{_listed([read.short(p) for p in later])}. A finished task never "
                    "changes; stop polling on success|succeeded|completed and "
                    "failed|error|canceled|cancelled."
                ),
                entries=_seqs([ended, *later]),
            )
        )
    return findings


def _gave_up_early(read: _Reader, groups: Mapping[Identity, list[Entry]]) -> list[Finding]:
    policy = read.policy
    findings: list[Finding] = []
    for group in groups.values():
        last = group[-1]
        if not read.retryable(last) or read.ambiguous_submit(last):
            continue
        trailing: list[Entry] = []
        for entry in reversed(group):
            if not read.retryable(entry):
                break
            trailing.insert(0, entry)
        if len(trailing) >= policy.min_attempts_before_giving_up:
            continue
        wait = read.wait_until(last)
        if wait is not None and wait[0] - last.clock_time > policy.give_up_wait:
            continue
        severity: Severity = "warning" if last.route == "submit" else "error"
        attempts = _listed([read.short(e) for e in trailing])
        findings.append(
            Finding(
                rule="gave-up-early",
                message=(
                    f"{_request_name(last)} was abandoned after {len(trailing)} attempt(s) "
                    f"that failed in ways worth retrying ({attempts}); "
                    f"expected at least {policy.min_attempts_before_giving_up} (the CLI retries "
                    "a GET up to 3 times within 15 s)."
                ),
                entries=_seqs(trailing),
                severity=severity,
            )
        )
    return findings


def _never_gave_up(read: _Reader, groups: Mapping[Identity, list[Entry]]) -> list[Finding]:
    limit = read.policy.max_attempts
    findings: list[Finding] = []
    for group in groups.values():
        for run in _failure_runs(read, group):
            failures = [e for e in run if read.retryable(e)]
            if len(failures) <= limit:
                continue
            counts: dict[str, int] = defaultdict(int)
            for entry in failures:
                counts[read.answer(entry)] += 1
            tally = ", ".join(f"{n} x {answer}" for answer, n in counts.items())
            span = failures[-1].clock_time - failures[0].clock_time
            findings.append(
                Finding(
                    rule="never-gave-up",
                    message=(
                        f"{_request_name(failures[0])} failed {len(failures)} times in a row "
                        f"(#{failures[0].seq} to #{failures[-1].seq}, {read.at(failures[0])} to "
                        f"{read.at(failures[-1])}, {_seconds(span)}: {tally}) and the client "
                        f"kept trying; give up after at most {limit} attempts."
                    ),
                    entries=_seqs(failures),
                )
            )
    return findings


_Rule = Callable[[_Reader, Mapping[Identity, list[Entry]]], list[Finding]]

_CHECKS: Sequence[tuple[str, _Rule]] = (
    ("double-submit", _double_submits),
    ("retry-non-retryable", _retries_of_non_retryable),
    ("ignored-retry-after", _ignored_retry_afters),
    ("no-backoff", _no_backoffs),
    ("poll-too-fast", lambda read, _groups: _fast_polls(read)),
    ("poll-after-terminal", lambda read, _groups: _polls_after_terminal(read)),
    ("gave-up-early", _gave_up_early),
    ("never-gave-up", _never_gave_up),
)


def audit(entries: Iterable[Entry], policy: AuditPolicy | None = None) -> list[Finding]:
    """Every finding for these journal entries, ordered by the first request involved."""
    policy = policy or AuditPolicy()
    ordered = sorted(entries, key=lambda e: e.seq)
    read = _Reader(ordered, policy)
    groups = _by_identity(ordered)
    findings: list[Finding] = []
    for rule, check in _CHECKS:
        if rule in policy.ignore:
            continue
        for finding in check(read, groups):
            if rule in policy.warnings and finding.severity == "error":
                finding = Finding(finding.rule, finding.message, finding.entries, "warning")
            findings.append(finding)
    findings.sort(key=lambda f: (f.entries[:1], list(RULES).index(f.rule)))
    return findings


def format_findings(findings: Iterable[Finding]) -> str:
    """Findings as numbered paragraphs, for assertion messages and reports."""
    lines = [
        f"{n}. [{f.severity}] {f.rule} (requests {', '.join(f'#{s}' for s in f.entries)}): "
        f"{f.message}"
        for n, f in enumerate(findings, 1)
    ]
    return "\n".join(lines) if lines else "no findings"


def _entries_of(source: _HasJournal | Iterable[Entry]) -> list[Entry]:
    journal = getattr(source, "journal", None)
    if journal is not None:
        return list(journal.entries())
    if isinstance(source, Iterable):
        return list(source)
    raise TypeError(f"expected a mock, a journal or journal entries, not {type(source).__name__}")


def assert_sound_retry_policy(
    source: _HasJournal | Iterable[Entry],
    policy: AuditPolicy | None = None,
    *,
    ignore: Iterable[str] = (),
) -> list[Finding]:
    """Fail (AssertionError) if the journal shows any error-level finding.

    `source` is a `LipSyncMock`/`MockState` (its whole journal), a `Journal`, or entries.
    Returns every finding, warnings included, so a test can look at those too.
    """
    __tracebackhide__ = True
    skipped = _frozen_strs(ignore)
    unknown = skipped - RULES.keys()
    if unknown:
        raise ValueError(
            f"unknown audit rule(s) {', '.join(sorted(unknown))}; known: {', '.join(RULES)}"
        )
    findings = [f for f in audit(_entries_of(source), policy) if f.rule not in skipped]
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        raise AssertionError(
            f"the client's retry policy is unsound ({len(errors)} finding(s)):\n"
            + format_findings(errors)
        )
    return findings
