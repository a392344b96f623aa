"""The mock's test API over its admin HTTP API, for a server in another process.

A `vidu-lipsync-mock serve --clock manual` started by a CI step, a container or another
language's test runner is driven from Python with the same verbs as an in-process
`LipSyncMock`: `advance`, `add_fault`, `use_profile`, `force`, `tasks`, `journal`,
`reset`. Every method is one admin call, so what works here works from any HTTP client.

Both satisfy one protocol (`protocol.MockApi`): the same names, arguments and answer types
(`tasks()` gives `TaskSnapshot`s, `account()` a `TeamBalance`, read back from the admin
JSON by `records`), so one test module runs against either.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

from vidu_lipsync_mock.http.admin_guard import TOKEN_HEADER
from vidu_lipsync_mock.http.admin_routes import ADMIN_PREFIX
from vidu_lipsync_mock.journal.journal import Entry
from vidu_lipsync_mock.service.accounts import TeamBalance
from vidu_lipsync_mock.service.clock import Clock
from vidu_lipsync_mock.service.errors import ApiError
from vidu_lipsync_mock.service.keys import key_fingerprint, make_api_key
from vidu_lipsync_mock.service.tasks import TaskSnapshot, TaskStatus
from vidu_lipsync_mock.timetravel import FastForward

from .records import account_from_record, task_from_record

__all__ = ["RemoteClock", "RemoteJournal", "RemoteMock"]


class RemoteJournal:
    """The remote journal, read on demand, as `Entry` objects like the in-process one."""

    def __init__(self, mock: RemoteMock) -> None:
        self._mock = mock

    def entries(self, **filters: Any) -> list[Entry]:
        params = {}
        for name, value in filters.items():
            if value is None:
                continue
            key = "since" if name == "since_seq" else name
            params[key] = str(value).lower() if isinstance(value, bool) else str(value)
        data = self._mock._call("GET", "/journal", params=params)
        return [Entry(**entry) for entry in data["entries"]]

    def __len__(self) -> int:
        return len(self.entries())

    @property
    def last(self) -> Entry | None:
        entries = self.entries(limit=1)
        return entries[0] if entries else None

    def count(self, **filters: Any) -> int:
        return len(self.entries(**filters))

    def clear(self) -> None:
        self._mock._call("DELETE", "/journal")

    def to_jsonl(self, **filters: Any) -> str:
        response = self._mock._http.get(ADMIN_PREFIX + "/journal.jsonl", params=filters)
        response.raise_for_status()
        return response.text


class RemoteClock(Clock):
    """The server's clock, read and moved over the admin API: what `FastForward` advances
    when the code under test sleeps."""

    kind = "remote"

    def __init__(self, mock: RemoteMock) -> None:
        super().__init__()
        self._mock = mock

    def _base(self) -> float:
        return self._mock.now()

    def now(self) -> float:
        return self._mock.now()

    def advance(self, seconds: float) -> float:
        return self._mock.advance(seconds)

    def set(self, timestamp: float) -> float:
        return self._mock.set_time(timestamp)

    def describe(self) -> dict[str, object]:
        result: dict[str, object] = self._mock._call("GET", "/clock")
        return result


def _status_text(status: TaskStatus | str) -> str:
    """A status as the admin API takes it; the server judges (and names) a wrong one."""
    return status.value if isinstance(status, TaskStatus) else status


def _team_ref(key_or_ref: str) -> str:
    """A key's fingerprint; anything else (a fingerprint, a team) as it is."""
    return key_fingerprint(key_or_ref) if key_or_ref.startswith("mdlx-") else key_or_ref


class RemoteMock:
    """A mock server elsewhere, driven over its admin API.

    `api_key` is the key tests send (the same well-formed default as `LipSyncMock`'s; pass
    one the server accepts if it was started with an allow-list): the admin API never
    hands out a key in clear. `admin_token` is the server's `--admin-token`, sent with
    every admin call as `X-Mock-Admin-Token`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        verify: ssl.SSLContext | bool = True,
        api_key: str | None = None,
        admin_token: str | None = None,
    ) -> None:
        self.url = base_url.rstrip("/")
        headers = {} if admin_token is None else {TOKEN_HEADER: admin_token}
        self._http = httpx.Client(
            base_url=self.url, timeout=timeout, verify=verify, headers=headers
        )
        self.journal = RemoteJournal(self)
        self.clock = RemoteClock(self)
        self.api_key = api_key or make_api_key("vidulipsyncmock")

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def fast_forward(self) -> FastForward:
        """A context manager in which the calling thread's sleeps advance the server's
        clock (one admin call per sleep) instead of waiting."""
        return FastForward(self.clock)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteMock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        response = self._http.request(
            method, ADMIN_PREFIX + path, json=None if body is None else dict(body), params=params
        )
        document = response.json()
        if response.status_code != 200:
            raise ApiError(response.status_code, str(document.get("message", "")))
        return document["data"]

    # -- the same verbs as MockState ---------------------------------------------------

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/health")
        return result

    def config(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/config")
        return result

    def reset(self) -> None:
        self._call("POST", "/reset")

    def now(self) -> float:
        return float(self._call("GET", "/clock")["now"])

    def advance(self, seconds: float) -> float:
        return float(self._call("POST", "/clock/advance", {"seconds": seconds})["now"])

    def set_time(self, timestamp: float) -> float:
        return float(self._call("PUT", "/clock", {"now": timestamp})["now"])

    def run_until_terminal(self, task_id: str | None = None) -> float:
        body = {} if task_id is None else {"task_id": task_id}
        return float(self._call("POST", "/clock/run-until-terminal", body)["now"])

    def add_fault(self, fault: str | Mapping[str, Any], **options: Any) -> dict[str, Any]:
        rule = {"fault": fault, **options} if isinstance(fault, str) else dict(fault)
        result: dict[str, Any] = self._call("POST", "/faults", rule)
        return result

    def fault_rules(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/faults")
        return result

    def remove_fault(self, rule_id: str) -> bool:
        try:
            self._call("DELETE", f"/faults/{rule_id}")
        except ApiError as error:
            if error.status == 404:
                return False
            raise
        return True

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def use_profile(self, name: str, seed: int | None = None) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"name": name}
        if seed is not None:
            body["seed"] = seed
        result: list[dict[str, Any]] = self._call("POST", "/profile", body)
        return result

    def fault_trace(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/faults/trace")
        return result

    def account(self, key_or_ref: str) -> TeamBalance:
        """A team's account, named by a key (fingerprinted here: a key never goes into a
        URL), a key fingerprint, or the team's id or name."""
        return account_from_record(self._call("GET", f"/accounts/{_team_ref(key_or_ref)}"))

    def accounts(self) -> list[TeamBalance]:
        return [account_from_record(record) for record in self._call("GET", "/accounts")]

    def balance(self, key_or_ref: str) -> float:
        """What the team can spend, as `GET /api/v1/team/balance` answers its keys."""
        return float(self.account(key_or_ref).balance)

    def set_balance(self, key_or_ref: str, amount: Any) -> TeamBalance:
        return account_from_record(
            self._call("PUT", f"/accounts/{_team_ref(key_or_ref)}/balance", {"balance": amount})
        )

    def tasks(self, status: TaskStatus | str | None = None) -> list[TaskSnapshot]:
        params = {"status": _status_text(status)} if status else None
        return [task_from_record(record) for record in self._call("GET", "/tasks", params=params)]

    def task(self, task_id: str) -> TaskSnapshot:
        return task_from_record(self._call("GET", f"/tasks/{task_id}"))

    def force(
        self, task_id: str, status: TaskStatus | str, error_message: str | None = None
    ) -> TaskSnapshot:
        body: dict[str, Any] = {"status": _status_text(status)}
        if error_message is not None:
            body["error_message"] = error_message
        return task_from_record(self._call("POST", f"/tasks/{task_id}/force", body))

    def set_progression(self, task_id: str, kind: str, **options: Any) -> TaskSnapshot:
        return task_from_record(
            self._call("POST", f"/tasks/{task_id}/progression", {"kind": kind, **options})
        )

    def delete_task(self, task_id: str) -> None:
        self._call("DELETE", f"/tasks/{task_id}")

    def crashes(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/crashes")
        return result
