"""Real results through the API: upload inputs made here with PyAV, submit, advance the
clock, poll, download and probe what came back (docs/media.md).

Each test uses the conftest's in-process mock on a manual clock (no socket, no network);
inputs are a few kilobytes, made by `media_files`.
"""

from __future__ import annotations

import io
import sys
import threading
from typing import Any

import pytest
from media_files import (  # a sibling module: see its docstring
    FPS,
    H,
    W,
    decoded_samples,
    dominant_tone,
    make_audio,
    make_png,
    make_video,
    streams_of,
)

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.cli import banner
from vidu_lipsync_mock.media import lipsync
from vidu_lipsync_mock.media.compose import BuiltResult

av = pytest.importorskip("av")

SUBMIT = "/api/v1/vidu/lip-sync/async"
FRAME_MS = 1000 / FPS


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return {
        "video": make_video(2),
        "mpeg4": make_video(2, codec="mpeg4"),
        "wav": make_audio(1000, 3),
        "m4a": make_audio(700, 3.5, "m4a"),
        "short": make_audio(1000, 0.5),
        "png": make_png(),
    }


class Api:
    """The client side of one round trip, over the conftest's ASGI client."""

    def __init__(self, mock: LipSyncMock, client: Any) -> None:
        self.mock, self.client = mock, client

    def upload(self, data: bytes, name: str) -> str:
        answer = self.client.post(
            "/api/v1/media/files", files={"file": (name, data)}, headers=self.mock.auth_headers
        )
        assert answer.status_code == 200, answer.text
        url: str = answer.json()["data"]["url"]
        return url

    def submit(self, **body: str) -> str:
        answer = self.client.post(SUBMIT, json=body, headers=self.mock.auth_headers)
        assert answer.status_code == 200, answer.text
        task_id: str = answer.json()["data"]["task_id"]
        return task_id

    def poll(self, task_id: str) -> dict[str, Any]:
        answer = self.client.get(f"/api/v1/tasks/{task_id}", headers=self.mock.auth_headers)
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()["data"]
        return data

    def finish(self, task_id: str) -> dict[str, Any]:
        self.mock.advance(10)
        return self.poll(task_id)

    def download(self, data: dict[str, Any], **headers: str) -> bytes:
        (resource,) = data["result"]["resources"]
        answer = self.client.get(resource["url"], headers=headers)
        assert answer.status_code in (200, 206)
        content: bytes = answer.content
        return content


@pytest.fixture
def api(mock: LipSyncMock, client: Any) -> Api:
    return Api(mock, client)


def test_the_result_is_the_uploaded_picture_with_the_uploaded_audio(api, files):
    video, audio = api.upload(files["video"], "talk.mp4"), api.upload(files["m4a"], "voice.m4a")
    task_id = api.submit(video_url=video, audio_url=audio)
    data = api.finish(task_id)
    assert data["status"] == "success"
    (resource,) = data["result"]["resources"]
    result = api.download(data)
    streams = streams_of(result)
    assert {kind: codec for kind, (codec, _) in streams.items()} == {
        "video": "h264",
        "audio": "aac",
    }
    with av.open(io.BytesIO(result)) as container:
        picture = container.streams.video[0].codec_context
        assert (picture.width, picture.height) == (W, H) == (resource["width"], resource["height"])
        assert container.format.name.startswith("mov,mp4")
    audio_seconds = streams["audio"][1]
    assert abs(streams["video"][1] - audio_seconds) <= 1 / FPS  # the 2 s video looped
    assert abs(resource["duration"] - audio_seconds * 1000) <= FRAME_MS
    assert abs(audio_seconds - 3.5) <= 0.05
    # AAC is copied, not re-encoded: the decoded samples are the upload's own.
    assert decoded_samples(result) == decoded_samples(files["m4a"])


def test_a_wav_voice_is_encoded_to_aac_and_still_heard(api, files):
    task_id = api.submit(
        video_url=api.upload(files["video"], "talk.mp4"),
        audio_url=api.upload(files["wav"], "voice.wav"),
    )
    data = api.finish(task_id)
    result = api.download(data)
    assert streams_of(result)["audio"][0] == "aac"
    assert dominant_tone(result) == 1000  # the voice-over's, not the video's own 440 Hz
    assert abs(data["result"]["resources"][0]["duration"] - 3000) <= FRAME_MS


def test_without_audio_url_the_video_keeps_its_own_sound(api, files):
    data = api.finish(api.submit(video_url=api.upload(files["video"], "talk.mp4")))
    result = api.download(data)
    assert dominant_tone(result) == 440
    assert abs(data["result"]["resources"][0]["duration"] - 2000) <= FRAME_MS


def test_byte_ranges_of_a_built_result(api, files, client, mock):
    data = api.finish(api.submit(video_url=api.upload(files["video"], "talk.mp4")))
    whole = api.download(data)
    url = data["result"]["resources"][0]["url"]
    part = client.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == whole[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole)}"


def test_the_mocks_own_samples_are_readable_and_built_once_per_library(make_mock, make_client):
    first = make_mock()
    second = make_mock(media=first.media)  # the pytest plugin shares a library per session
    results = []
    for mock in (first, second):
        api = Api(mock, make_client(mock))
        task_id = api.submit(
            video_url="http://testserver/media/input-video.mp4",
            audio_url="http://testserver/media/input-audio.mp3",
            reference_face_image_url="http://testserver/media/face.jpg",
        )
        data = api.finish(task_id)
        (resource,) = data["result"]["resources"]
        assert (resource["width"], resource["height"]) == (640, 360)  # input-video.mp4's
        results.append(api.download(data))
    assert results[0] == results[1]
    assert second.results.stats().misses == 0  # found in the shared library: not rebuilt


def test_unreadable_inputs_get_the_bundled_sample(api, mock):
    for body in (
        {"video_url": "https://example.com/talk.mp4"},
        # one readable input is not enough: never half a result
        {"video_url": "http://testserver/media/input-video.mp4", "audio_url": "https://e.com/a"},
        {"video_url": "http://testserver/media/no-such-sample.mp4"},
        {"video_url": "http://testserver/uploads/0123/unknown.mp4"},
        {"video_url": "http://testserver/media/" + "a" * 300 + ".mp4"},  # too long a name
        {"video_url": "http://testserver/media/%2e%2e%2fresult.mp4"},
        {"video_url": "http://[::1/media/input-video.mp4"},
    ):
        data = api.finish(api.submit(**body))
        (resource,) = data["result"]["resources"]
        assert "duration" not in resource
        assert api.download(data) == mock.media.get("result.mp4").data
    assert mock.results.stats() is None  # nothing was built


NOT_MEDIA = b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 8


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (
            {"video_url": "mpeg4"},
            "Task failed: video_url is encoded as mpeg4; the model accepts h264",
        ),
        ({"video_url": "png"}, "Task failed: video_url is an image (png), not a video"),
        ({"video_url": "wav"}, "Task failed: video_url is an audio file (wav), not a video"),
        (
            {"video_url": "video", "audio_url": "short"},
            "Task failed: audio_url lasts 0.5 s; the model accepts more than 1 s and less than "
            "600 s",
        ),
        (
            {"video_url": "video", "audio_url": "video"},
            "Task failed: audio_url is a video (mp4), not an audio file",
        ),
        (
            {"video_url": "video", "reference_face_image_url": "wav"},
            "Task failed: reference_face_image_url is an audio file (wav), not an image",
        ),
        ({"video_url": "not-media"}, "Task failed: video_url is not a readable media file ("),
    ],
)
def test_inputs_the_model_refuses_fail_the_task_with_the_reason(api, files, inputs, message):
    named = {**files, "not-media": NOT_MEDIA}
    extension = {"png": "png", "wav": "wav", "short": "wav"}
    body = {
        role: api.upload(named[key], f"in.{extension.get(key, 'mp4')}")
        for role, key in inputs.items()
    }
    data = api.finish(api.submit(**body))
    assert data["status"] == "failed"
    assert data["error_message"].startswith(message)
    assert "result" not in data


def _slow_builds(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Builds that wait for the returned event (then build for real)."""
    release = threading.Event()
    real = lipsync.build_result

    def slow(*args: Any, **kwargs: Any) -> BuiltResult:
        assert release.wait(timeout=60)
        return real(*args, **kwargs)

    monkeypatch.setattr(lipsync, "build_result", slow)
    return release


def test_the_poll_due_to_say_success_waits_for_the_build(api, files, monkeypatch):
    release = _slow_builds(monkeypatch)
    task_id = api.submit(video_url=api.upload(files["video"], "talk.mp4"))
    api.mock.advance(10)
    # real-time: the build finishes on its own thread while the poll waits for it
    threading.Timer(0.2, release.set).start()
    data = api.poll(task_id)
    assert release.is_set()
    assert data["status"] == "success"
    assert data["duration"] == 3000  # it still ended when its lifecycle said
    assert "duration" in data["result"]["resources"][0]


def test_a_build_outlasting_the_wait_keeps_the_task_processing(make_mock, make_client, files):
    mock = make_mock(result_wait_seconds=0)
    api = Api(mock, make_client(mock))
    release = threading.Event()
    real = lipsync.build_result
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lipsync, "build_result", lambda *a, **k: (release.wait(60), real(*a, **k))[1])
        task_id = api.submit(video_url=api.upload(files["video"], "talk.mp4"))
        mock.advance(10)
        assert api.poll(task_id)["status"] == "processing"
        assert mock.task(task_id).status == "processing"
        release.set()
        mock.results.wait_all()
        mock.results.wait_seconds = 30  # the job is done or about to be: settle it
        data = api.poll(task_id)
    assert data["status"] == "success"
    assert data["duration"] == 3000


def test_a_bug_while_building_fails_the_task_and_is_recorded(api, files, monkeypatch, mock):
    def broken(*args: Any, **kwargs: Any) -> BuiltResult:
        raise ZeroDivisionError("a time base of zero")

    monkeypatch.setattr(lipsync, "build_result", broken)
    data = api.finish(api.submit(video_url=api.upload(files["video"], "talk.mp4")))
    assert data["status"] == "failed"
    assert "a time base of zero" in data["error_message"]
    (crash,) = mock.crashes
    assert crash.method == "BUILD"
    assert "ZeroDivisionError" in crash.traceback
    mock.crashes.clear()  # seen: the fixture would otherwise fail the test


def test_a_result_over_the_budget_fails_the_task_naming_the_setting(make_mock, make_client, files):
    mock = make_mock(result_budget_bytes=1000)
    api = Api(mock, make_client(mock))
    data = api.finish(api.submit(video_url=api.upload(files["video"], "talk.mp4")))
    assert data["status"] == "failed"
    assert data["error_message"] == (
        "Task failed: the mock's result storage is full (1000 bytes, the result_budget_bytes "
        "setting)"
    )


def test_results_are_released_when_their_task_expires(make_mock, make_client, files):
    mock = make_mock(retention_seconds=60)
    api = Api(mock, make_client(mock))
    data = api.finish(api.submit(video_url=api.upload(files["video"], "talk.mp4")))
    assert data["status"] == "success"
    held = mock.results.stats()
    assert held is not None
    assert held.held == 1
    mock.advance(61)
    after = mock.results.stats()
    assert after is not None
    assert after.held == 0
    url = data["result"]["resources"][0]["url"]
    assert api.client.get(url).status_code == 404


def test_a_built_result_survives_a_restart_with_a_state_file(
    make_mock, make_client, files, tmp_path
):
    state = str(tmp_path / "state.db")
    first = make_mock(state_path=state)
    api = Api(first, make_client(first))
    video = api.upload(files["video"], "talk.mp4")
    audio = api.upload(files["wav"], "voice.wav")
    task_id = api.submit(video_url=video, audio_url=audio)
    built = api.finish(task_id)["result"]["resources"][0]
    downloaded = api.client.get(built["url"]).content
    first.close()

    second = make_mock(state_path=state)
    again = Api(second, make_client(second)).poll(task_id)["result"]["resources"][0]
    assert again == built  # width, height, duration and URL as before the restart
    assert make_client(second).get(again["url"]).content == downloaded
    assert (again["width"], again["height"]) == (W, H)


def test_same_inputs_share_one_build(api, files, monkeypatch, mock):
    calls: list[object] = []
    real = lipsync.build_result

    def counted(*args: Any, **kwargs: Any) -> BuiltResult:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(lipsync, "build_result", counted)
    video = api.upload(files["video"], "talk.mp4")
    first = api.finish(api.submit(video_url=video))
    again = api.finish(api.submit(video_url=video))
    assert api.download(first) == api.download(again)
    assert len(calls) == 1


def test_a_magic_failure_builds_nothing(api, files, mock):
    video = api.upload(files["video"], "talk.mp4")
    data = api.finish(api.submit(video_url=video + "?mock=fail"))
    assert data["status"] == "failed"
    assert mock.results.stats() is None


def test_without_pyav_the_sample_is_served_and_the_banner_says_how(
    make_mock, make_client, monkeypatch
):
    monkeypatch.setitem(sys.modules, "av", None)
    mock = make_mock()
    assert "pip install 'vidu-lipsync-mock[media]'" in banner(mock, "http://127.0.0.1:1")
    api = Api(mock, make_client(mock))
    data = api.finish(api.submit(video_url="http://testserver/media/input-video.mp4"))
    assert api.download(data) == mock.media.get("result.mp4").data
    assert mock.results.stats() is None


def test_with_pyav_the_banner_says_nothing_of_it(mock):
    assert "vidu-lipsync-mock[media]" not in banner(mock, "http://127.0.0.1:1")


def test_the_round_trip_over_a_real_socket(mock, served, files):
    import requests

    headers = mock.auth_headers
    urls = []
    for name, data in (("talk.mp4", files["video"]), ("voice.m4a", files["m4a"])):
        answer = requests.post(
            f"{served}/api/v1/media/files",
            files={"file": (name, data)},
            headers=headers,
            timeout=10,
        )
        urls.append(answer.json()["data"]["url"])
    body = {"video_url": urls[0], "audio_url": urls[1]}
    task = requests.post(served + SUBMIT, json=body, headers=headers, timeout=10).json()["data"]
    mock.advance(10)
    polled = requests.get(task["get_result"]["url"], headers=headers, timeout=30).json()["data"]
    assert polled["status"] == "success"
    (resource,) = polled["result"]["resources"]
    result = requests.get(resource["url"], timeout=10).content
    assert decoded_samples(result) == decoded_samples(files["m4a"])
    assert abs(resource["duration"] - 3500) <= FRAME_MS


def test_a_truncated_upload_fails_the_task(api, files):
    cut = files["video"][: len(files["video"]) // 2]  # its index is at the end: cut off
    data = api.finish(api.submit(video_url=api.upload(cut, "cut.mp4")))
    assert data["status"] == "failed"
    assert data["error_message"] == (
        "Task failed: video_url is not a readable media file (Invalid data found when "
        "processing input)"
    )


def test_a_reset_drops_the_results_and_builds_afresh(api, files, mock):
    video = api.upload(files["video"], "talk.mp4")
    api.finish(api.submit(video_url=video))
    before = mock.results
    mock.reset()
    assert mock.results is not before
    assert mock.results.stats() is None  # nothing built yet in the new world


def test_the_health_report_shows_the_results_budget(api, files, client, mock):
    assert client.get("/_mock/health").json()["data"]["results"] is None
    api.finish(api.submit(video_url=api.upload(files["video"], "talk.mp4")))
    results = client.get("/_mock/health").json()["data"]["results"]
    assert results["held"] == 1
    assert results["max_bytes"] == mock.config.result_budget_bytes == 256 * 1024 * 1024
    assert results["bytes"] > 0


def test_a_client_sleeping_under_fast_forward_finds_the_result_ready(api, files, mock):
    import time

    task_id = api.submit(video_url=api.upload(files["video"], "talk.mp4"))
    with mock.fast_forward():
        while (data := api.poll(task_id))["status"] not in ("success", "failed"):
            time.sleep(5)  # virtual: advances the mock's clock
    assert data["status"] == "success"
    assert data["result"]["resources"][0]["duration"] == pytest.approx(2000, abs=FRAME_MS)


def test_a_sample_name_too_long_for_the_filesystem_is_a_404_not_a_crash(client):
    answer = client.get("/media/" + "a" * 300 + ".mp4")
    assert answer.status_code == 404
    assert answer.json()["message"].startswith("Resource not found: no sample file 'aaa")
