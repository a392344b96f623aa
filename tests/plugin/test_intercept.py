"""`lipsync_intercept`: code that calls the provider's real origin with httpx or requests,
configured as in production, is answered by the in-process mock — faults raised as each
library's own exceptions, other hosts refused (or let through when asked)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import requests

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.pytest_plugin.intercept import RefusedRequest

ORIGIN = "https://api.modellix.ai"
SUBMIT = f"{ORIGIN}/api/v1/vidu/lip-sync/async"
BODY = {"video_url": "https://v.example/in.mp4", "audio_url": "https://v.example/in.mp3"}


def test_httpx_sync_client_with_production_settings_reaches_the_mock(
    lipsync_intercept: LipSyncMock,
) -> None:
    mock = lipsync_intercept
    transport = httpx.HTTPTransport(retries=2)  # a client's own transport settings stay
    with httpx.Client(base_url=ORIGIN, transport=transport, timeout=30) as http:
        submitted = http.post("/api/v1/vidu/lip-sync/async", json=BODY, headers=mock.auth_headers)
        assert submitted.status_code == 200
        poll_url = submitted.json()["data"]["get_result"]["url"]
        assert poll_url.startswith(f"{ORIGIN}/api/v1/tasks/task-")
        mock.run_until_terminal()
        data = http.get(poll_url, headers=mock.auth_headers).json()["data"]
        assert data["status"] == "success"
        video = data["result"]["resources"][0]["url"]
        assert video.startswith(ORIGIN)
        with http.stream("GET", video) as streamed:  # a streaming download, in chunks
            chunks = list(streamed.iter_bytes(chunk_size=4096))
        whole = b"".join(chunks)
        assert len(chunks) > 1
        assert whole[4:8] == b"ftyp"
        part = http.get(video, headers={"Range": "bytes=0-99"})
        assert (part.status_code, part.content) == (206, whole[:100])
    assert [e.route for e in mock.journal.entries()] == ["submit", "poll", "download", "download"]


def test_httpx_async_client_reaches_the_mock(lipsync_intercept: LipSyncMock) -> None:
    mock = lipsync_intercept

    async def client_code() -> str:
        async with httpx.AsyncClient(headers=mock.auth_headers) as http:
            task = (await http.post(SUBMIT, json=BODY)).json()["data"]
            mock.force(task["task_id"], "failed", "no face found")
            polled = await http.get(task["get_result"]["url"])
            return str(polled.json()["data"]["status"])

    assert asyncio.run(client_code()) == "failed"
    assert mock.journal.count(route="poll") == 1


def test_requests_session_reaches_the_mock_with_streaming_and_ranges(
    lipsync_intercept: LipSyncMock,
) -> None:
    mock = lipsync_intercept
    with requests.Session() as http:
        http.headers.update(mock.auth_headers)
        task = http.post(SUBMIT, json=BODY, timeout=30).json()["data"]
        mock.run_until_terminal()
        data = http.get(task["get_result"]["url"], timeout=30).json()["data"]
        video = data["result"]["resources"][0]["url"]
        with http.get(video, stream=True, timeout=30) as streamed:
            whole = b"".join(streamed.iter_content(chunk_size=4096))
        assert streamed.headers["Content-Type"] == "video/mp4"
        assert whole[4:8] == b"ftyp"
        part = http.get(video, headers={"Range": "bytes=10-19"}, timeout=30)
        assert (part.status_code, part.content) == (206, whole[10:20])
        balance = http.get(f"{ORIGIN}/api/v1/team/balance", timeout=30)
        assert balance.json()["data"]["balance"] == mock.balance(mock.api_key)
    assert mock.journal.count(route="submit") == 1


def test_an_upload_by_requests_is_the_mock_s_file(lipsync_intercept: LipSyncMock) -> None:
    mock = lipsync_intercept
    sent = requests.post(
        f"{ORIGIN}/api/v1/media/files",
        files={"file": ("face.jpg", b"\xff\xd8\xff" + b"0" * 64, "image/jpeg")},
        headers=mock.auth_headers,
        timeout=30,
    )
    assert sent.status_code == 200
    url = sent.json()["data"]["url"]
    assert url.startswith(ORIGIN)
    assert requests.get(url, timeout=30).content == b"\xff\xd8\xff" + b"0" * 64


@pytest.mark.parametrize(
    ("kind", "httpx_error", "requests_error"),
    [
        ("reset", httpx.ReadError, requests.ConnectionError),
        ("hang", httpx.ReadTimeout, requests.ReadTimeout),
        ("close_mid_body", httpx.RemoteProtocolError, requests.exceptions.ChunkedEncodingError),
    ],
)
def test_transport_faults_are_each_library_s_own_exceptions(
    lipsync_intercept: LipSyncMock,
    kind: str,
    httpx_error: type[Exception],
    requests_error: type[Exception],
) -> None:
    mock = lipsync_intercept
    mock.add_fault(kind, route="balance", times=3)
    url = f"{ORIGIN}/api/v1/team/balance"
    with pytest.raises(httpx_error) as raised:
        httpx.get(url, headers=mock.auth_headers)
    assert raised.value.request.url == url  # type: ignore[attr-defined]
    with pytest.raises(requests_error):
        requests.get(url, headers=mock.auth_headers, timeout=30)

    async def async_call() -> None:
        async with httpx.AsyncClient() as http:
            await http.get(url, headers=mock.auth_headers)

    with pytest.raises(httpx_error):
        asyncio.run(async_call())
    assert [e.fault for e in mock.journal.entries()] == [kind] * 3


def test_other_hosts_are_refused_naming_the_url(lipsync_intercept: LipSyncMock) -> None:
    with pytest.raises(RefusedRequest, match=r"GET https://example\.com/x.*internet"):
        httpx.get("https://example.com/x")
    with pytest.raises(RefusedRequest, match=r"POST https://example\.com/y"):
        requests.post("https://example.com/y", json={}, timeout=5)
    # Not a transport error a client would retry or swallow.
    assert not issubclass(RefusedRequest, (httpx.HTTPError, requests.RequestException))
    with pytest.raises(RefusedRequest):
        httpx.get("http://api.modellix.ai/api/v1/models")  # the origin is https only
    assert len(lipsync_intercept.journal) == 0


def test_the_mock_s_admin_paths_are_not_the_provider_s(lipsync_intercept: LipSyncMock) -> None:
    answer = httpx.post(f"{ORIGIN}/_mock/reset")
    assert answer.status_code == 404
    assert answer.json()["code"] == 404


@pytest.mark.lipsync(intercept_origins=["https://cdn.example.test:8443"])
def test_more_origins_are_routed_to_the_mock(lipsync_intercept: LipSyncMock) -> None:
    answer = requests.get("https://cdn.example.test:8443/media/face.jpg", timeout=5)
    assert answer.status_code == 200
    assert httpx.get("https://cdn.example.test:8443/media/face.jpg").content == answer.content
    with pytest.raises(RefusedRequest):
        httpx.get("https://cdn.example.test/media/face.jpg")  # another port, another origin


@pytest.mark.lipsync(public_base_url="https://files.example.test")
def test_the_public_base_url_the_mock_hands_out_is_intercepted(
    lipsync_intercept: LipSyncMock,
) -> None:
    mock = lipsync_intercept
    task = httpx.post(SUBMIT, json=BODY, headers=mock.auth_headers).json()["data"]
    assert task["get_result"]["url"].startswith("https://files.example.test/")
    assert httpx.get(task["get_result"]["url"], headers=mock.auth_headers).status_code == 200


@pytest.mark.lipsync(intercept_passthrough=True)
def test_passthrough_lets_other_hosts_through(
    lipsync_intercept: LipSyncMock, lipsync_server: LipSyncMock
) -> None:
    live = f"{lipsync_server.url}/api/v1/models"  # a real socket on 127.0.0.1
    assert httpx.get(live, headers=lipsync_intercept.auth_headers).status_code == 200
    assert requests.get(live, headers=lipsync_intercept.auth_headers, timeout=10).ok
    assert httpx.get(f"{ORIGIN}/api/v1/models").status_code == 401  # still the mock
    assert lipsync_intercept.journal.count(route="models") == 1


def test_a_sync_client_inside_a_running_event_loop(lipsync_intercept: LipSyncMock) -> None:
    async def sync_call_in_async_code() -> int:
        return httpx.get(f"{ORIGIN}/api/v1/models").status_code

    assert asyncio.run(sync_call_in_async_code()) == 401


def test_without_the_extra_the_fixture_names_the_install_command(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest("import sys\nsys.modules['responses'] = None  # as if not installed\n")
    pytester.makepyfile("def test_intercepted(lipsync_intercept):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*lipsync_intercept needs responses (the `intercept` extra): pip install*[[]intercept]*"]
    )


def test_a_malformed_origin_list_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.lipsync(intercept_origins="https://cdn.example.com")
        def test_one(lipsync_intercept):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*intercept_origins=...) takes a list of origins*"])
    assert result.ret != 0


@pytest.mark.lipsync(progression="polls", faults=[{"fault": "error", "status": 503, "times": 1}])
def test_it_is_lipsync_mock_with_the_marker_s_settings(
    lipsync_intercept: LipSyncMock, lipsync_mock: LipSyncMock
) -> None:
    assert lipsync_intercept is lipsync_mock
    assert lipsync_intercept.config.progression == "polls"
    assert httpx.get(f"{ORIGIN}/api/v1/models").status_code == 503
