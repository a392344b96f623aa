"""What a real lip-sync result costs to build: a 10 s 1280x720 H.264 input with 10 s of audio,
and what building costs the polls of everybody else.

The inputs are made with PyAV at start (nothing is downloaded). Each case is built several
times through `build_result` (probe, limits, compose) and the median wall time printed, with
probe alone for scale. Target on a 2-core machine: the common case (H.264 copied, WAV audio
encoded to AAC) in 0.5 s or less.

Then the polls: a `serve` process (its own, as a user runs it) answers 32 keep-alive
connections (wrk on core 1 when installed) polling one task, idle and while a submit every
`BUILD_EVERY` seconds builds a result from distinct inputs under `--media-root` (the 10 s
720p video with a new voice each time, so the cache never answers); three rounds of each,
alternating, the best of each kept. Target: poll p99 at 32 connections <= 10 ms in both.

    python benchmarks/bench_media.py --quick    # the common case, 3 runs; polls: 3 x 3 s each
    python benchmarks/bench_media.py            # every case, 5 runs each; polls: 3 x 5 s each
"""

from __future__ import annotations

import argparse
import array
import asyncio
import http.client
import io
import json
import math
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import av
from bench_wrk import run_wrk

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


CONNECTIONS = 32
BUILD_EVERY = 0.25
KEY = "mdlx-vidulipsyncmock000000000000000000000000000000000"
P99_TARGET_MS = 10.0


async def _poller(host: str, port: int, path: str, stop: float, latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {KEY}\r\n\r\n"
    while time.perf_counter() < stop:
        started = time.perf_counter()
        writer.write(request.encode())
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - started)
    writer.close()


def poll_p99_ms(host: str, port: int, task_id: str, seconds: float) -> tuple[float, int]:
    """(p99 ms, polls answered) of CONNECTIONS connections polling for `seconds`: wrk (its
    own process, on core 1) when installed, else a Python client (slower: its own overhead
    shows in the numbers)."""
    if shutil.which("wrk") is not None:
        measured = run_wrk(
            f"http://{host}:{port}/api/v1/tasks/{task_id}",
            connections=CONNECTIONS,
            seconds=seconds,
            headers={"Authorization": f"Bearer {KEY}"},
            core=1,
        )
        return measured.p99_ms, measured.requests
    latencies: list[float] = []

    async def run() -> None:
        stop = time.perf_counter() + seconds
        path = f"/api/v1/tasks/{task_id}"
        await asyncio.gather(
            *(_poller(host, port, path, stop, latencies) for _ in range(CONNECTIONS))
        )

    asyncio.run(run())
    latencies.sort()
    return latencies[int(len(latencies) * 0.99)] * 1000, len(latencies)


def _submit(host: str, port: int, body: dict[str, str]) -> str:
    connection = http.client.HTTPConnection(host, port, timeout=30)
    connection.request(
        "POST",
        "/api/v1/vidu/lip-sync/async",
        json.dumps(body),
        {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    answer = json.loads(connection.getresponse().read())
    connection.close()
    task_id: str = answer["data"]["task_id"]
    return task_id


def polls_while_building(video: bytes, seconds: float, rounds: int) -> dict[str, Any]:
    """Poll p99 of a `serve` process, idle and while it builds results: `rounds` of each,
    alternating, the best of each kept (a shared machine's noise only ever adds)."""
    voice = array.array("h", make_audio(10, "wav"))  # the bytes, as 16-bit words
    submitted: list[str] = []
    idle: list[tuple[float, int]] = []
    busy: list[tuple[float, int]] = []
    with tempfile.TemporaryDirectory(prefix="bench-media-") as folder:
        root = Path(folder)
        (root / "talk.mp4").write_bytes(video)
        server = subprocess.Popen(
            [sys.executable, "-m", "vidu_lipsync_mock", "serve", "--port", "0",
             "--rate-limit", "0", "--media-root", folder, "--api-key", KEY],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert server.stdout is not None
            first = server.stdout.readline()
            host, port = first.rsplit("//", 1)[1].strip().rsplit(":", 1)
            task_id = _submit(host, int(port), {"video_url": "https://example.com/v.mp4"})

            def build_load(stop: threading.Event) -> None:
                while not stop.wait(BUILD_EVERY):
                    voice[-1] = len(submitted)  # a voice of its own: no cache hit
                    name = f"voice-{len(submitted)}.wav"
                    (root / name).write_bytes(voice.tobytes())
                    body = {"video_url": "talk.mp4", "audio_url": name}
                    submitted.append(_submit(host, int(port), body))

            for _ in range(rounds):
                idle.append(poll_p99_ms(host, int(port), task_id, seconds))
                stop = threading.Event()
                loader = threading.Thread(target=build_load, args=(stop,))
                loader.start()
                try:
                    busy.append(poll_p99_ms(host, int(port), task_id, seconds))
                finally:
                    stop.set()
                    loader.join()
        finally:
            server.terminate()
            server.wait(timeout=30)
    best_idle, best_busy = min(idle), min(busy)
    return {
        "connections": CONNECTIONS,
        "rounds": rounds,
        "idle_p99_ms": round(best_idle[0], 2),
        "idle_polls": best_idle[1],
        "idle_p99_ms_all": [round(p, 2) for p, _ in idle],
        "building_p99_ms": round(best_busy[0], 2),
        "building_polls": best_busy[1],
        "building_p99_ms_all": [round(p, 2) for p, _ in busy],
        "builds_started": len(submitted),
    }


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
    results["polls"] = polls_while_building(video, 3.0 if args.quick else 5.0, 3)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"input: {results['input']} (made in {made:.1f} s)")
        print(f"probe video: {results['probe_video_s']:.4f} s")
        for name, seconds in results["build_s"].items():
            print(f"build_result, {name}: {seconds:.3f} s (median of {runs})")
        polls = results["polls"]
        for phase in ("idle", "building"):
            p99 = polls[f"{phase}_p99_ms"]
            verdict = "ok" if p99 <= P99_TARGET_MS else "over"
            every = ", ".join(f"{v:g}" for v in polls[f"{phase}_p99_ms_all"])
            print(
                f"poll p99 at {CONNECTIONS} connections, {phase}: {p99:.2f} ms, best of "
                f"{polls['rounds']} ({every}); target <= {P99_TARGET_MS:g} ms: {verdict}"
            )
        print(f"builds started while polling: {polls['builds_started']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
