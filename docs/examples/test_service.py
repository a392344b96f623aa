"""The service around the model calls: balances and 402, uploads, the catalogue, teams."""

from __future__ import annotations

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.service.keys import make_api_key

SUBMIT = "/api/v1/vidu/lip-sync/async"
BODY = {"video_url": "https://example.com/a.mp4"}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(60)


def test_a_team_pays_for_successes_only(
    lipsync_mock: LipSyncMock, lipsync_client: httpx.Client
) -> None:
    assert lipsync_client.get("/api/v1/team/balance").json()["data"]["balance"] == 1_000_000.0
    task_id = lipsync_client.post(SUBMIT, json=BODY).json()["data"]["task_id"]
    lipsync_mock.run_until_terminal(task_id)
    assert lipsync_mock.balance(lipsync_mock.api_key) == 999_999.76  # billing_amount 0.2400

    lipsync_mock.set_balance(lipsync_mock.api_key, 0)  # by key here; by fingerprint over HTTP
    refused = lipsync_client.post(SUBMIT, json=BODY)
    assert refused.status_code == 402
    assert len(lipsync_mock.tasks()) == 1  # the refused submit created nothing


def test_upload_a_file_and_submit_its_url(lipsync_client: httpx.Client) -> None:
    uploaded = lipsync_client.post(
        "/api/v1/media/files", files={"file": ("face.png", PNG, "image/png")}
    )
    record = uploaded.json()["data"]
    assert (record["type"], record["filename"], record["size"]) == ("image/png", "face.png", 68)
    assert lipsync_client.get(record["url"]).content == PNG  # no key needed, like a CDN link

    body = {**BODY, "reference_face_image_url": record["url"]}
    assert lipsync_client.post(SUBMIT, json=body).status_code == 200
    deleted = lipsync_client.delete(f"/api/v1/media/files/{record['file_id']}")
    assert (deleted.status_code, deleted.content) == (204, b"")


def test_the_catalogue(lipsync_client: httpx.Client) -> None:
    listing = lipsync_client.get("/api/v1/models").json()
    assert [m["slug"] for m in listing["models"]] == ["vidu/lip-sync"]
    assert lipsync_client.get("/api/v1/models?page=0").status_code == 400


ALICE, BOB = make_api_key("alice"), make_api_key("bob")


@pytest.mark.lipsync(teams={"studio": [ALICE, BOB]})
def test_keys_of_a_team_share_tasks_and_strangers_get_404(
    lipsync_client: httpx.Client,
) -> None:
    submitted = lipsync_client.post(SUBMIT, json=BODY, headers={"Authorization": f"Bearer {ALICE}"})
    task_url = f"/api/v1/tasks/{submitted.json()['data']['task_id']}"
    teammate = lipsync_client.get(task_url, headers={"Authorization": f"Bearer {BOB}"})
    assert teammate.status_code == 200
    stranger = make_api_key("stranger")
    assert (
        lipsync_client.get(task_url, headers={"Authorization": f"Bearer {stranger}"}).status_code
        == 404
    )
