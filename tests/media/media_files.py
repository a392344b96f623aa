"""Media made in the tests with PyAV (a few kilobytes each, nothing committed, no network)
and readers of what comes back; shared by the tests in this folder (imported as a sibling
module: pytest puts this folder on the path)."""

from __future__ import annotations

import array
import io
import math
import random

RATE = 44_100
FPS = 25
W, H = 320, 240
_NOISE = random.Random(15).randbytes(W * H + 64 * 4)


# -- making inputs ----------------------------------------------------------------------------


def _tone(freq: float, seconds: float) -> array.array:
    n = round(seconds * RATE)
    return array.array("h", (int(9000 * math.sin(2 * math.pi * freq * k / RATE)) for k in range(n)))


def _write_tone(out, stream, samples: array.array) -> None:
    import av

    for start in range(0, len(samples), 1024):
        chunk = samples[start : start + 1024]
        frame = av.AudioFrame(format="s16", layout="mono", samples=len(chunk))
        frame.planes[0].update(chunk.tobytes())
        frame.sample_rate, frame.pts = RATE, start
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def make_video(
    seconds: float = 2,
    *,
    codec: str = "libx264",
    tone: float | None = 440,
    bframes: bool = True,
    container: str = "mp4",
) -> bytes:
    """A moving noise picture (x264 then uses B-frames) and optionally a tone; 64 frames at
    most (the noise shifts by 4 bytes a frame)."""
    import av

    buffer = io.BytesIO()
    options = {} if bframes or codec != "libx264" else {"bf": "0"}
    with av.open(buffer, "w", format=container) as out:
        video = out.add_stream(codec, rate=FPS, options=options)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        audio = out.add_stream("aac", rate=RATE, layout="mono") if tone else None
        for i in range(round(seconds * FPS)):
            frame = av.VideoFrame(W, H, "yuv420p")
            frame.planes[0].update(_NOISE[i * 4 : i * 4 + W * H])
            frame.planes[1].update(bytes([128]) * frame.planes[1].buffer_size)
            frame.planes[2].update(bytes([128]) * frame.planes[2].buffer_size)
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if audio is not None and tone:
            _write_tone(out, audio, _tone(tone, seconds))
    return buffer.getvalue()


def make_audio(freq: float, seconds: float, fmt: str = "wav") -> bytes:
    import av

    muxer, codec = {
        "wav": ("wav", "pcm_s16le"),
        "mp3": ("mp3", "libmp3lame"),
        "m4a": ("ipod", "aac"),
    }[fmt]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=muxer) as out:
        _write_tone(out, out.add_stream(codec, rate=RATE, layout="mono"), _tone(freq, seconds))
    return buffer.getvalue()


def make_png() -> bytes:
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="image2pipe") as out:
        stream = out.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "rgb24"
        frame = av.VideoFrame(64, 48, "rgb24")
        frame.planes[0].update(_NOISE[: frame.planes[0].buffer_size])
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buffer.getvalue()


# -- reading results --------------------------------------------------------------------------


def streams_of(data: bytes) -> dict[str, tuple[str, float]]:
    import av

    with av.open(io.BytesIO(data)) as container:
        return {
            s.type: (s.codec_context.codec.canonical_name, float(s.duration * s.time_base))
            for s in container.streams
        }


def video_packets(data: bytes) -> list[tuple[bytes, int, int]]:
    """(bytes, pts, dts) of every video packet in decode order."""
    import av

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        return [(bytes(p), p.pts, p.dts) for p in container.demux(stream) if p.dts is not None]


def decoded_frame_times(data: bytes) -> list[float]:
    import av

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        return [float(f.pts * stream.time_base) for f in container.decode(stream)]


def dominant_tone(data: bytes, candidates: tuple[int, ...] = (440, 700, 1000, 1500)) -> int:
    """The candidate frequency with the most power in the middle of the track (Goertzel)."""
    import av

    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    samples = array.array("h")
    with av.open(io.BytesIO(data)) as container:
        for frame in container.decode(container.streams.audio[0]):
            for out in resampler.resample(frame):
                samples.frombytes(bytes(out.planes[0])[: out.samples * 2])
    middle = samples[len(samples) // 2 - 2048 : len(samples) // 2 + 2048]

    def power(freq: int) -> float:
        coeff = 2 * math.cos(2 * math.pi * freq / RATE)
        s1 = s2 = 0.0
        for x in middle:
            s1, s2 = x + coeff * s1 - s2, s1
        return s1 * s1 + s2 * s2 - coeff * s1 * s2

    return max(candidates, key=power)


def reorders(data: bytes) -> bool:
    pts = [p for _, p, _ in video_packets(data)]
    return pts != sorted(pts)


def decoded_samples(data: bytes) -> array.array:
    """Every sample of the first (mono, AAC: planar float) audio track, decoded as stored."""
    import av

    samples = array.array("f")
    with av.open(io.BytesIO(data)) as container:
        for frame in container.decode(container.streams.audio[0]):
            samples.frombytes(bytes(frame.planes[0])[: frame.samples * 4])
    return samples
