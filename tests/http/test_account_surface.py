"""The endpoints around the model calls, over HTTP: the key check, the team's balance and
its 402, the model listing, uploads (and every refusal storing nothing), deletes, the
key-less upload links, the model schema, and one team never seeing another's tasks or
files."""

from __future__ import annotations

from typing import Any

import pytest

from vidu_lipsync_mock.service.keys import key_fingerprint, make_api_key, redact

SUBMIT = "/api/v1/vidu/lip-sync/async"
VIDEO = {"video_url": "https://example.com/presenter.mp4"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 60
OTHER_KEY = make_api_key("other-team")


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def key(mock: Any) -> str:
    return str(mock.api_key)


def upload(client: Any, key: str, data: bytes = PNG, name: str = "face.png", **kw: Any) -> Any:
    return client.post(
        "/api/v1/media/files",
        files={"file": (name, data, "image/png")},
        headers=auth(key),
        **kw,
    )


def test_a_key_let_in_is_valid_and_a_bad_one_gets_the_401(client: Any, key: str) -> None:
    ok = client.get("/api/v1/apikey/validate", headers=auth(key))
    assert ok.status_code == 200
    assert ok.json() == {"code": 0, "message": "success", "data": {"is_valid": True}}
    bad = client.get("/api/v1/apikey/validate", headers=auth("nope"))
    assert bad.status_code == 401
    assert bad.json() == {"code": 401, "message": "Authentication failed: invalid API key"}


def test_balance_is_a_number_charged_on_success_only(client: Any, mock: Any, key: str) -> None:
    def balance() -> Any:
        reply = client.get("/api/v1/team/balance", headers=auth(key))
        assert reply.status_code == 200
        return reply.json()["data"]["balance"]

    assert balance() == 1_000_000.0
    assert isinstance(balance(), float)
    task = client.post(SUBMIT, json=VIDEO, headers=auth(key)).json()["data"]["task_id"]
    assert balance() == 999_999.76  # held while it runs
    mock.run_until_terminal(task)
    assert balance() == 999_999.76  # spent
    failing = client.post(SUBMIT, json=VIDEO, headers=auth(key)).json()["data"]["task_id"]
    mock.force(failing, "failed")
    assert balance() == 999_999.76  # a failed task costs nothing


def test_a_submit_without_credit_is_402_and_creates_nothing(
    client: Any, mock: Any, key: str
) -> None:
    mock.set_balance(key_fingerprint(key), "0.1")
    refused = client.post(SUBMIT, json=VIDEO, headers=auth(key))
    assert refused.status_code == 402
    assert refused.json()["message"].startswith("Insufficient balance: ")
    assert mock.tasks() == []
    assert mock.balance(key) == 0.1
    other = client.post(SUBMIT, json=VIDEO, headers=auth(OTHER_KEY))
    assert other.status_code == 200  # another team's credit is its own


def test_models_lists_the_catalogue_and_refuses_bad_paging(client: Any, key: str) -> None:
    listed = client.get("/api/v1/models?featured=true", headers=auth(key))
    assert listed.status_code == 200
    models = listed.json()["models"]
    assert [m["slug"] for m in models] == ["vidu/lip-sync"]
    assert all(isinstance(m[field], str) for m in models for field in ("type", "docs_url"))
    empty = client.get("/api/v1/models?type=text-to-image", headers=auth(key))
    assert empty.json()["models"] == []
    bad = client.get("/api/v1/models?page_size=0", headers=auth(key))
    assert bad.status_code == 400
    assert "page_size" in bad.json()["message"]
    assert client.get("/api/v1/models").status_code == 401


def test_an_upload_answers_its_record_and_its_link_serves_the_bytes(
    client: Any, mock: Any, key: str
) -> None:
    reply = upload(client, key)
    assert reply.status_code == 200
    data = reply.json()["data"]
    assert data["file_id"].startswith("file-")
    assert (data["type"], data["filename"], data["size"]) == ("image/png", "face.png", len(PNG))
    assert data["created_at"] == int(mock.now() * 1000)
    path = data["url"].removeprefix("http://testserver")
    served = client.get(path)  # no key, like a CDN link
    assert (served.status_code, served.content) == (200, PNG)
    part = client.get(path, headers={"Range": "bytes=0-7"})
    assert (part.status_code, part.content) == (206, PNG[:8])
    # the link is accepted as an input like any URL
    assert (
        client.post(SUBMIT, json={"video_url": data["url"]}, headers=auth(key)).status_code == 200
    )


@pytest.mark.parametrize(
    ("kwargs", "status", "start"),
    [
        ({"data": PNG, "name": "e.png"}, None, None),
        ({"data": b""}, 400, "Invalid parameters: parameter 'file' is empty"),
        ({"data": b"just text"}, 415, "Unsupported media type: "),
    ],
    ids=["ok", "empty", "unknown-media"],
)
def test_bad_files_are_refused_and_nothing_is_stored(
    client: Any, mock: Any, key: str, kwargs: dict[str, Any], status: int | None, start: str
) -> None:
    reply = upload(client, key, **kwargs)
    if status is None:
        assert reply.status_code == 200
        assert mock.uploads.stats().files == 1
        return
    assert reply.status_code == status
    assert reply.json()["message"].startswith(start)
    assert mock.uploads.stats().files == 0


def test_bad_forms_are_refused_and_nothing_is_stored(client: Any, mock: Any, key: str) -> None:
    no_file = client.post(
        "/api/v1/media/files", files={"other": ("a.png", PNG, "image/png")}, headers=auth(key)
    )
    assert no_file.status_code == 400
    assert no_file.json()["message"] == "Invalid parameters: parameter 'file' is required"
    not_form = client.post("/api/v1/media/files", json={"file": "x"}, headers=auth(key))
    assert not_form.status_code == 415
    assert mock.uploads.stats().files == 0


def test_a_file_over_the_upload_limit_is_413(make_mock: Any, make_client: Any) -> None:
    small = make_mock(max_upload_bytes=100)
    client = make_client(small)
    reply = upload(client, small.api_key, data=PNG + b"\x00" * 100)
    assert reply.status_code == 413
    assert small.uploads.stats().files == 0
    huge = upload(client, small.api_key, data=PNG + b"\x00" * 70_000)  # past the form's room
    assert huge.status_code == 413


def test_the_upload_limit_is_not_the_submit_limit(make_mock: Any, make_client: Any) -> None:
    mock = make_mock(max_body_bytes=1024)
    reply = upload(make_client(mock), mock.api_key, data=PNG + b"\x00" * 4096)
    assert reply.status_code == 200


def test_delete_is_204_for_the_team_and_404_for_anyone_else(client: Any, key: str) -> None:
    file_id = upload(client, key).json()["data"]["file_id"]
    path = f"/api/v1/media/files/{file_id}"
    foreign = client.request("DELETE", path, headers=auth(OTHER_KEY))
    assert foreign.status_code == 404
    gone = client.request("DELETE", path, headers=auth(key))
    assert (gone.status_code, gone.content) == (204, b"")
    assert client.request("DELETE", path, headers=auth(key)).status_code == 404


def test_another_teams_task_is_unknown_unless_sharing_is_on(
    make_mock: Any, make_client: Any
) -> None:
    for share, expected in ((False, 404), (True, 200)):
        mock = make_mock(share_tasks_across_keys=share)
        client = make_client(mock)
        task_id = client.post(SUBMIT, json=VIDEO, headers=auth(mock.api_key)).json()["data"][
            "task_id"
        ]
        foreign = client.get(f"/api/v1/tasks/{task_id}", headers=auth(OTHER_KEY))
        assert foreign.status_code == expected
        if expected == 404:
            unknown = client.get("/api/v1/tasks/task-nope", headers=auth(OTHER_KEY))
            assert foreign.json()["message"] == unknown.json()["message"].replace(
                "task-nope", task_id
            )


def test_keys_of_one_team_share_tasks_and_credit(make_mock: Any, make_client: Any) -> None:
    first, second = make_api_key("one"), make_api_key("two")
    mock = make_mock(teams={"studio": [first, second]})
    client = make_client(mock)
    task_id = client.post(SUBMIT, json=VIDEO, headers=auth(first)).json()["data"]["task_id"]
    assert client.get(f"/api/v1/tasks/{task_id}", headers=auth(second)).status_code == 200
    assert mock.balance(second) == 999_999.76


def test_literal_paths_win_and_405_only_where_a_path_exists(client: Any, key: str) -> None:
    refused = client.post("/api/v1/team/balance", headers=auth(key))
    assert (refused.status_code, refused.headers["allow"]) == (405, "GET, HEAD")
    assert client.get("/api/v1/no-such-thing", headers=auth(key)).status_code == 404
    assert client.get("/api/v1/team/other", headers=auth(key)).status_code == 404


def test_the_schema_is_served_without_a_key_pointing_at_this_mock(client: Any) -> None:
    reply = client.get("/models/vidu/lip-sync/api_schema")
    assert reply.status_code == 200
    document = reply.json()
    assert document["servers"] == [{"url": "http://testserver/api/v1/vidu/lip-sync/async"}]
    assert document["post"]["requestBody"]["content"]["application/json"]["schema"]["required"]
    assert client.get("/models/no/such/api_schema").status_code == 404


def test_health_counts_uploads_and_accounts_for_memory_reports(
    client: Any, mock: Any, key: str
) -> None:
    def health() -> Any:
        return client.get("/_mock/health").json()["data"]

    before = health()
    assert (before["tasks"], before["uploads"]["files"], before["uploads"]["bytes"]) == (0, 0, 0)
    files = {"file": ("face.png", PNG, "image/png")}
    assert client.post("/api/v1/media/files", files=files, headers=auth(key)).status_code == 200
    client.post(SUBMIT, json=VIDEO, headers=auth(key))
    after = health()
    assert (after["tasks"], after["uploads"]["files"], after["uploads"]["bytes"]) == (
        1,
        1,
        len(PNG),
    )
    assert after["accounts"]["holds"] == 1


def test_the_admin_config_never_shows_a_full_key(make_mock: Any, make_client: Any) -> None:
    first, second = make_api_key("one"), make_api_key("two")
    mock = make_mock(
        api_keys=[first, second],
        teams={"studio": [first, second]},
        faults=[{"fault": "error", "status": 503, "api_key": first}],
    )
    shown = make_client(mock).get("/_mock/config").text
    assert first not in shown
    assert second not in shown
    assert shown.count(redact(first)) == 3  # the allow-list, the team, the fault rule
