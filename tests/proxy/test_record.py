"""The recording proxy over real sockets: clients get the upstream's own answers, and the
cassette keeps every exchange, without a key or a signed link, before the client has it."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.proxy.cassette import (
    CassetteError,
    CassetteInfo,
    CassetteWriter,
    read_cassette,
)

SUBMIT = "/api/v1/vidu/lip-sync/async"
BODY = {"video_url": "https://example.com/talk.mp4"}

Record = Callable[..., tuple[str, Path]]


def _lines(cassette: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in cassette.read_text().splitlines()[1:]]


def test_the_client_gets_the_upstreams_answer_and_polls_through_the_proxy(
    upstream: LipSyncMock, record: Record
) -> None:
    proxy, cassette = record(upstream.url)
    with httpx.Client(base_url=proxy, headers=upstream.auth_headers) as client:
        submitted = client.post(SUBMIT, json=BODY)
        task_id = submitted.json()["data"]["task_id"]
        url = submitted.json()["data"]["get_result"]["url"]
        assert url == f"{proxy}/api/v1/tasks/{task_id}"  # the poll comes back through us
        upstream.advance(10)
        polled = client.get(url)
    assert submitted.status_code == 200
    assert upstream.task(task_id).status.value == "success"
    assert polled.json()["data"]["status"] == "success"
    resource = polled.json()["data"]["result"]["resources"][0]["url"]
    assert resource.startswith(proxy)
    kept = _lines(cassette)
    assert [(e["route"], e["status"]) for e in kept] == [("submit", 200), ("poll", 200)]
    # The cassette keeps the upstream's answer as it came, with the upstream's origin.
    assert json.loads(str(kept[0]["response_body"]))["data"]["get_result"]["url"].startswith(
        upstream.url
    )
    assert kept[0]["task_id"] == task_id


def test_the_cassette_holds_no_key_and_no_signed_query(
    upstream: LipSyncMock, record: Record
) -> None:
    proxy, cassette = record(upstream.url)
    signed = "https://cdn.example.com/v.mp4?X-Amz-Signature=abc123&Expires=99&quality=hd"
    with httpx.Client(base_url=proxy, headers=upstream.auth_headers) as client:
        client.post(SUBMIT, json={"video_url": signed})
        client.get(f"/api/v1/models?page=1&token=secret-token&key={upstream.api_key}")
        client.get("/api/v1/team/balance", headers={"X-Api-Key": upstream.api_key})
    text = cassette.read_text()
    assert upstream.api_key not in text
    assert "abc123" not in text
    assert "secret-token" not in text
    assert "Expires" not in text
    kept = _lines(cassette)
    assert json.loads(str(kept[0]["request_body"]))["video_url"].endswith("v.mp4?quality=hd")
    assert kept[1]["query"] == "page=1"
    assert kept[0]["api_key"] == upstream.api_key[:9] + "…" + upstream.api_key[-4:]


def test_upstream_errors_reach_the_client_as_they_came(
    upstream: LipSyncMock, record: Record
) -> None:
    proxy, cassette = record(upstream.url)
    with httpx.Client(base_url=proxy) as client:
        refused = client.get("/api/v1/team/balance", headers={"Authorization": "Bearer nope"})
        failed = client.get(
            "/api/v1/team/balance",
            headers={**upstream.auth_headers, "X-Mock-Fault": "error; status=503"},
        )
    assert refused.status_code == 401
    assert refused.json() == {"code": 401, "message": "Authentication failed: invalid API key"}
    assert failed.status_code == 503
    assert failed.json()["code"] == 503
    assert [e["status"] for e in _lines(cassette)] == [401, 503]


def test_each_exchange_is_in_the_cassette_when_the_client_has_its_answer(
    upstream: LipSyncMock, record: Record
) -> None:
    proxy, cassette = record(upstream.url)
    with httpx.Client(base_url=proxy, headers=upstream.auth_headers) as client:
        for count in range(1, 4):
            client.get("/api/v1/apikey/validate")
            assert len(_lines(cassette)) == count


def test_downloads_stream_through_with_their_ranges(upstream: LipSyncMock, record: Record) -> None:
    proxy, _ = record(upstream.url)
    with httpx.Client(base_url=proxy, headers=upstream.auth_headers) as client:
        task_id = client.post(SUBMIT, json=BODY).json()["data"]["task_id"]
        upstream.advance(10)
        resource = client.get(f"/api/v1/tasks/{task_id}").json()["data"]["result"]["resources"][0]
        ranged = client.get(resource["url"], headers={"Range": "bytes=0-99"})
        direct = httpx.get(
            resource["url"].replace(proxy, upstream.url), headers={"Range": "bytes=0-99"}
        )
    assert ranged.status_code == 206
    assert ranged.headers["content-range"] == direct.headers["content-range"]
    assert ranged.content == direct.content
    assert len(ranged.content) == 100


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_upstream_is_a_502_in_the_envelope(record: Record) -> None:
    proxy, cassette = record(f"http://127.0.0.1:{_closed_port()}")
    answer = httpx.get(f"{proxy}/api/v1/models")
    assert answer.status_code == 502
    assert answer.json()["code"] == 502
    assert answer.json()["message"].startswith("Bad gateway:")
    assert _lines(cassette)[0]["outcome"] == "upstream_unreachable"


def test_a_slow_upstream_is_a_504(upstream: LipSyncMock, record: Record) -> None:
    proxy, cassette = record(upstream.url, timeout=0.2)
    slow = {**upstream.auth_headers, "X-Mock-Fault": "latency; seconds=3"}
    # real-time: the proxy's own timeout, 0.2 s, is what is under test
    answer = httpx.get(f"{proxy}/api/v1/models", headers=slow, timeout=10)
    assert answer.status_code == 504
    assert answer.json()["message"].startswith("Gateway timeout:")
    assert _lines(cassette)[0]["outcome"] == "upstream_timeout"


def test_a_body_over_the_bound_is_refused_413(upstream: LipSyncMock, record: Record) -> None:
    proxy, cassette = record(upstream.url, max_body_bytes=1000)
    answer = httpx.post(f"{proxy}{SUBMIT}", content=b"x" * 5000, headers=upstream.auth_headers)
    assert answer.status_code == 413
    assert answer.json()["code"] == 413
    assert upstream.journal.count() == 0  # never forwarded
    assert _lines(cassette)[0]["status"] == 413


def test_a_writer_refuses_to_append_to_a_file_that_is_not_a_cassette(tmp_path: Path) -> None:
    notes = tmp_path / "notes.jsonl"
    notes.write_text('{"hello": "world"}\n')
    with pytest.raises(CassetteError, match="not a cassette header"):
        CassetteWriter(notes, CassetteInfo(source="recording"))
    assert notes.read_text() == '{"hello": "world"}\n'


def test_a_writer_appends_to_an_existing_cassette(upstream: LipSyncMock, tmp_path: Path) -> None:
    cassette = tmp_path / "c.jsonl"
    CassetteWriter(cassette, CassetteInfo(source="recording")).close()
    CassetteWriter(cassette, CassetteInfo(source="recording")).close()
    info, entries = read_cassette(cassette)
    assert info.source == "recording"
    assert entries == []
    assert cassette.read_text().count('"cassette"') == 1
