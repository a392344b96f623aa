"""A real result: upload a video and a voice-over, run the task, and check what came back.

The inputs are made here with PyAV (a 2 s 320x240 H.264 clip and 3 s of a 1 kHz tone), so
nothing is downloaded and nothing large is kept in the repository. The result is the
uploaded picture with the uploaded voice as its sound, as long as the voice.
"""

from __future__ import annotations

import io
import math

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock

av = pytest.importorskip("av")  # the `media` extra: pip install 'vidu-lipsync-mock[media]'

SUBMIT = "/api/v1/vidu/lip-sync/async"


def make_clip(seconds: int = 2) -> bytes:
    """A 320x240 H.264 MP4 at 25 fps: a grey picture that brightens."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for i in range(seconds * 25):
            frame = av.VideoFrame(320, 240, "yuv420p")
            for plane, value in zip(frame.planes, (60 + 2 * i, 128, 128), strict=True):
                plane.update(bytes([value]) * plane.buffer_size)
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buffer.getvalue()


def make_voice(seconds: int = 3, rate: int = 44_100) -> bytes:
    """A WAV file: a 1 kHz tone (16-bit mono)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="wav") as out:
        stream = out.add_stream("pcm_s16le", rate=rate, layout="mono")
        tone = [int(8000 * math.sin(2 * math.pi * 1000 * k / rate)) for k in range(seconds * rate)]
        frame = av.AudioFrame(format="s16", layout="mono", samples=len(tone))
        frame.planes[0].update(b"".join(s.to_bytes(2, "little", signed=True) for s in tone))
        frame.sample_rate = rate
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buffer.getvalue()


def upload(client: httpx.Client, name: str, data: bytes) -> str:
    answer = client.post("/api/v1/media/files", files={"file": (name, data)})
    assert answer.status_code == 200
    url: str = answer.json()["data"]["url"]  # the mock's own link: a readable input
    return url


def test_the_result_is_my_video_with_my_voice(
    lipsync_client: httpx.Client, lipsync_mock: LipSyncMock
) -> None:
    body = {
        "video_url": upload(lipsync_client, "presenter.mp4", make_clip()),
        "audio_url": upload(lipsync_client, "voice-over.wav", make_voice()),
    }
    task = lipsync_client.post(SUBMIT, json=body).json()["data"]

    lipsync_mock.advance(3)  # the poll that says success finds the result ready

    polled = lipsync_client.get(task["get_result"]["url"]).json()["data"]
    assert polled["status"] == "success"
    (video,) = polled["result"]["resources"]
    assert (video["width"], video["height"]) == (320, 240)  # the upload's size
    assert video["duration"] == 3000  # ms: as long as the voice-over (the clip is looped)

    result = lipsync_client.get(video["url"]).content
    with av.open(io.BytesIO(result)) as container:
        (picture,) = container.streams.video
        (sound,) = container.streams.audio
        assert (picture.codec_context.name, sound.codec_context.name) == ("h264", "aac")
        assert abs(float(sound.duration * sound.time_base) - 3) < 0.05


def test_a_voice_over_the_model_refuses_fails_the_task(
    lipsync_client: httpx.Client, lipsync_mock: LipSyncMock
) -> None:
    body = {
        "video_url": upload(lipsync_client, "presenter.mp4", make_clip()),
        "audio_url": upload(lipsync_client, "too-short.wav", make_voice(seconds=1)),
    }
    task = lipsync_client.post(SUBMIT, json=body).json()["data"]
    lipsync_mock.advance(3)
    polled = lipsync_client.get(task["get_result"]["url"]).json()["data"]
    assert polled["status"] == "failed"
    assert polled["error_message"] == (
        "Task failed: audio_url lasts 1 s; the model accepts more than 1 s and less than 600 s"
    )
