"""A small Modellix lip-sync client with the retry policy the provider's own CLI uses.

This is the "downstream project" of the docs: the kind of code a team tests against
vidu-lipsync-mock. Its rules, from the provider's conventions:

- A submit is paid: it is never repeated automatically. A timeout, a broken connection or
  a 5xx on submit means the outcome is unknown; we raise `OutcomeUnknown` and let a human
  (or a reconciliation job) decide, instead of paying twice.
- GETs (polls, downloads) are retried up to 3 times within 15 s on 429/5xx/transport
  errors, honouring `Retry-After`, else backing off 1 s, 2 s, 4 s (capped at 10 s).
- Polling waits `poll_interval` (5 s by default, as the provider recommends for video)
  and stops at the first terminal status.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

DONE = {"success", "succeeded", "completed"}
FAILED = {"failed", "error", "canceled", "cancelled"}
RETRYABLE = {429, 500, 502, 503, 504}


class ModellixError(Exception):
    """The service refused the request (the envelope's message is kept)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class OutcomeUnknown(ModellixError):
    """A submit may or may not have created a (paid) task. Never retry it blindly."""


class TaskFailed(Exception):
    def __init__(self, task_id: str, message: str) -> None:
        super().__init__(f"task {task_id} failed: {message}")
        self.task_id = task_id


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())


class LipSyncClient:
    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        http: httpx.Client | None = None,
        poll_interval: float = 5.0,
        max_wait: float = 900.0,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.base_url = (base_url or os.environ["MODELLIX_BASE_URL"]).rstrip("/")
        key = api_key or os.environ["MODELLIX_API_KEY"]
        self.http = http or httpx.Client(timeout=30.0)
        self.headers = {"Authorization": f"Bearer {key}"}
        self.poll_interval = poll_interval
        self.max_wait = max_wait
        self._sleep = sleep

    def sleep(self, seconds: float) -> None:
        (self._sleep or time.sleep)(seconds)

    def close(self) -> None:
        self.http.close()

    def submit(self, video_url: str, audio_url: str | None = None) -> str:
        body: dict[str, Any] = {"video_url": video_url}
        if audio_url is not None:
            body["audio_url"] = audio_url
        try:
            response = self.http.post(
                f"{self.base_url}/api/v1/vidu/lip-sync/async", json=body, headers=self.headers
            )
        except httpx.TransportError as error:
            raise OutcomeUnknown(0, f"no answer to the submit ({error!r})") from error
        try:
            document = response.json()
        except ValueError:
            raise OutcomeUnknown(response.status_code, "unreadable answer to the submit") from None
        if response.status_code >= 500:
            raise OutcomeUnknown(response.status_code, document.get("message", ""))
        if response.status_code != 200:
            raise ModellixError(response.status_code, document.get("message", ""))
        task_id: str = document["data"]["task_id"]
        return task_id

    def _get(self, url: str) -> httpx.Response:
        """A GET with the official retry policy: 3 retries within 15 s."""
        started = time.monotonic()
        delay = 1.0
        for attempt in range(4):
            try:
                response = self.http.get(url, headers=self.headers)
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code not in RETRYABLE:
                return response
            if attempt == 3 or time.monotonic() - started > 15:
                break
            wait = (_retry_after(response) if response is not None else None) or delay
            self.sleep(min(wait, 10.0))
            delay = min(delay * 2, 10.0)
        if response is None:
            raise ModellixError(0, f"GET {url} kept failing at the transport level")
        return response

    def wait(self, task_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.max_wait
        while True:
            response = self._get(f"{self.base_url}/api/v1/tasks/{task_id}")
            document = response.json()
            if response.status_code != 200:
                raise ModellixError(response.status_code, document.get("message", ""))
            data: dict[str, Any] = document["data"]
            if data["task_id"] != task_id:
                raise ModellixError(200, f"asked for {task_id}, got {data['task_id']}")
            if data["status"] in DONE:
                return data
            if data["status"] in FAILED:
                raise TaskFailed(task_id, str(data.get("error_message", "")))
            if time.monotonic() > deadline:
                raise TimeoutError(f"task {task_id} still {data['status']} after {self.max_wait} s")
            self.sleep(self.poll_interval)

    def download(self, url: str) -> bytes:
        if not url.startswith(("http://", "https://")):
            raise ModellixError(200, f"refusing a non-http result URL: {url}")
        response = self._get(url)
        if response.status_code != 200:
            raise ModellixError(response.status_code, response.text[:200])
        return response.content

    def lip_sync(self, video_url: str, audio_url: str | None = None) -> bytes:
        task_id = self.submit(video_url, audio_url)
        data = self.wait(task_id)
        return self.download(data["result"]["resources"][0]["url"])
