"""The same client with the two retry bugs that cost real money and real bans.

1. `submit` retries on a timeout or 5xx: if the first submit did create a task, the
   customer pays twice.
2. GETs ignore `Retry-After` and hammer the service every half second.

Its test suite (`test_buggy_client.py`) is meant to FAIL, with the auditor's findings.
"""

from __future__ import annotations

from typing import Any

import httpx
from modellix_client import LipSyncClient, ModellixError


class BuggyLipSyncClient(LipSyncClient):
    def submit(self, video_url: str, audio_url: str | None = None) -> str:
        body: dict[str, Any] = {"video_url": video_url}
        for _ in range(3):  # BUG: a paid POST repeated after an ambiguous failure
            try:
                response = self.http.post(
                    f"{self.base_url}/api/v1/vidu/lip-sync/async", json=body, headers=self.headers
                )
            except httpx.TransportError:
                continue
            if response.status_code >= 500:
                continue
            if response.status_code != 200:
                raise ModellixError(response.status_code, response.json().get("message", ""))
            task_id: str = response.json()["data"]["task_id"]
            return task_id
        raise ModellixError(0, "submit kept failing")

    def _get(self, url: str) -> httpx.Response:
        for _ in range(6):
            response = self.http.get(url, headers=self.headers)
            if response.status_code not in (429, 500, 502, 503, 504):
                return response
            self.sleep(0.5)  # BUG: ignores Retry-After and never backs off
        return response
