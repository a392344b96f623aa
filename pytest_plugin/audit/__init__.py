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

Vocabulary (the grouping is the journal's, `vidu_lipsync_mock.journal.attempts`, which the
failure report shares). The **same request** means the same API key, method, path, query
and body (bodies compared as parsed JSON, so key order and spacing do not matter); its
sends are the **attempts** of one operation. A **retry** is the next same request after
one that failed. A failure is **retryable** when its status is in
`AuditPolicy.retryable_statuses` or the connection broke or the body could not be read
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

Modules: `policy` (the provider's clients' retry rules, as `AuditPolicy` defaults),
`findings` (what a finding says), `reading` (entries classified under a policy), `rules`
(the eight checks, and `audit`), `assertion` (the assertion a test calls).
"""

from __future__ import annotations

from .assertion import assert_sound_retry_policy
from .findings import Finding, Severity, format_findings
from .policy import BROKEN_OUTCOMES as BROKEN_OUTCOMES
from .policy import RULES, AuditPolicy
from .policy import TERMINAL_STATUSES as TERMINAL_STATUSES
from .rules import audit

__all__ = [
    "RULES",
    "AuditPolicy",
    "Finding",
    "Severity",
    "assert_sound_retry_policy",
    "audit",
    "format_findings",
]
