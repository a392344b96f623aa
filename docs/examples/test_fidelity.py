"""The fidelity table, executed: what matches the provider, and what is the mock's choice."""

from __future__ import annotations

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock

BODY = {"video_url": "https://example.com/a.mp4"}


@pytest.mark.parametrize("path", ["/api/v1/vidu/lip-sync/async", "/api/v1/vidu/lip-sync"])
def test_both_submit_paths_and_the_envelope(lipsync_client: httpx.Client, path: str) -> None:
    body = lipsync_client.post(path, json=BODY).json()
    assert body["code"] == 0
    assert body["message"] == "success"
    assert body["data"]["model_id"] == "vidu/lip-sync"
    assert body["data"]["get_result"] == {
        "method": "GET",
        "url": f"http://lipsync.test/api/v1/tasks/{body['data']['task_id']}",
    }


def test_get_result_points_back_at_the_host_the_client_used(lipsync_live: LipSyncMock) -> None:
    port = lipsync_live.url.rsplit(":", 1)[1]
    with httpx.Client(
        base_url=f"http://localhost:{port}", headers=lipsync_live.auth_headers
    ) as http:
        data = http.post("/api/v1/vidu/lip-sync/async", json=BODY).json()["data"]
    assert data["get_result"]["url"].startswith(f"http://localhost:{port}/api/v1/tasks/task-")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Invalid parameters: parameter 'video_url' is required"),
        ({"video_url": 5}, "Invalid format: parameter 'video_url' must be a string"),
        (
            {"video_url": ""},
            "Value out of range: parameter 'video_url' must be at least 1 character long",
        ),
    ],
)
def test_validation_messages(lipsync_client: httpx.Client, body: object, message: str) -> None:
    response = lipsync_client.post("/api/v1/vidu/lip-sync/async", json=body)
    assert response.json() == {"code": 400, "message": message}


def test_our_choices(lipsync_client: httpx.Client) -> None:
    submit = "/api/v1/vidu/lip-sync/async"
    extra = lipsync_client.post(submit, json={**BODY, "resolution": "4k"})
    assert extra.status_code == 200  # the schema has no additionalProperties: accepted
    text = lipsync_client.post(
        submit, content=b'{"video_url": "x"}', headers={"Content-Type": "text/plain"}
    )
    assert text.json() == {
        "code": 415,
        "message": "Unsupported media type: Content-Type must be application/json, got text/plain",
    }
    short_key = lipsync_client.get(
        "/api/v1/tasks/task-x", headers={"Authorization": "Bearer mdlx-test"}
    )
    assert short_key.status_code == 401  # keys are mdlx- and 32 to 64 letters or digits
    several = lipsync_client.get("/media/result.mp4", headers={"Range": "bytes=0-1,5-9"})
    assert several.status_code == 200  # several ranges: the whole file
    one = lipsync_client.get("/media/result.mp4", headers={"Range": "bytes=0-1"})
    assert (one.status_code, one.headers["Content-Range"]) == (
        206,
        f"bytes 0-1/{len(several.content)}",
    )
