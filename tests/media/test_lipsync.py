"""Real lip-sync results (media/probe.py, media/compose.py, media/lipsync.py).

Every input is made here with PyAV (a few kilobytes, nothing committed, no network): a 2 s
320x240 H.264 video with a 440 Hz AAC track, replacement audio of other frequencies as WAV,
MP3 and M4A, a PNG. Results are then read back with PyAV: streams, codecs, size, duration,
which tone is heard, and whether the video packets are the input's own bytes.

Tests that need PyAV are skipped without it; the limits, the cache and the pool do not.
"""

from __future__ import annotations

import itertools
import random
import re
import sys
import threading
from dataclasses import replace
from importlib.util import find_spec

import pytest
from media_files import (  # a sibling module: see its docstring
    FPS,
    H,
    W,
    decoded_frame_times,
    dominant_tone,
    make_audio,
    make_png,
    make_video,
    reorders,
    streams_of,
    video_packets,
)

from vidu_lipsync_mock.media import lipsync
from vidu_lipsync_mock.media.compose import BuiltResult, build_result, compose
from vidu_lipsync_mock.media.lipsync import (
    InputDigests,
    ResultBuilder,
    ResultCache,
    ResultInputs,
)
from vidu_lipsync_mock.media.probe import (
    MEDIA_EXTRA_HINT,
    InputLimits,
    MediaInfo,
    MediaRejected,
    MediaUnavailable,
    ModelLimits,
    check_limits,
    media_unavailable_reason,
    probe,
    violations,
)

needs_av = pytest.mark.skipif(
    find_spec("av") is None,
    reason="PyAV is not installed: pip install 'vidu-lipsync-mock[media]'",
)


@pytest.fixture(scope="module")
def media() -> dict[str, bytes]:
    pytest.importorskip("av")
    return {
        "video": make_video(),
        "video_p_only": make_video(bframes=False),
        "silent_video": make_video(tone=None),
        "mpeg4_video": make_video(codec="mpeg4"),
        "wav_3s": make_audio(1000, 3),
        "mp3_1_5s": make_audio(1500, 1.5, "mp3"),
        "m4a_3s": make_audio(700, 3, "m4a"),
        "wav_0_5s": make_audio(1000, 0.5),
        "png": make_png(),
    }


# -- probing ----------------------------------------------------------------------------------


@needs_av
def test_probe_reads_each_kind_of_input(media):
    video = probe(media["video"])
    assert video == MediaInfo(
        kind="video",
        container="mp4",
        size=len(media["video"]),
        duration_ms=2000,
        video_codec="h264",
        audio_codec="aac",
        width=W,
        height=H,
    )
    assert video.has_audio
    wav, mp3, m4a = probe(media["wav_3s"]), probe(media["mp3_1_5s"]), probe(media["m4a_3s"])
    assert (wav.kind, wav.container, wav.audio_codec, wav.duration_ms) == (
        "audio",
        "wav",
        "pcm_s16le",
        3000,
    )
    assert (mp3.container, mp3.audio_codec) == ("mp3", "mp3")
    assert 1500 <= mp3.duration_ms <= 1560  # the encoder's padding
    assert (m4a.container, m4a.audio_codec, m4a.duration_ms) == ("m4a", "aac", 3000)
    png = probe(media["png"])
    assert (png.kind, png.container, png.width, png.height, png.duration_ms) == (
        "image",
        "png",
        64,
        48,
        0,
    )
    assert not probe(media["silent_video"]).has_audio


@needs_av
def test_probe_reads_a_path_as_it_reads_bytes(media, tmp_path):
    path = tmp_path / "face.png"
    path.write_bytes(media["png"])
    assert probe(path) == probe(media["png"])


@needs_av
@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"this is not a video, only text\n" * 40, "is not a readable media file"),
        (b"", "is not a readable media file"),
    ],
)
def test_what_is_not_media_is_rejected_with_its_reason(data, detail):
    with pytest.raises(MediaRejected) as caught:
        probe(data, role="video_url")
    assert caught.value.message.startswith(f"Task failed: video_url {detail} (")
    assert "Invalid data found when processing input" in caught.value.message


@needs_av
def test_a_truncated_mp4_is_rejected(media):
    # moov is written last, so a cut file has no index at all.
    with pytest.raises(
        MediaRejected, match=r"^Task failed: video_url is not a readable media file"
    ):
        probe(media["video"][: len(media["video"]) // 2], role="video_url")
    # A faststart file (like a result) keeps its index: the missing data is what gives it away.
    whole = build_result(media["video"]).data
    with pytest.raises(MediaRejected) as caught:
        probe(whole[: len(whole) * 9 // 10], role="video_url")
    assert re.fullmatch(
        r"Task failed: video_url is truncated: its index promises 2\.00 s but its data ends at 1\.\d\d s",
        caught.value.message,
    )
    # Cut inside the first frame: the header reads, the picture does not.
    with pytest.raises(
        MediaRejected, match=r"^Task failed: video_url is damaged or truncated \(Invalid data"
    ):
        probe(whole[: len(whole) // 5], role="video_url")


# -- the model's limits -----------------------------------------------------------------------

VIDEO = MediaInfo(
    kind="video", container="mp4", size=10, duration_ms=2000, video_codec="h264", width=W, height=H
)
AUDIO = MediaInfo(kind="audio", container="wav", size=10, duration_ms=3000, audio_codec="pcm_s16le")
IMAGE = MediaInfo(
    kind="image", container="png", size=10, duration_ms=0, video_codec="png", width=1, height=1
)


@pytest.mark.parametrize(
    ("role", "info", "expected"),
    [
        ("video_url", VIDEO, []),
        ("video_url", replace(VIDEO, duration_ms=600_000), []),
        ("video_url", replace(VIDEO, duration_ms=1_000), []),
        (
            "video_url",
            replace(VIDEO, duration_ms=600_001),
            ["video_url lasts 600.001 s; the model accepts 1 s to 600 s"],
        ),
        (
            "video_url",
            replace(VIDEO, duration_ms=999),
            ["video_url lasts 0.999 s; the model accepts 1 s to 600 s"],
        ),
        (
            "video_url",
            replace(VIDEO, size=5_000_000_001),
            ["video_url is 5,000,000,001 bytes; the model accepts at most 5 GB"],
        ),
        (
            "video_url",
            replace(VIDEO, container="matroska"),
            ["video_url is matroska; the model accepts mp4, mov or avi"],
        ),
        (
            "video_url",
            replace(VIDEO, video_codec="hevc"),
            ["video_url is encoded as hevc; the model accepts h264"],
        ),
        ("video_url", AUDIO, ["video_url is an audio file (wav), not a video"]),
        ("audio_url", AUDIO, []),
        (
            "audio_url",
            replace(AUDIO, duration_ms=1_000),
            ["audio_url lasts 1 s; the model accepts more than 1 s and less than 600 s"],
        ),
        (
            "audio_url",
            replace(AUDIO, duration_ms=600_000),
            ["audio_url lasts 600 s; the model accepts more than 1 s and less than 600 s"],
        ),
        ("audio_url", replace(AUDIO, duration_ms=1_001), []),
        (
            "audio_url",
            replace(AUDIO, size=100_000_001),
            ["audio_url is 100,000,001 bytes; the model accepts at most 100 MB"],
        ),
        (
            "audio_url",
            replace(AUDIO, container="flac"),
            ["audio_url is flac; the model accepts wav, mp3, wma, m4a, aac or ogg"],
        ),
        ("audio_url", VIDEO, ["audio_url is a video (mp4), not an audio file"]),
        ("reference_face_image_url", IMAGE, []),
        (
            "reference_face_image_url",
            AUDIO,
            ["reference_face_image_url is an audio file (wav), not an image"],
        ),
    ],
)
def test_violations_follow_the_model_limits(role, info, expected):
    assert violations(role, info) == expected


def test_every_violation_lands_in_one_provider_style_message():
    info = replace(VIDEO, duration_ms=700_000, video_codec="vp9")
    with pytest.raises(MediaRejected) as caught:
        check_limits("video_url", info)
    assert caught.value.message == (
        "Task failed: video_url is encoded as vp9; the model accepts h264; "
        "video_url lasts 700 s; the model accepts 1 s to 600 s"
    )
    assert str(caught.value) == caught.value.message
    check_limits("video_url", VIDEO)  # nothing to say: no exception


@needs_av
def test_a_real_file_over_a_duration_limit_is_refused(media):
    limits = ModelLimits(video=replace(ModelLimits().video, max_ms=1_500))
    with pytest.raises(MediaRejected) as caught:
        build_result(media["video"], media["wav_3s"], limits=limits)
    assert (
        caught.value.message == "Task failed: video_url lasts 2 s; the model accepts 1 s to 1.5 s"
    )


@needs_av
@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (
            ("video", "wav_0_5s", None),
            "Task failed: audio_url lasts 0.5 s; the model accepts more than 1 s and less than 600 s",
        ),
        (
            ("video", "wav_3s", "wav_3s"),
            "Task failed: reference_face_image_url is an audio file (wav), not an image",
        ),
        (("video", "png", None), "Task failed: audio_url is an image (png), not an audio file"),
        (("wav_3s", None, None), "Task failed: video_url is an audio file (wav), not a video"),
        (
            ("mpeg4_video", None, None),
            "Task failed: video_url is encoded as mpeg4; the model accepts h264",
        ),
    ],
)
def test_build_result_refuses_what_the_model_refuses(media, inputs, message):
    video, audio, image = (media[name] if name else None for name in inputs)
    with pytest.raises(MediaRejected) as caught:
        build_result(video, audio, image)
    assert caught.value.message == message


@needs_av
def test_a_reference_image_that_is_not_media_is_refused(media):
    with pytest.raises(
        MediaRejected,
        match=r"^Task failed: reference_face_image_url is not a readable media file \(",
    ):
        build_result(media["video"], media["wav_3s"], b"GIF? no, text")


@needs_av
def test_a_damaged_tag_does_not_make_the_file_unreadable(media):
    tagged = media["m4a_3s"]
    assert tagged.count(b"Lavf") == 1  # the muxer's "encoder" tag
    damaged = tagged.replace(b"Lavf", b"\xa5\x9bvf")  # not UTF-8
    assert probe(damaged) == replace(probe(tagged), size=len(damaged))


@needs_av
def test_damaged_inputs_are_refused_or_built_never_crash(media):
    """Seeded byte flips and cuts over each kind of input (a fuzz run found the two cases
    above; this keeps a sample of its inputs in the suite)."""
    rnd = random.Random(2026)
    outcomes, messages = set(), []
    for _ in range(30):
        role = rnd.choice(["video", "mp3_1_5s", "m4a_3s"])
        data = bytearray(media[role])
        for _ in range(rnd.choice([1, 5, 50])):
            data[rnd.randrange(min(len(data), 4000))] = rnd.randrange(256)
        if rnd.random() < 0.2:
            data = data[: rnd.randrange(len(data))]
        video, audio = (
            (bytes(data), media["wav_3s"]) if role == "video" else (media["video"], bytes(data))
        )
        try:
            build_result(video, audio)
            outcomes.add("built")
        except MediaRejected as exc:
            messages.append(exc.message)
            outcomes.add("refused")
    assert outcomes == {"built", "refused"}
    assert all(m.startswith("Task failed: ") for m in messages)


def test_without_pyav_the_hint_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # makes `import av` raise ImportError
    assert media_unavailable_reason() == MEDIA_EXTRA_HINT
    assert "pip install 'vidu-lipsync-mock[media]'" in MEDIA_EXTRA_HINT
    with pytest.raises(MediaUnavailable, match=r"vidu-lipsync-mock\[media\]"):
        probe(b"anything")


@needs_av
def test_with_pyav_real_media_is_available():
    assert media_unavailable_reason() is None


# -- building results -------------------------------------------------------------------------


def assert_result(result: BuiltResult, *, seconds: float, tolerance: float = 1 / FPS) -> None:
    streams = streams_of(result.data)
    assert streams["video"][0] == "h264"
    assert streams["audio"][0] == "aac"
    assert (result.width, result.height, result.format) == (W, H, "mp4")
    assert abs(streams["video"][1] - seconds) <= tolerance
    assert abs(streams["audio"][1] - seconds) <= 1 / FPS  # AAC pads to whole 1024-sample frames
    assert abs(result.duration_ms / 1000 - seconds) <= tolerance
    packets = video_packets(result.data)
    dts = [d for _, _, d in packets]
    assert all(a < b for a, b in itertools.pairwise(dts)), "decoding times must keep rising"
    shown = decoded_frame_times(result.data)
    assert shown == sorted(shown)
    assert len(shown) == len(packets), "every packet decodes to a frame"
    steps = {round(b - a, 6) for a, b in itertools.pairwise(shown)}
    assert steps == {1 / FPS}, "no frame is missing or repeated"


@needs_av
def test_a_shorter_audio_cuts_the_video_at_the_nearest_frame(media):
    result = build_result(media["video_p_only"], media["mp3_1_5s"])
    assert_result(result, seconds=1.5)
    assert dominant_tone(result.data) == 1500
    assert (result.video_copied, result.audio_copied) == (True, False)
    source = video_packets(media["video_p_only"])
    kept = video_packets(result.data)
    assert [p for p, _, _ in kept] == [p for p, _, _ in source[: len(kept)]]


@needs_av
def test_a_longer_audio_loops_the_copied_video(media):
    result = build_result(media["video_p_only"], media["wav_3s"])
    assert_result(result, seconds=3.0)
    assert dominant_tone(result.data) == 1000
    source = [p for p, _, _ in video_packets(media["video_p_only"])]
    kept = [p for p, _, _ in video_packets(result.data)]
    assert kept == source + source[: len(kept) - len(source)], "the video replays, byte for byte"
    assert len(kept) == 75


@needs_av
def test_reordered_frames_are_cut_where_no_reference_is_lost(media):
    assert reorders(media["video"]), "the input must use B-frames for this test to mean anything"
    for audio, seconds in ((media["wav_3s"], 3.0), (media["mp3_1_5s"], 1.5)):
        result = build_result(media["video"], audio)
        # The cut falls at the end of a group of reordered frames (x264: at most 4 frames).
        assert_result(result, seconds=seconds, tolerance=2 / FPS)
        assert reorders(result.data)
    short = compose(media["video"], make_audio(1000, 0.9))
    assert_result(short, seconds=0.9, tolerance=2 / FPS)


@needs_av
def test_aac_replacement_audio_is_copied_not_encoded(media):
    result = build_result(media["video_p_only"], media["m4a_3s"], media["png"])
    assert_result(result, seconds=3.0)
    assert (result.video_copied, result.audio_copied) == (True, True)
    assert dominant_tone(result.data) == 700


@needs_av
def test_without_replacement_audio_the_input_keeps_its_sound_and_length(media):
    result = build_result(media["video"])
    assert_result(result, seconds=2.0)
    assert dominant_tone(result.data) == 440
    assert [p for p, _, _ in video_packets(result.data)] == [
        p for p, _, _ in video_packets(media["video"])
    ]
    silent = build_result(media["silent_video"])
    assert set(streams_of(silent.data)) == {"video"}


@needs_av
def test_other_video_codecs_are_encoded_to_h264(media):
    result = compose(media["mpeg4_video"], media["wav_3s"])
    assert_result(result, seconds=3.0)
    assert (result.video_copied, result.audio_copied) == (False, False)
    assert probe(media["mpeg4_video"]).video_codec == "mpeg4"


@needs_av
def test_h264_in_avi_is_copied_into_the_mp4(media):
    avi = make_video(tone=None, bframes=False, container="avi")
    assert probe(avi).container == "avi"
    result = build_result(avi, media["wav_3s"])
    assert_result(result, seconds=3.0)
    assert result.video_copied


@needs_av
def test_results_start_with_their_index_for_progressive_download(media):
    from vidu_lipsync_mock.media.mp4info import probe_mp4

    result = build_result(media["video"], media["wav_3s"])
    info = probe_mp4(result.data)
    assert info.faststart
    assert (info.video.width, info.video.height) == (W, H)


# -- the cache and the pool -------------------------------------------------------------------


def fake(size: int, tag: int = 0) -> BuiltResult:
    return BuiltResult(
        data=bytes([tag]) * size,
        width=1,
        height=1,
        duration_ms=1,
        video_copied=True,
        audio_copied=True,
    )


def key(n: int) -> InputDigests:
    return InputDigests(video=f"{n:064x}", audio=None, image=None)


def test_the_cache_is_bounded_by_entries_and_bytes():
    cache = ResultCache(max_entries=2, max_bytes=100)
    cache.put(key(1), fake(40))
    cache.put(key(2), fake(40))
    assert cache.get(key(1)) is not None  # 1 is now the most recently used
    cache.put(key(3), fake(10))  # over the entry bound: 2 goes
    assert cache.get(key(2)) is None
    cache.put(key(4), fake(70))  # over the entry bound again: 1 goes, 3 (10 bytes) stays
    assert cache.stats().bytes == 80
    cache.put(key(5), fake(95))  # over the byte bound: 3 and 4 go
    stats = cache.stats()
    assert (stats.entries, stats.bytes, stats.evictions) == (1, 95, 4)
    assert (stats.hits, stats.misses, stats.max_entries, stats.max_bytes) == (1, 1, 2, 100)
    cache.put(key(6), fake(101))  # larger than the whole cache: handed back, not kept
    assert cache.get(key(6)) is None
    cache.put(key(5), fake(30, tag=1))  # replacing an entry counts its bytes once
    assert cache.stats().bytes == 30
    cache.clear()
    assert (cache.stats().entries, cache.stats().bytes) == (0, 0)
    with pytest.raises(ValueError, match="at least one"):
        ResultCache(max_entries=0)


def test_inputs_are_keyed_by_their_digests(tmp_path):
    path = tmp_path / "video.mp4"
    path.write_bytes(b"video bytes")
    assert ResultInputs(video=path).digests() == ResultInputs(video=b"video bytes").digests()
    assert (
        ResultInputs(video=b"v", audio=b"a").digests()
        != ResultInputs(video=b"v", audio=b"b").digests()
    )
    assert ResultInputs(video=b"v").digests().audio is None


@needs_av
def test_a_cache_hit_returns_identical_bytes_without_rebuilding(media, monkeypatch):
    calls = []
    real = lipsync.build_result

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(lipsync, "build_result", counted)
    with ResultBuilder(max_workers=2) as builder:
        inputs = ResultInputs(video=media["video"], audio=media["wav_3s"])
        first = builder.submit(inputs).result(timeout=60)
        again = builder.submit(
            ResultInputs(video=bytes(media["video"]), audio=media["wav_3s"])
        ).result(timeout=60)
        assert again.data == first.data
        assert len(calls) == 1
        stats = builder.cache.stats()
        assert (stats.entries, stats.bytes, stats.hits) == (1, len(first.data), 1)


def test_concurrent_submits_of_the_same_inputs_share_one_build(monkeypatch):
    started, release = threading.Event(), threading.Event()
    calls = []

    def slow(video, audio, image, *, limits):
        calls.append(video)
        started.set()
        release.wait(timeout=30)
        return fake(8)

    monkeypatch.setattr(lipsync, "build_result", slow)
    with ResultBuilder(max_workers=2) as builder:
        first = builder.submit(ResultInputs(video=b"same"))
        assert started.wait(timeout=30)
        second = builder.submit(ResultInputs(video=b"same"))
        release.set()
        assert first.result(timeout=30) is second.result(timeout=30)
    assert calls == [b"same"]


def test_a_rejection_reaches_the_future_and_is_not_cached(monkeypatch):
    def refuse(video, audio, image, *, limits):
        raise MediaRejected("Task failed: video_url is not a readable media file (x)")

    monkeypatch.setattr(lipsync, "build_result", refuse)
    with ResultBuilder(max_workers=1) as builder:
        for _ in range(2):
            with pytest.raises(MediaRejected, match="not a readable media file"):
                builder.submit(ResultInputs(video=b"text")).result(timeout=30)
        assert builder.cache.stats().entries == 0


def test_an_unexpected_error_fails_the_task_instead_of_crashing(monkeypatch):
    def broken(video, audio, image, *, limits):
        raise ZeroDivisionError("time base of zero")

    monkeypatch.setattr(lipsync, "build_result", broken)
    with ResultBuilder(max_workers=1) as builder, pytest.raises(MediaRejected) as caught:
        builder.build(ResultInputs(video=b"odd"))
    assert caught.value.message.startswith("Task failed: the model could not process the input (")
    assert "time base of zero" in caught.value.message


def test_a_missing_pyav_is_not_a_task_failure(monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)
    with ResultBuilder(max_workers=1) as builder, pytest.raises(MediaUnavailable):
        builder.submit(ResultInputs(video=b"v")).result(timeout=30)


def test_a_closed_builder_takes_no_more_work():
    builder = ResultBuilder(max_workers=1)
    builder.close()
    with pytest.raises(RuntimeError):
        builder.submit(ResultInputs(video=b"v"))


def test_limits_are_records_with_the_published_numbers():
    limits = ModelLimits()
    assert limits.video == InputLimits(
        containers=("mp4", "mov", "avi"),
        codecs=("h264",),
        min_ms=1_000,
        max_ms=600_000,
        inclusive=True,
        max_bytes=5_000_000_000,
    )
    assert (limits.audio.min_ms, limits.audio.max_ms, limits.audio.inclusive) == (
        1_000,
        600_000,
        False,
    )
