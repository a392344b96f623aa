"""requests against the live server, with the retry policy the provider recommends for GET
(retry 429/500/502/503/504, honour Retry-After) and none for the paid POST."""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from vidu_lipsync_mock import LipSyncMock

BODY = {"video_url": "https://example.com/a.mp4"}


def session_for(api_key: str) -> requests.Session:
    retry = Retry(
        total=3,
        backoff_factor=0,  # keep the example fast; use 1 (1 s, 2 s, 4 s) in real code
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),  # never resubmit a paid POST
        respect_retry_after_header=False,  # the mock asks for real seconds; see the note
    )
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {api_key}"
    session.mount("http://", HTTPAdapter(max_retries=retry))
    return session


def test_requests_with_get_retries(lipsync_live: LipSyncMock, lipsync_url: str) -> None:
    lipsync_live.add_fault("error", status=503, route="poll", times=2)
    with session_for(lipsync_live.api_key) as http:
        task = http.post(f"{lipsync_url}/api/v1/vidu/lip-sync/async", json=BODY, timeout=5)
        poll_url = task.json()["data"]["get_result"]["url"]
        lipsync_live.run_until_terminal()

        data = http.get(poll_url, timeout=5).json()["data"]  # two 503s, retried

        assert data["status"] == "success"
        assert [e.status for e in lipsync_live.journal.entries(route="poll")] == [503, 503, 200]
