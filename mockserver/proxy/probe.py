"""The live contract probe: a fixed set of requests sent to the real service and to a fresh
mock side by side, answers compared through `proxy.compare`.

The probe costs nothing unless asked: every request but one is refused or free on the real
service (an unknown task, bad JSON, a missing field, a wrong key) or reads the account
(validate, balance, models). The one paid request, a submit followed by polls until the
task ends, runs only with `allow_paid`, with inputs the caller names (the real service must
be able to fetch them).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from vidu_lipsync_mock.mock import LipSyncMock
from vidu_lipsync_mock.proxy.compare import Answer, Difference, differences
from vidu_lipsync_mock.proxy.drift import answer_of
from vidu_lipsync_mock.service.keys import make_api_key

__all__ = ["PROBES", "Probe", "run_probe"]

SUBMIT = "/api/v1/vidu/lip-sync/async"
WRONG_KEY = make_api_key("driftprobewrongkey")
MOCK_KEY = make_api_key("driftprobe")


@dataclass(frozen=True)
class Probe:
    """One request of the probe. `key` is whose key it carries: `own`, `wrong` or `none`."""

    name: str
    method: str
    path: str
    key: str = "own"
    body: bytes | None = None


PROBES = (
    Probe("validate", "GET", "/api/v1/apikey/validate"),
    Probe("balance", "GET", "/api/v1/team/balance"),
    Probe("models", "GET", "/api/v1/models"),
    Probe("unknown task", "GET", "/api/v1/tasks/task-00000000000000000000drift"),
    Probe("bad JSON", "POST", SUBMIT, body=b"{not json"),
    Probe("missing field", "POST", SUBMIT, body=b"{}"),
    Probe("wrong key", "GET", "/api/v1/team/balance", key="wrong"),
    Probe("no key", "GET", "/api/v1/team/balance", key="none"),
)

TERMINAL = ("success", "failed")


@dataclass
class _Side:
    """One side of the comparison: a base URL and the key it accepts."""

    client: httpx.Client
    key: str

    def send(self, probe: Probe) -> Answer:
        headers = {"Content-Type": "application/json"} if probe.body is not None else {}
        if probe.key != "none":
            headers["Authorization"] = f"Bearer {self.key if probe.key == 'own' else WRONG_KEY}"
        response = self.client.request(
            probe.method, probe.path, headers=headers, content=probe.body
        )
        return answer_of(response)

    def submit_and_poll(
        self, body: bytes, *, interval: float, deadline: float
    ) -> tuple[Answer, dict[str, Answer]]:
        """The submit's answer, and the last poll answer seen in each status."""
        submitted = self.send(Probe("submit", "POST", SUBMIT, body=body))
        seen: dict[str, Answer] = {}
        data = (submitted.json() or {}).get("data") or {}
        url = (data.get("get_result") or {}).get("url")
        if submitted.status != 200 or not isinstance(url, str):
            return submitted, seen
        ends = time.monotonic() + deadline
        while time.monotonic() < ends:
            answer = answer_of(
                self.client.get(url, headers={"Authorization": f"Bearer {self.key}"})
            )
            status = ((answer.json() or {}).get("data") or {}).get("status")
            seen[str(status)] = answer
            if answer.status != 200 or status in TERMINAL:
                break
            if interval > 0:
                time.sleep(interval)  # real-time: the real service's task runs in real time
        return submitted, seen


def run_probe(
    upstream: str,
    api_key: str,
    *,
    allow_paid: bool = False,
    submit_body: bytes | None = None,
    poll_interval: float = 5.0,
    deadline: float = 900.0,
    timeout: float = 30.0,
) -> list[Difference]:
    """Send the probe to `upstream` and to a fresh mock; every difference in form."""
    # Like the real service, the mock knows one account's key and refuses any other.
    mock = LipSyncMock(progression="polls", clock="manual", api_keys=[MOCK_KEY])
    found: list[Difference] = []
    with (
        httpx.Client(base_url=upstream.rstrip("/"), timeout=timeout) as theirs,
        httpx.Client(base_url=mock.start(), timeout=timeout) as ours,
    ):
        try:
            remote, local = _Side(theirs, api_key), _Side(ours, MOCK_KEY)
            for probe in PROBES:
                found += differences(probe.name, remote.send(probe), local.send(probe))
            if allow_paid and submit_body is not None:
                found += _paid(remote, local, submit_body, poll_interval, deadline)
        finally:
            mock.stop()
    return found


def _paid(
    remote: _Side, local: _Side, body: bytes, interval: float, deadline: float
) -> list[Difference]:
    their_submit, their_polls = remote.submit_and_poll(body, interval=interval, deadline=deadline)
    our_submit, our_polls = local.submit_and_poll(body, interval=0, deadline=60)
    found = differences("submit", their_submit, our_submit)
    for status, answer in their_polls.items():
        if status in our_polls:
            found += differences(f"poll ({status})", answer, our_polls[status])
        else:
            found.append(Difference(f"poll ({status})", "status reached", status, "never"))
    return found
