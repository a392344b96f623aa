"""The auditor's eight rules, each a function from the journal read under a policy to its
findings, and `audit`, which runs them.

The rules judge the journal's own grouping (`vidu_lipsync_mock.journal.attempts`): the
operations a client performed with their attempts, and the polls of each task.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise

from vidu_lipsync_mock.journal.attempts import Operation, operations, polls_by_task, request_name
from vidu_lipsync_mock.journal.journal import Entry

from .findings import Finding, Severity
from .policy import RULES, AuditPolicy
from .reading import Reader, listed, seconds, seqs

__all__ = ["audit"]


def _double_submits(read: Reader, performed: Sequence[Operation]) -> list[Finding]:
    polls = polls_by_task(read.entries)
    findings: list[Finding] = []
    for operation in performed:
        if operation.route != "submit":
            continue
        chains: list[list[Entry]] = []
        chain: list[Entry] = []
        for before, after in pairwise(operation.attempts):
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


def _double_submit_finding(read: Reader, chain: list[Entry]) -> Finding:
    first = chain[0]
    attempts = listed([read.short(e) for e in chain])
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
            f"the same paid submit ({request_name(first)}, same key and body) was sent "
            f"{len(chain)} times after ambiguous failures, with no check of the first "
            f"task in between: {attempts}. A submit that fails this way may still have "
            "created the task; the provider's CLI reports 'outcome unknown' instead of "
            f"resubmitting. {money}"
        ),
        entries=seqs(chain),
    )


def _retries_of_non_retryable(read: Reader, performed: Sequence[Operation]) -> list[Finding]:
    polls = polls_by_task(read.entries)
    submitted: dict[tuple[str | None, str], Entry] = {}
    for entry in read.entries:
        if entry.route == "submit" and read.ok(entry) and entry.task_id:
            submitted.setdefault((entry.api_key, entry.task_id), entry)
    findings: list[Finding] = []
    for operation in performed:
        pairs: list[tuple[Entry, Entry]] = []
        for before, after in pairwise(operation.attempts):
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
        described = listed([f"{read.short(a)} after {read.short(b)}" for b, a in pairs])
        findings.append(
            Finding(
                rule="retry-non-retryable",
                message=(
                    f"{operation.name} was repeated after an answer repeating cannot "
                    f"change ({', '.join(sorted({str(b.status) for b, _ in pairs}))}; the "
                    f"provider lists 400, 401, 402 and 404 as not retryable): {described}"
                ),
                entries=seqs(e for pair in pairs for e in pair),
            )
        )
    return findings


def _ignored_retry_afters(read: Reader, performed: Sequence[Operation]) -> list[Finding]:
    tolerance = read.policy.retry_after_tolerance
    findings: list[Finding] = []
    for operation in performed:
        early: list[str] = []
        involved: list[Entry] = []
        for before, after in pairwise(operation.attempts):
            if read.ok(before):
                continue
            wait = read.wait_until(before)
            if wait is None:
                continue
            until, why = wait
            if after.clock_time + tolerance < until:
                early.append(
                    f"{read.short(before)} said {why} (not before t=+"
                    f"{seconds(until - read.origin)}), retried {read.short(after)}, "
                    f"{seconds(until - after.clock_time)} early"
                )
                involved += [before, after]
        if early:
            findings.append(
                Finding(
                    rule="ignored-retry-after",
                    message=(
                        f"{operation.name} was retried sooner than the server "
                        f"allowed: {listed(early)}"
                    ),
                    entries=seqs(involved),
                )
            )
    return findings


def _no_backoffs(read: Reader, performed: Sequence[Operation]) -> list[Finding]:
    policy = read.policy
    tolerance = policy.backoff_tolerance
    findings: list[Finding] = []
    for operation in performed:
        for run in operation.failure_runs(read.retryable):
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
            waits = ", ".join(seconds(gap) for gap, _ in gaps)
            attempts = listed([read.short(e) for e in run])
            findings.append(
                Finding(
                    rule="no-backoff",
                    message=(
                        f"{operation.name} was retried {len(gaps)} times after "
                        f"retryable failures with waits that did not grow ({waits}; growth "
                        f"means more than {seconds(tolerance)} longer each time, up to "
                        f"{seconds(policy.backoff_cap)}): {attempts}. "
                        "Back off exponentially (the CLI waits 1 s, 2 s, 4 s … capped at 10 s) "
                        "or as Retry-After says."
                    ),
                    entries=seqs(run),
                )
            )
    return findings


def _fast_polls(read: Reader) -> list[Finding]:
    minimum = read.policy.min_poll_interval
    findings: list[Finding] = []
    for task_id, polls in polls_by_task(read.entries).items():
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
        pairs = listed(
            [f"#{b.seq}→#{a.seq} {seconds(gap)} (at {read.at(a)})" for b, a, gap in close]
        )
        findings.append(
            Finding(
                rule="poll-too-fast",
                message=(
                    f"task {task_id} was polled again {len(close)} time(s) less than "
                    f"{seconds(minimum)} after a poll that showed it still running, the "
                    f"shortest gap {seconds(shortest)}: {pairs}. A lip-sync run takes tens "
                    "of seconds to minutes; the provider's clients poll every 5-10 s."
                ),
                entries=seqs(e for b, a, _ in close for e in (b, a)),
            )
        )
    return findings


def _polls_after_terminal(read: Reader) -> list[Finding]:
    findings: list[Finding] = []
    for task_id, polls in polls_by_task(read.entries).items():
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
                    f"{listed([read.short(p) for p in later])}. A finished task never "
                    "changes; stop polling on success|succeeded|completed and "
                    "failed|error|canceled|cancelled."
                ),
                entries=seqs([ended, *later]),
            )
        )
    return findings


def _gave_up_early(read: Reader, performed: Sequence[Operation]) -> list[Finding]:
    policy = read.policy
    findings: list[Finding] = []
    for operation in performed:
        last = operation.attempts[-1]
        if not read.retryable(last) or read.ambiguous_submit(last):
            continue
        trailing: list[Entry] = []
        for entry in reversed(operation.attempts):
            if not read.retryable(entry):
                break
            trailing.insert(0, entry)
        if len(trailing) >= policy.min_attempts_before_giving_up:
            continue
        wait = read.wait_until(last)
        if wait is not None and wait[0] - last.clock_time > policy.give_up_wait:
            continue
        severity: Severity = "warning" if last.route == "submit" else "error"
        attempts = listed([read.short(e) for e in trailing])
        findings.append(
            Finding(
                rule="gave-up-early",
                message=(
                    f"{operation.name} was abandoned after {len(trailing)} attempt(s) "
                    f"that failed in ways worth retrying ({attempts}); "
                    f"expected at least {policy.min_attempts_before_giving_up} (the CLI retries "
                    "a GET up to 3 times within 15 s)."
                ),
                entries=seqs(trailing),
                severity=severity,
            )
        )
    return findings


def _never_gave_up(read: Reader, performed: Sequence[Operation]) -> list[Finding]:
    limit = read.policy.max_attempts
    findings: list[Finding] = []
    for operation in performed:
        for run in operation.failure_runs(read.retryable):
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
                        f"{operation.name} failed {len(failures)} times in a row "
                        f"(#{failures[0].seq} to #{failures[-1].seq}, {read.at(failures[0])} to "
                        f"{read.at(failures[-1])}, {seconds(span)}: {tally}) and the client "
                        f"kept trying; give up after at most {limit} attempts."
                    ),
                    entries=seqs(failures),
                )
            )
    return findings


_Rule = Callable[[Reader, Sequence[Operation]], list[Finding]]

_CHECKS: Sequence[tuple[str, _Rule]] = (
    ("double-submit", _double_submits),
    ("retry-non-retryable", _retries_of_non_retryable),
    ("ignored-retry-after", _ignored_retry_afters),
    ("no-backoff", _no_backoffs),
    ("poll-too-fast", lambda read, _performed: _fast_polls(read)),
    ("poll-after-terminal", lambda read, _performed: _polls_after_terminal(read)),
    ("gave-up-early", _gave_up_early),
    ("never-gave-up", _never_gave_up),
)


def audit(entries: Iterable[Entry], policy: AuditPolicy | None = None) -> list[Finding]:
    """Every finding for these journal entries, ordered by the first request involved."""
    policy = policy or AuditPolicy()
    ordered = sorted(entries, key=lambda e: e.seq)
    read = Reader(ordered, policy)
    performed = operations(ordered)
    findings: list[Finding] = []
    for rule, check in _CHECKS:
        if rule in policy.ignore:
            continue
        for finding in check(read, performed):
            if rule in policy.warnings and finding.severity == "error":
                finding = Finding(finding.rule, finding.message, finding.entries, "warning")
            findings.append(finding)
    findings.sort(key=lambda f: (f.entries[:1], list(RULES).index(f.rule)))
    return findings
