"""What the provider's official clients rely on (NOTES.md): both submit paths, an absolute
get_result.url that leads back to whoever served the submit, the fields of a finished task,
7-day retention, Range downloads, and the progression policies seen over HTTP."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import httpx
import pytest

SUBMIT_PATH = "/api/v1/vidu/lip-sync/async"
SUBMIT_CLI_PATH = "/api/v1/vidu/lip-sync"
BODY = {"video_url": "https://example.com/v.mp4", "audio_url": "https://example.com/a.mp3"}
RETENTION_MS = 7 * 86_400_000  # the provider: outputs expire after 7 days


def poll(client, mock, task_id: str) -> httpx.Response:
    return client.get(f"/api/v1/tasks/{task_id}", headers=mock.auth_headers)


# --- submit and get_result --------------------------------------------------------------


@pytest.mark.parametrize("path", [SUBMIT_PATH, SUBMIT_CLI_PATH])
def test_both_submit_paths_create_a_pollable_task(client, mock, check, path):
    data = check.success(client.post(path, json=BODY, headers=mock.auth_headers))
    assert data["status"] == "pending"
    assert data["model_id"] == "vidu/lip-sync"
    assert data["task_id"].startswith("task-")
    assert data["get_result"]["method"] == "GET"
    polled = check.success(poll(client, mock, data["task_id"]))
    assert polled["task_id"] == data["task_id"]
    assert mock.task(data["task_id"]).params == BODY


def test_task_ids_are_unique(client, mock, check):
    ids = {
        check.success(client.post(SUBMIT_PATH, json=BODY, headers=mock.auth_headers))["task_id"]
        for _ in range(20)
    }
    assert len(ids) == 20


@pytest.mark.parametrize(
    "base_url", ["http://alpha.test:8080", "https://beta.example", "http://gamma.internal:1234"]
)
def test_get_result_url_points_at_the_host_the_client_used(make_client, mock, check, base_url):
    http = make_client(base_url=base_url)
    data = check.success(http.post(SUBMIT_PATH, json=BODY, headers=mock.auth_headers))
    url = data["get_result"]["url"]
    assert url == f"{base_url}/api/v1/tasks/{data['task_id']}"
    # Following it, as the official clients do, reaches the poll.
    followed = check.success(http.get(url, headers=mock.auth_headers))
    assert followed["task_id"] == data["task_id"]
    mock.run_until_terminal(data["task_id"])
    resource = check.success(http.get(url, headers=mock.auth_headers))["result"]["resources"][0]
    assert resource["url"].startswith(base_url + "/")


def test_get_result_url_follows_the_host_header(make_mock, make_client, check):
    # Names other than the client's own are followed only once allowed (see hosts.py).
    mock = make_mock(allowed_hosts=["one.test", "two.test"])
    client = make_client(mock)
    a = check.success(
        client.post(SUBMIT_PATH, json=BODY, headers={**mock.auth_headers, "Host": "one.test"})
    )
    b = check.success(
        client.post(SUBMIT_PATH, json=BODY, headers={**mock.auth_headers, "Host": "two.test:9000"})
    )
    assert urlsplit(a["get_result"]["url"]).netloc == "one.test"
    assert urlsplit(b["get_result"]["url"]).netloc == "two.test:9000"


@pytest.mark.parametrize("configured", ["https://mock.example", "https://mock.example/"])
def test_public_base_url_wins_over_the_host(make_mock, make_client, check, configured):
    mock = make_mock(public_base_url=configured)
    http = make_client(mock, base_url="http://internal.host:8000")
    data = check.success(http.post(SUBMIT_PATH, json=BODY, headers=mock.auth_headers))
    assert data["get_result"]["url"] == f"https://mock.example/api/v1/tasks/{data['task_id']}"
    mock.run_until_terminal()
    done = check.success(http.get(f"/api/v1/tasks/{data['task_id']}", headers=mock.auth_headers))
    assert done["result"]["resources"][0]["url"] == (
        f"https://mock.example/files/{data['task_id']}/result.mp4"
    )


def test_get_result_url_over_a_real_socket_is_the_served_origin(served, mock, check):
    with httpx.Client(base_url=served) as http:
        data = check.success(http.post(SUBMIT_PATH, json=BODY, headers=mock.auth_headers))
        url = data["get_result"]["url"]
        assert url == f"{served}/api/v1/tasks/{data['task_id']}"
        assert check.success(http.get(url, headers=mock.auth_headers))["task_id"] == data["task_id"]


def test_poll_returns_the_task_asked_for(client, mock, check, submit):
    first, second = submit(), submit()
    mock.force(second, "failed", "second failed")
    for task_id, status in [(first, "pending"), (second, "failed"), (first, "pending")]:
        data = check.success(poll(client, mock, task_id))
        assert (data["task_id"], data["status"]) == (task_id, status)


# --- a finished task ----------------------------------------------------------------------


def test_success_carries_what_clients_read(client, mock, check, submit):
    submitted_at_ms = int(mock.clock.now() * 1000)
    task_id = submit()
    mock.advance(3)  # default timings: 1 s pending + 2 s processing
    data = check.success(poll(client, mock, task_id))
    assert data["status"] == "success"
    assert data["submit_time"] == submitted_at_ms
    assert data["end_time"] == submitted_at_ms + 3000
    assert data["duration"] == data["end_time"] - data["submit_time"] == 3000
    assert data["result_expires_at"] == data["end_time"] + RETENTION_MS
    assert data["billing"] == {"status": "succeeded", "amount": "0.2400"}
    (resource,) = data["result"]["resources"]
    assert resource["type"] == "video"
    assert resource["format"] == "mp4"
    assert resource["width"] > 0
    assert resource["height"] > 0
    parts = urlsplit(resource["url"])
    assert parts.scheme in ("http", "https")
    assert parts.netloc
    download = client.get(resource["url"])
    assert download.status_code == 200
    assert download.headers["content-type"] == "video/mp4"
    assert download.content[4:8] == b"ftyp"


def test_timestamps_do_not_drift_between_polls(client, mock, check, submit):
    task_id = submit()
    mock.advance(10)
    first = check.success(poll(client, mock, task_id))
    mock.advance(500)
    second = check.success(poll(client, mock, task_id))
    for key in ("submit_time", "end_time", "duration", "result_expires_at"):
        assert first[key] == second[key], key


def test_pending_and_processing_have_no_result_or_end_time(client, mock, check, submit):
    task_id = submit()
    for status in ("pending", "processing"):
        data = check.success(poll(client, mock, task_id))
        assert data["status"] == status
        assert not {"result", "end_time", "duration", "billing", "result_expires_at"} & set(data)
        mock.advance(1)


def test_task_and_file_are_gone_after_7_days(client, mock, check, submit):
    task_id = submit()
    mock.run_until_terminal(task_id)
    data = check.success(poll(client, mock, task_id))
    file_url = data["result"]["resources"][0]["url"]
    expires_ms = data["result_expires_at"]
    mock.advance(7 * 86_400 - 1)
    assert int(mock.clock.now() * 1000) < expires_ms
    check.success(poll(client, mock, task_id))
    assert client.get(file_url).status_code == 200
    mock.advance(1)
    assert int(mock.clock.now() * 1000) == expires_ms
    check.error(
        poll(client, mock, task_id),
        404,
        f"Resource not found: task '{task_id}' does not exist or has expired",
    )
    check.error(client.get(file_url), 404)


def test_file_cache_lifetime_follows_the_retention(client, mock, submit):
    task_id = submit()
    mock.run_until_terminal(task_id)
    url = f"/files/{task_id}/result.mp4"
    assert client.get(url).headers["cache-control"] == "private, max-age=604800"
    mock.advance(3600)
    assert client.get(url).headers["cache-control"] == "private, max-age=601200"


# --- Range requests on the result file ----------------------------------------------------


@pytest.fixture
def result_file(client, mock, submit) -> tuple[str, bytes]:
    task_id = submit()
    mock.run_until_terminal(task_id)
    url = f"/files/{task_id}/result.mp4"
    whole = client.get(url)
    assert whole.status_code == 200
    assert whole.headers["accept-ranges"] == "bytes"
    assert int(whole.headers["content-length"]) == len(whole.content) > 200
    return url, whole.content


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=-100", -100, -1),
        ("bytes=100-", 100, -1),
        ("bytes=10-10", 10, 10),
        ("bytes=0-99999999", 0, -1),
    ],
)
def test_single_ranges_give_206(client, contract, result_file, header, first, last):
    url, data = result_file
    size = len(data)
    first %= size
    last %= size
    response = client.get(url, headers={"Range": header})
    assert response.status_code == 206
    contract.check(response)
    assert response.headers["content-range"] == f"bytes {first}-{last}/{size}"
    assert response.content == data[first : last + 1]
    assert int(response.headers["content-length"]) == last - first + 1


@pytest.mark.parametrize("header", ["bytes={size}-", "bytes={size}-{size2}", "bytes=-0"])
def test_unsatisfiable_range_gives_416_envelope(client, check, result_file, header):
    url, data = result_file
    size = len(data)
    response = client.get(url, headers={"Range": header.format(size=size, size2=size + 10)})
    check.error(response, 416, f"Range not satisfiable: the file is {size} bytes long")
    assert response.headers["content-range"] == f"bytes */{size}"


@pytest.mark.parametrize("header", ["items=0-9", "bytes=9-0", "bytes=0-9,20-29", "garbage"])
def test_ignored_range_headers_give_the_whole_file(client, result_file, header):
    url, data = result_file
    response = client.get(url, headers={"Range": header})
    assert response.status_code == 200
    assert response.content == data
    assert "content-range" not in response.headers


def test_head_gives_headers_and_no_body(client, contract, result_file):
    url, data = result_file
    get = client.get(url)
    head = client.head(url)
    assert head.status_code == 200
    contract.check(head)
    assert head.content == b""
    assert int(head.headers["content-length"]) == len(data)
    for name in ("content-type", "etag", "accept-ranges"):
        assert head.headers[name] == get.headers[name]
    ranged = client.head(url, headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206
    assert ranged.content == b""
    assert ranged.headers["content-range"] == f"bytes 0-99/{len(data)}"


def test_if_range_mismatch_gives_the_full_file(client, result_file):
    url, data = result_file
    etag = client.head(url).headers["etag"]
    assert etag.startswith('"')
    assert etag.endswith('"')
    stale = client.get(url, headers={"Range": "bytes=0-99", "If-Range": '"not-the-etag"'})
    assert stale.status_code == 200
    assert stale.content == data
    assert "content-range" not in stale.headers
    fresh = client.get(url, headers={"Range": "bytes=0-99", "If-Range": etag})
    assert fresh.status_code == 206
    assert fresh.content == data[:100]


def test_resume_a_download_in_pieces(client, result_file):
    url, data = result_file
    pieces, offset = [], 0
    while offset < len(data):
        response = client.get(url, headers={"Range": f"bytes={offset}-{offset + 4095}"})
        assert response.status_code == 206
        pieces.append(response.content)
        offset += len(response.content)
    assert b"".join(pieces) == data


# --- progression policies, seen over HTTP -------------------------------------------------


def test_poll_count_progression(make_mock, make_client, check):
    mock = make_mock(progression="polls")
    http = make_client(mock)
    task_id = check.success(http.post(SUBMIT_PATH, json=BODY, headers=mock.auth_headers))["task_id"]
    mock.advance(10_000)  # time does not matter under this policy
    seen = [check.success(poll(http, mock, task_id))["status"] for _ in range(6)]
    assert seen == ["pending", "processing", "processing", "success", "success", "success"]


def test_downloads_and_submits_are_not_polls(make_mock, make_client, check):
    mock = make_mock(progression="polls")
    http = make_client(mock)
    task_id = check.success(http.post(SUBMIT_PATH, json=BODY, headers=mock.auth_headers))["task_id"]
    for _ in range(5):
        check.success(http.post(SUBMIT_PATH, json=BODY, headers=mock.auth_headers))
        assert http.get(f"/files/{task_id}/result.mp4").status_code == 404
    assert check.success(poll(http, mock, task_id))["status"] == "pending"


def test_manual_progression_and_force_failed(make_mock, make_client, check):
    mock = make_mock(progression="manual")
    http = make_client(mock)
    task_id = check.success(http.post(SUBMIT_PATH, json=BODY, headers=mock.auth_headers))["task_id"]
    mock.advance(3600)
    assert check.success(poll(http, mock, task_id))["status"] == "pending"
    mock.force(task_id, "processing")
    assert check.success(poll(http, mock, task_id))["status"] == "processing"
    mock.advance(5)
    mock.force(task_id, "failed", "boom")
    data = check.success(poll(http, mock, task_id))
    assert data["status"] == "failed"
    assert data["error_message"] == "boom"
    assert data["end_time"] - data["submit_time"] == data["duration"] == 3_605_000
    assert not {"result", "billing", "result_expires_at"} & set(data)
    check.error(http.get(f"/files/{task_id}/result.mp4"), 404)


def test_force_success_gives_a_downloadable_result(make_mock, make_client, check):
    mock = make_mock(progression="manual")
    http = make_client(mock)
    task_id = check.success(http.post(SUBMIT_PATH, json=BODY, headers=mock.auth_headers))["task_id"]
    mock.force(task_id, "success")
    data = check.success(poll(http, mock, task_id))
    assert data["status"] == "success"
    assert http.get(data["result"]["resources"][0]["url"]).status_code == 200


def test_concurrent_clients_over_asgi(mock, async_client_for, check):
    """Many submits and polls in flight at once each see only their own task."""

    async def go() -> list[tuple[str, dict]]:
        async with async_client_for(mock) as http:
            submits = await asyncio.gather(
                *(
                    http.post(SUBMIT_PATH, json={"video_url": f"v{i}"}, headers=mock.auth_headers)
                    for i in range(25)
                )
            )
            ids = [check.success(r)["task_id"] for r in submits]
            mock.advance(3)
            polls = await asyncio.gather(
                *(http.get(f"/api/v1/tasks/{i}", headers=mock.auth_headers) for i in ids)
            )
            return [(i, check.success(r)) for i, r in zip(ids, polls, strict=True)]

    results = asyncio.run(go())
    assert len({task_id for task_id, _ in results}) == 25
    for task_id, data in results:
        assert data["task_id"] == task_id
        assert data["status"] == "success"
        assert mock.task(task_id).params["video_url"].startswith("v")


# --- what a long-running server keeps --------------------------------------------------------


def test_the_poll_answers_kept_for_reuse_stay_bounded(client, mock, check, monkeypatch):
    """Each task's last rendered poll answer is kept to serve repeated polls, but never
    more than a bound: entries outlive their tasks, and a soak found a server that kept
    one per task ever polled growing by 59 bytes a request."""
    from vidu_lipsync_mock.http.public_routes import PublicApi

    monkeypatch.setattr(PublicApi, "RENDERED_LIMIT", 8)
    (handler,) = [r.handler for r in mock.app.public.router.routes if r.route == "poll"]
    api = handler.__self__  # type: ignore[attr-defined]
    for _ in range(30):
        task_id = check.success(client.post(SUBMIT_PATH, json=BODY, headers=mock.auth_headers))[
            "task_id"
        ]
        first = check.success(poll(client, mock, task_id))
        again = check.success(poll(client, mock, task_id))  # served from what was kept
        assert first == again
        assert len(api._rendered) <= 8
    assert api._rendered  # and it does keep some
