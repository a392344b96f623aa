"""The mock's test API over its admin HTTP API, for a server in another process.

A `vidu-lipsync-mock serve --clock manual` started by a CI step, a container or another
language's test runner is driven from Python with the same verbs as an in-process
`LipSyncMock`: `advance`, `add_fault`, `use_profile`, `force`, `tasks`, `journal`,
`reset`. Every method is one admin call, so what works here works from any HTTP client.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

from vidu_lipsync_mock.http.admin_routes import ADMIN_PREFIX
from vidu_lipsync_mock.journal.journal import Entry
from vidu_lipsync_mock.service.errors import ApiError
from vidu_lipsync_mock.service.keys import key_fingerprint

__all__ = ["RemoteJournal", "RemoteMock"]


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


def _team_ref(key_or_ref: str) -> str:
    """A key's fingerprint; anything else (a fingerprint, a team) as it is."""
    return key_fingerprint(key_or_ref) if key_or_ref.startswith("mdlx-") else key_or_ref


class RemoteMock:
    def __init__(
        self, base_url: str, *, timeout: float = 10.0, verify: ssl.SSLContext | bool = True
    ) -> None:
        self.url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout, verify=verify)
        self.journal = RemoteJournal(self)

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

    def account(self, key_or_ref: str) -> dict[str, Any]:
        """A team's account, named by a key (fingerprinted here: a key never goes into a
        URL), a key fingerprint, or the team's id or name."""
        result: dict[str, Any] = self._call("GET", f"/accounts/{_team_ref(key_or_ref)}")
        return result

    def accounts(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/accounts")
        return result

    def balance(self, key_or_ref: str) -> float:
        """What the team can spend, as `GET /api/v1/team/balance` answers its keys."""
        return float(self.account(key_or_ref)["balance"])

    def set_balance(self, key_or_ref: str, amount: float | str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "PUT", f"/accounts/{_team_ref(key_or_ref)}/balance", {"balance": amount}
        )
        return result

    def tasks(self, status: str | None = None) -> list[dict[str, Any]]:
        params = {"status": status} if status else None
        result: list[dict[str, Any]] = self._call("GET", "/tasks", params=params)
        return result

    def task(self, task_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/tasks/{task_id}")
        return result

    def force(self, task_id: str, status: str, error_message: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"status": status}
        if error_message is not None:
            body["error_message"] = error_message
        result: dict[str, Any] = self._call("POST", f"/tasks/{task_id}/force", body)
        return result

    def set_progression(self, task_id: str, kind: str, **options: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", f"/tasks/{task_id}/progression", {"kind": kind, **options}
        )
        return result

    def delete_task(self, task_id: str) -> None:
        self._call("DELETE", f"/tasks/{task_id}")

    def crashes(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/crashes")
        return result
