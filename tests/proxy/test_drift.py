"""The drift check: what a recording of the real service, or the service itself, says
against what a fresh mock says to the same requests. A second mock stands in for the
service; `reworded` wraps one that has drifted, and every one of its changes must show."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from starlette.types import ASGIApp

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.cli import main
from vidu_lipsync_mock.proxy.cassette import read_cassette
from vidu_lipsync_mock.proxy.compare import Answer, differences
from vidu_lipsync_mock.proxy.drift import replay_cassette
from vidu_lipsync_mock.proxy.probe import run_probe
from vidu_lipsync_mock.service.keys import make_api_key

REPO = Path(__file__).resolve().parents[2]
DOCS_CASSETTE = REPO / "fixtures" / "cassettes" / "provider-docs.jsonl"
SUBMIT = "/api/v1/vidu/lip-sync/async"
#: The "service"'s one account: like the real one, it refuses every other key.
KEY = make_api_key("theservice")

Record = Callable[..., tuple[str, Path]]


def _session(base_url: str, mock: LipSyncMock) -> None:
    """What a client does in a day: submit, poll to the end, and the usual mistakes."""
    with httpx.Client(base_url=base_url, headers=mock.auth_headers) as client:
        task_id = client.post(SUBMIT, json={"video_url": "https://e.com/v.mp4"}).json()["data"][
            "task_id"
        ]
        client.get(f"/api/v1/tasks/{task_id}")
        mock.advance(1.5)
        client.get(f"/api/v1/tasks/{task_id}")
        mock.advance(10)
        client.get(f"/api/v1/tasks/{task_id}")
        client.get("/api/v1/tasks/task-unknown0000000000000000")
        client.post(SUBMIT, json={})
        client.post(SUBMIT, content=b"{oops", headers={"Content-Type": "application/json"})
        client.get("/api/v1/team/balance", headers={"Authorization": "Bearer mdlx-short"})
        client.get("/api/v1/tasks/x", headers={"X-Mock-Fault": "error; status=429"})
        for path in ("/api/v1/apikey/validate", "/api/v1/team/balance", "/api/v1/models"):
            client.get(path)


def test_a_recording_of_a_mock_replays_without_drift(
    upstream: LipSyncMock, record: Record, capsys: pytest.CaptureFixture[str]
) -> None:
    proxy, cassette = record(upstream.url)
    _session(proxy, upstream)
    assert len(read_cassette(cassette)[1]) == 12
    assert main(["drift", "--cassette", str(cassette)]) == 0
    assert capsys.readouterr().out.strip() == "no drift"


def test_every_change_of_a_drifted_service_is_reported(
    record: Record,
    serve_app: Callable[[ASGIApp], str],
    reworded: Callable[[ASGIApp], ASGIApp],
    capsys: pytest.CaptureFixture[str],
) -> None:
    drifted = LipSyncMock(clock="manual")
    proxy, cassette = record(serve_app(reworded(drifted.app)))
    _session(proxy, drifted)
    found = replay_cassette(*read_cassette(cassette))
    seen = {(d.aspect, d.upstream, d.mock) for d in found}
    assert ("field data.model_id", "missing", "string") in seen  # a field missing
    assert ("status", "400", "404") in seen  # a status changed
    assert ("message category", "Unauthorized", "Authentication failed") in seen  # reworded
    assert all(d.drift for d in found)
    assert {d.where.split(" ", 1)[1] for d in found} == {
        "GET /api/v1/tasks/{id}",
        "GET /api/v1/team/balance",
    }
    assert main(["drift", "--cassette", str(cassette)]) == 1
    assert "difference(s)" in capsys.readouterr().out


def test_an_upload_too_large_for_the_cassette_is_replayed_with_a_sample(
    upstream: LipSyncMock, record: Record
) -> None:
    proxy, cassette = record(upstream.url)
    with httpx.Client(base_url=proxy, headers=upstream.auth_headers) as client:
        video = client.get("/media/input-video.mp4").content
        padded = video + bytes(200_000)  # past what a cassette keeps of a body
        uploaded = client.post(
            "/api/v1/media/files", files={"file": ("talk.mp4", padded, "video/mp4")}
        )
        url = uploaded.json()["data"]["url"]
        client.post(SUBMIT, json={"video_url": url})
        client.delete(f"/api/v1/media/files/{uploaded.json()['data']['file_id']}")
    info, entries = read_cassette(cassette)
    assert [e.status for e in entries] == [200, 200, 200, 204]
    assert len(entries[1].request_body or "") <= 64 * 1024
    assert replay_cassette(info, entries) == []


def test_the_shipped_cassette_of_the_providers_examples_has_no_drift(
    capsys: pytest.CaptureFixture[str],
) -> None:
    info, entries = read_cassette(DOCS_CASSETTE)
    assert not info.complete  # written from documentation: names only what the docs name
    assert {e.status for e in entries} >= {200, 400, 401, 404, 429, 500, 503}
    assert main(["drift", "--cassette", str(DOCS_CASSETTE)]) == 0
    assert capsys.readouterr().out.startswith("no drift")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty, not a cassette"),
        ("not json\n", "line 1 is not JSON"),
        ('{"seq": 1}\n', "not a cassette header"),
        ('{"cassette": 2, "source": "x"}\n', "not a cassette header"),
        ('{"cassette": 1, "source": "x"}\n{"seq": 1, "method": "GET"}\n', "line 2: missing"),
        ('{"cassette": 1, "source": "x"}\n[1]\n', "line 2: an exchange must be"),
        (
            '{"cassette": 1, "source": "x"}\n{"seq":1,"method":"GET","path":"/","status":200,'
            '"colour":"red"}\n',
            "unknown field(s) colour",
        ),
    ],
)
def test_a_damaged_cassette_is_one_clear_error_and_left_as_it_was(
    tmp_path: Path, text: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cassette = tmp_path / "damaged.jsonl"
    cassette.write_text(text)
    assert main(["drift", "--cassette", str(cassette)]) == 2
    assert problem in capsys.readouterr().err
    assert cassette.read_text() == text


def test_the_live_probe_finds_no_drift_against_a_second_mock() -> None:
    service = LipSyncMock(clock="manual", progression="polls", api_keys=[KEY])
    try:
        body = json.dumps({"video_url": "https://e.com/v.mp4"}).encode()
        found = run_probe(service.start(), KEY, allow_paid=True, submit_body=body, poll_interval=0)
    finally:
        service.stop()
    assert found == []
    assert [t.status.value for t in service.tasks()] == ["success"]  # the paid submit ran


def test_the_live_probe_submits_nothing_unless_paid_is_allowed() -> None:
    service = LipSyncMock(clock="manual", api_keys=[KEY])
    try:
        assert run_probe(service.start(), KEY) == []
    finally:
        service.stop()
    assert service.tasks() == []
    assert {e.route for e in service.journal} == {"validate", "balance", "models", "poll", "submit"}


def test_the_live_probe_reports_a_drifted_service(
    serve_app: Callable[[ASGIApp], str],
    reworded: Callable[[ASGIApp], ASGIApp],
    capsys: pytest.CaptureFixture[str],
) -> None:
    drifted = LipSyncMock(clock="manual", progression="polls", api_keys=[KEY])
    url = serve_app(reworded(drifted.app))
    code = main(
        ["drift", "--upstream", url, "--api-key", KEY, "--allow-paid",
         "--video-url", "https://e.com/v.mp4", "--poll-interval", "0", "--json"]
    )  # fmt: skip
    found = {
        (d["where"], d["aspect"], d["upstream"], d["mock"])
        for d in json.loads(capsys.readouterr().out)
    }
    assert code == 1
    assert ("unknown task", "status", "400", "404") in found
    assert ("wrong key", "message category", "Unauthorized", "Authentication failed") in found
    assert ("poll (success)", "field data.model_id", "missing", "string") in found


def test_the_probe_needs_a_key_and_inputs_for_a_paid_submit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MODELLIX_API_KEY", raising=False)
    assert main(["drift", "--upstream", "http://127.0.0.1:9"]) == 2
    assert "needs a key" in capsys.readouterr().err
    assert (
        main(["drift", "--upstream", "http://127.0.0.1:9", "--api-key", "k", "--allow-paid"]) == 2
    )
    assert "--video-url" in capsys.readouterr().err


def _answer(status: int, body: object, **headers: str) -> Answer:
    return Answer(status, {"content-type": "application/json", **headers}, json.dumps(body))


def test_values_may_differ_but_types_names_categories_and_header_forms_may_not() -> None:
    upstream = _answer(
        200,
        {"code": 0, "message": "success", "data": {"id": "a", "n": 1, "items": [{"w": 1}]}},
        **{"x-ratelimit-remaining": "5"},
    )
    same_form = _answer(
        200,
        {"code": 0, "message": "success", "data": {"id": "b", "n": 2.5, "items": [{"w": 9}]}},
        **{"x-ratelimit-remaining": "99"},
    )
    assert differences("x", upstream, same_form) == []
    changed = _answer(
        200,
        {"code": 0, "message": "success", "data": {"id": 1, "items": [{"w": "1"}], "new": True}},
        **{"x-ratelimit-remaining": "soon"},
    )
    assert {(d.aspect, d.upstream, d.mock) for d in differences("x", upstream, changed)} == {
        ("field data.id", "string", "number"),
        ("field data.n", "number", "missing"),
        ("field data.items[].w", "number", "string"),
        ("field data.new", "missing", "boolean"),
        ("header x-ratelimit-remaining", "integer", "text"),
    }


def test_what_only_the_mock_has_is_a_note_against_documentation() -> None:
    upstream = _answer(404, {"code": 404, "message": "Resource not found: gone"})
    ours = _answer(
        404, {"code": 404, "message": "Resource not found: other words", "hint": "x"},
        **{"x-ratelimit-limit": "100"},
    )  # fmt: skip
    against_docs = differences("x", upstream, ours, complete=False)
    assert [(d.aspect, d.drift) for d in against_docs] == [
        ("field hint", False),
        ("header x-ratelimit-limit", False),
    ]
    assert all(d.drift for d in differences("x", upstream, ours, complete=True))
