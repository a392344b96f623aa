"""Strict requests: a test fails when its client sent something the mock does not serve.

A client that calls a path the provider does not have, or a method a path does not take,
gets a 404 or 405 and often carries on (a helper that swallows errors, a best-effort
call): the test passes while the code is wrong. With `strict_requests` the fixture reads
the journal at teardown and fails the test with the list of such requests. It uses what
the journal already records: the route table's name for a request no route serves
(`UNROUTED`) and the 405 a route answers for a method it does not take (unless a fault
rule produced that status on purpose). `lipsync_intercept` adds the requests it refused
or could not route, which never reached the mock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pytest

from vidu_lipsync_mock.http.router import UNROUTED
from vidu_lipsync_mock.journal.journal import Entry

__all__ = ["UNEXPECTED_KEY", "fail_on_unexpected", "unexpected_requests"]

#: Requests `lipsync_intercept` refused or could not route, one line each, per test.
UNEXPECTED_KEY = pytest.StashKey[list[str]]()

#: At most this many requests are listed; the count says how many there were.
SHOWN = 20


def _url(entry: Entry) -> str:
    host = entry.request_headers.get("host")
    query = f"?{entry.query}" if entry.query else ""
    return f"{'//' + host if host else ''}{entry.path}{query}"


def unexpected_requests(entries: Iterable[Entry]) -> list[str]:
    """One line (method, URL, status and why) for each request the mock did not expect."""
    found = []
    for entry in entries:
        if entry.route == UNROUTED:
            why = "no such route"
        elif entry.status == 405 and entry.fault is None:
            why = f"method not served by route {entry.route!r}"
        else:
            continue
        found.append(f"{entry.method} {_url(entry)} -> {entry.status} ({why})")
    return found


def fail_on_unexpected(entries: Iterable[Entry], refused: Sequence[str] = ()) -> None:
    """Fail the test if any request was unexpected (the journal's, then `refused`)."""
    lines = [*unexpected_requests(entries), *refused]
    if not lines:
        return
    shown = "\n".join(f"  {line}" for line in lines[:SHOWN])
    more = f"\n  ... and {len(lines) - SHOWN} more" if len(lines) > SHOWN else ""
    pytest.fail(
        f"strict_requests: {len(lines)} request(s) the mock did not expect:\n{shown}{more}\n"
        "(the client called a path or method the provider does not serve; turn this check "
        "off with @pytest.mark.lipsync(strict_requests=False))",
        pytrace=False,
    )
