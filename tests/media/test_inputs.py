"""Inputs from outside the mock: files under `media_root` and URLs on allow-listed hosts.

The fetch tests run a second HTTP server on 127.0.0.1 (a thread, port 0) that serves the
inputs, redirects, errors, a large body and a slow one; the mock is allowed to reach it
only when the test lists it. Nothing leaves the machine.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from media_files import make_audio, make_video  # a sibling module: see its docstring

from vidu_lipsync_mock.media.fetch import FetchPolicy

pytest.importorskip("av")

SUBMIT = "/api/v1/vidu/lip-sync/async"


@pytest.fixture(scope="module")
def video() -> bytes:
    return make_video(2)


@pytest.fixture(scope="module")
def voice() -> bytes:
    return make_audio(1000, 3)


def run(mock: Any, client: Any, **body: str) -> dict[str, Any]:
    """Submit, let the lifecycle end, and poll once."""
    answer = client.post(SUBMIT, json=body, headers=mock.auth_headers)
    assert answer.status_code == 200, answer.text
    mock.advance(10)
    polled = client.get(
        f"/api/v1/tasks/{answer.json()['data']['task_id']}", headers=mock.auth_headers
    )
    data: dict[str, Any] = polled.json()["data"]
    return data


def built(data: dict[str, Any]) -> bool:
    """Whether the task's result was built from its inputs (only such a resource has a
    duration)."""
    return data["status"] == "success" and "duration" in data["result"]["resources"][0]


# -- media_root ---------------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path, video: bytes, voice: bytes) -> Path:
    folder = tmp_path / "root"
    (folder / "clips").mkdir(parents=True)
    (folder / "clips" / "talk.mp4").write_bytes(video)
    (folder / "voice.wav").write_bytes(voice)
    (tmp_path / "secret.mp4").write_bytes(video)
    (folder / "escape.mp4").symlink_to(tmp_path / "secret.mp4")
    (folder / "inside.mp4").symlink_to(folder / "clips" / "talk.mp4")
    return folder


def test_files_under_the_media_root_are_read(make_mock, make_client, root):
    mock = make_mock(media_root=str(root))
    client = make_client(mock)
    data = run(mock, client, video_url="clips/talk.mp4", audio_url=f"file://{root}/voice.wav")
    assert built(data)
    assert abs(data["result"]["resources"][0]["duration"] - 3000) <= 40
    assert built(run(mock, client, video_url="inside.mp4"))  # a link that stays inside


@pytest.mark.parametrize(
    ("video_url", "message"),
    [
        ("escape.mp4", "Task failed: video_url is outside the media root (escape.mp4)"),
        ("../secret.mp4", "Task failed: video_url is outside the media root (../secret.mp4)"),
        ("file:///etc/hostname", "Task failed: video_url is outside the media root"),
        ("clips/missing.mp4", "Task failed: video_url names no file under the media root"),
        ("clips", "Task failed: video_url is not a file (clips)"),
    ],
)
def test_paths_leaving_the_media_root_or_naming_no_file_fail(
    make_mock, make_client, root, video_url, message
):
    mock = make_mock(media_root=str(root))
    data = run(mock, make_client(mock), video_url=video_url)
    assert data["status"] == "failed"
    assert data["error_message"].startswith(message)


def test_without_a_media_root_a_path_is_just_unreadable(mock, client, root):
    data = run(mock, client, video_url=str(root / "clips" / "talk.mp4"))
    assert data["status"] == "success"
    assert not built(data)


# -- allow-listed hosts -------------------------------------------------------------------------


class Origin:
    """What the second server serves, and the paths it was asked for."""

    def __init__(self, video: bytes, voice: bytes) -> None:
        self.files = {"/talk.mp4": video, "/voice.wav": voice, "/big.mp4": video * 4}
        self.asked: list[str] = []
        self.port = 0
        self.release = threading.Event()


def _handler(origin: Origin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            origin.asked.append(self.path)
            if self.path == "/slow.mp4":
                origin.release.wait(timeout=30)  # real-time: a server that never answers
                return
            if self.path.startswith("/to/"):
                self.send_response(302)
                host = self.path.removeprefix("/to/").split("/")[0]
                self.send_header("Location", f"http://{host}:{origin.port}/talk.mp4")
                self.end_headers()
                return
            body = origin.files.get(self.path)
            self.send_response(404 if body is None else 200)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

    return Handler


@pytest.fixture
def origin(video: bytes, voice: bytes) -> Iterator[Origin]:
    served = Origin(video, voice)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
    server.daemon_threads = True
    served.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served
    served.release.set()
    server.shutdown()
    server.server_close()


def test_an_allow_listed_host_is_fetched(make_mock, make_client, origin):
    mock = make_mock(fetch_allow=["127.0.0.1"])
    base = f"http://127.0.0.1:{origin.port}"
    data = run(mock, make_client(mock), video_url=f"{base}/talk.mp4", audio_url=f"{base}/voice.wav")
    assert built(data)
    assert sorted(origin.asked) == ["/talk.mp4", "/voice.wav"]


def test_a_host_not_listed_is_never_fetched(mock, client, origin):
    data = run(mock, client, video_url=f"http://127.0.0.1:{origin.port}/talk.mp4")
    assert data["status"] == "success"
    assert not built(data)  # the bundled sample, as for any URL it cannot read
    assert origin.asked == []


def test_a_redirect_within_the_allowed_host_is_followed(make_mock, make_client, origin):
    mock = make_mock(fetch_allow=[f"127.0.0.1:{origin.port}"])
    data = run(mock, make_client(mock), video_url=f"http://127.0.0.1:{origin.port}/to/127.0.0.1")
    assert built(data)
    assert origin.asked == ["/to/127.0.0.1", "/talk.mp4"]


@pytest.mark.parametrize(
    ("settings", "path", "message"),
    [
        (
            {},
            "/to/localhost",
            "Task failed: video_url could not be fetched: http://localhost:{port}/talk.mp4 is "
            "not on an allow-listed host (--fetch-allow)",
        ),
        ({}, "/missing.mp4", "Task failed: video_url could not be fetched: HTTP 404"),
        (
            {"fetch_max_bytes": 1000},
            "/big.mp4",
            "Task failed: video_url could not be fetched: it is larger than the fetch limit of "
            "1000 bytes",
        ),
        (
            {"fetch_timeout_seconds": 0.3},
            "/slow.mp4",
            "Task failed: video_url could not be fetched: it took longer than 0.3 s",
        ),
    ],
)
def test_a_fetch_that_fails_fails_the_task(make_mock, make_client, origin, settings, path, message):
    mock = make_mock(fetch_allow=["127.0.0.1"], **settings)
    data = run(mock, make_client(mock), video_url=f"http://127.0.0.1:{origin.port}{path}")
    assert data["status"] == "failed"
    assert data["error_message"] == message.format(port=origin.port)
    assert "/talk.mp4" not in origin.asked  # a redirect off the list is not followed


def test_a_listed_name_never_opens_a_private_address(make_mock, make_client, origin):
    mock = make_mock(fetch_allow=["localhost"])
    data = run(mock, make_client(mock), video_url=f"http://localhost:{origin.port}/talk.mp4")
    assert data["status"] == "failed"
    assert "resolves to a non-public address" in data["error_message"]
    assert origin.asked == []


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://media.example.com/a.mp4", True),
        ("https://MEDIA.example.com:443/a.mp4", True),
        ("http://cdn.example.com:8080/a.mp4", True),
        ("http://cdn.example.com:8081/a.mp4", False),
        ("https://other.example.com/a.mp4", False),
        ("ftp://media.example.com/a.mp4", False),
        ("https://media.example.com.evil.test/a.mp4", False),
        ("https://user@evil.test/@media.example.com", False),
        ("http://[::1", False),
    ],
)
def test_the_allow_list_matches_host_or_host_and_port(url, allowed):
    policy = FetchPolicy.of(["media.example.com", "cdn.example.com:8080"], max_bytes=1, timeout=1.0)
    assert policy.allows(url) is allowed


def test_fetch_allow_is_a_repeatable_flag_and_the_settings_are_checked():
    from vidu_lipsync_mock.cli import build_parser, config_from_args
    from vidu_lipsync_mock.config import ConfigError, MockConfig

    args = build_parser().parse_args(
        ["serve", "--fetch-allow", "a.example", "--fetch-allow", "127.0.0.1:9000",
         "--media-root", "/srv/media", "--result-budget-bytes", "1000"]
    )  # fmt: skip
    config = config_from_args(args).config
    assert config.fetch_allow == ("a.example", "127.0.0.1:9000")
    assert (config.media_root, config.result_budget_bytes) == ("/srv/media", 1000)
    assert MockConfig().fetch_allow == ()  # nothing is fetched unless asked
    for bad in ({"fetch_max_bytes": 0}, {"fetch_timeout_seconds": 0}, {"result_wait_seconds": -1}):
        with pytest.raises(ConfigError):
            MockConfig.build(bad)
