"""Record a client's session through the recording proxy, then check the mock against it.

Here a second mock stands in for the real service, so the example runs offline; point
`upstream` at `https://api.modellix.ai` to record the real thing."""

from __future__ import annotations

from pathlib import Path

import httpx

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.proxy.cassette import CassetteInfo, CassetteWriter, read_cassette
from vidu_lipsync_mock.proxy.drift import render, replay_cassette
from vidu_lipsync_mock.proxy.record import RecordingProxy
from vidu_lipsync_mock.server import ServerThread


def test_record_then_check_for_drift(tmp_path: Path) -> None:
    upstream = LipSyncMock(clock="manual")
    cassette = tmp_path / "session.jsonl"
    writer = CassetteWriter(cassette, CassetteInfo(source="recording", upstream="(a mock)"))
    proxy = ServerThread(RecordingProxy(upstream.start(), writer))
    try:
        with httpx.Client(base_url=proxy.start(), headers=upstream.auth_headers) as client:
            submitted = client.post(
                "/api/v1/vidu/lip-sync/async", json={"video_url": "https://e.com/in.mp4"}
            )
            upstream.advance(10)
            polled = client.get(submitted.json()["data"]["get_result"]["url"])
            assert polled.json()["data"]["status"] == "success"
    finally:
        proxy.stop()
        upstream.stop()
        writer.close()

    assert upstream.api_key not in cassette.read_text()  # keys never reach a cassette
    info, exchanges = read_cassette(cassette)
    assert [e.route for e in exchanges] == ["submit", "poll"]
    assert render(replay_cassette(info, exchanges)) == "no drift"
