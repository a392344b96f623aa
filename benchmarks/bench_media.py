"""What a real lip-sync result costs to build: a 10 s 1280x720 H.264 input with 10 s of audio.

The inputs are made with PyAV at start (nothing is downloaded). Each case is built several
times through `build_result` (probe, limits, compose) and the median wall time printed, with
probe alone for scale. Target on a 2-core machine: the common case (H.264 copied, WAV audio
encoded to AAC) in 0.5 s or less.

    python benchmarks/bench_media.py --quick    # the common case only, 3 runs
    python benchmarks/bench_media.py            # every case, 5 runs each
"""

from __future__ import annotations

import argparse
import array
import io
import json
import math
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import av

from vidu_lipsync_mock.media.compose import build_result
from vidu_lipsync_mock.media.probe import probe

WIDTH, HEIGHT, FPS, RATE = 1280, 720, 25, 44_100
PATCH = 128


def make_video(seconds: float) -> bytes:
    """A moving pattern with a small noisy patch, about 2 Mbit/s (a phone-made talking head's
    bitrate), and a 440 Hz track."""
    row = bytes(int(128 + 100 * math.sin(x / 23)) for x in range(WIDTH + 4 * FPS * 60))
    rnd = random.Random(15)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=FPS, options={"preset": "veryfast"})
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        audio = out.add_stream("aac", rate=RATE, layout="mono")
        for i in range(round(seconds * FPS)):
            rows = [row[i * 4 + y % 8 : i * 4 + y % 8 + WIDTH] for y in range(HEIGHT)]
            patch = rnd.randbytes(PATCH * PATCH)  # the "face": fresh detail every frame
            for y in range(PATCH):
                line = rows[y + 300]
                rows[y + 300] = (
                    line[:600] + patch[y * PATCH : (y + 1) * PATCH] + line[600 + PATCH :]
                )
            frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
            frame.planes[0].update(b"".join(rows))
            for plane in frame.planes[1:]:
                plane.update(bytes([128]) * plane.buffer_size)
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        _write_tone(out, audio, 440, seconds)
    return buffer.getvalue()


def make_audio(seconds: float, fmt: str) -> bytes:
    muxer, codec = {
        "wav": ("wav", "pcm_s16le"),
        "mp3": ("mp3", "libmp3lame"),
        "m4a": ("ipod", "aac"),
    }[fmt]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=muxer) as out:
        _write_tone(out, out.add_stream(codec, rate=RATE, layout="mono"), 1000, seconds)
    return buffer.getvalue()


def _write_tone(out: Any, stream: Any, freq: float, seconds: float) -> None:
    samples = array.array(
        "h",
        (int(9000 * math.sin(2 * math.pi * freq * k / RATE)) for k in range(round(seconds * RATE))),
    )
    for start in range(0, len(samples), 1024):
        chunk = samples[start : start + 1024]
        frame = av.AudioFrame(format="s16", layout="mono", samples=len(chunk))
        frame.planes[0].update(chunk.tobytes())
        frame.sample_rate, frame.pts = RATE, start
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def median_seconds(action: Callable[[], object], runs: int) -> float:
    action()  # warm: codec tables, allocator
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the common case only, 3 runs")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    runs = 3 if args.quick else 5

    started = time.perf_counter()
    video = make_video(10)
    cases: dict[str, tuple[bytes | None, bytes | None]] = {
        "wav 10 s (AAC encoded, video copied)": (video, make_audio(10, "wav"))
    }
    if not args.quick:
        cases["m4a 10 s (both copied)"] = (video, make_audio(10, "m4a"))
        cases["mp3 10 s"] = (video, make_audio(10, "mp3"))
        cases["wav 25 s (video looped 2.5 times)"] = (video, make_audio(25, "wav"))
        cases["wav 4 s (video cut)"] = (video, make_audio(4, "wav"))
        cases["no audio_url (input's own AAC)"] = (video, None)
    made = time.perf_counter() - started

    results: dict[str, Any] = {
        "input": f"{WIDTH}x{HEIGHT} {FPS} fps H.264, 10 s, {len(video):,} bytes",
        "inputs_made_s": round(made, 2),
        "probe_video_s": round(median_seconds(lambda: probe(video), runs), 4),
        "build_s": {},
    }
    for name, (picture, sound) in cases.items():
        assert picture is not None
        seconds = median_seconds(lambda p=picture, s=sound: build_result(p, s), runs)
        results["build_s"][name] = round(seconds, 4)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"input: {results['input']} (made in {made:.1f} s)")
        print(f"probe video: {results['probe_video_s']:.4f} s")
        for name, seconds in results["build_s"].items():
            print(f"build_result, {name}: {seconds:.3f} s (median of {runs})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
