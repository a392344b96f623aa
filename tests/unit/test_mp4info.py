from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidu_lipsync_mock.media.mp4info import Mp4Error, Mp4Info, Mp4Track, probe_mp4

MEDIA = Path(__file__).resolve().parents[2] / "fixtures" / "media"
RESULT = (MEDIA / "result.mp4").read_bytes()
INPUT_VIDEO = (MEDIA / "input-video.mp4").read_bytes()


# --- a tiny MP4 writer, so edge cases ffmpeg never produces can be exercised -------------


def box(kind: str, *parts: bytes, large: bool = False, to_end: bool = False) -> bytes:
    payload = b"".join(parts)
    fourcc = kind.encode("latin-1")
    if large:
        return struct.pack(">I4sQ", 1, fourcc, 16 + len(payload)) + payload
    if to_end:
        return struct.pack(">I4s", 0, fourcc) + payload
    return struct.pack(">I4s", 8 + len(payload), fourcc) + payload


def version_flags(version: int) -> bytes:
    return struct.pack(">I", version << 24)


def ftyp(major: str = "isom", *compatible: str) -> bytes:
    brands = b"".join(b.encode() for b in compatible)
    return box("ftyp", major.encode(), struct.pack(">I", 512), brands)


def timed(kind: str, timescale: int, duration: int, version: int = 0) -> bytes:
    if version == 0:
        times = struct.pack(">IIII", 0, 0, timescale, duration)
    else:
        times = struct.pack(">QQIQ", 0, 0, timescale, duration)
    # mvhd/mdhd carry more fields after the duration; the reader must not depend on them.
    return box(kind, version_flags(version), times, bytes(20))


def tkhd(track_id: int, version: int = 0) -> bytes:
    times = struct.pack(">II", 0, 0) if version == 0 else struct.pack(">QQ", 0, 0)
    return box("tkhd", version_flags(version), times, struct.pack(">I", track_id), bytes(60))


def hdlr(handler: str) -> bytes:
    return box("hdlr", version_flags(0), bytes(4), handler.encode(), bytes(12), b"x\x00")


def visual_entry(codec: str, width: int, height: int) -> bytes:
    return box(
        codec, bytes(6), b"\x00\x01", bytes(16), struct.pack(">HH", width, height), bytes(50)
    )


def audio_entry(codec: str, rate: int) -> bytes:
    return box(
        codec, bytes(6), b"\x00\x01", bytes(8), struct.pack(">HHHHI", 1, 16, 0, 0, rate << 16)
    )


def quicktime_v2_audio_entry(codec: str, rate: float) -> bytes:
    return box(
        codec,
        bytes(6),
        b"\x00\x01",
        struct.pack(">HHI", 2, 0, 0),
        struct.pack(">HHhHII", 3, 16, -2, 0, 65536, 72),
        struct.pack(">dI", rate, 2),
        bytes(20),
    )


def chunk_offsets(*offsets: int, wide: bool = False) -> bytes:
    table = b"".join(struct.pack(">Q" if wide else ">I", o) for o in offsets)
    return box("co64" if wide else "stco", version_flags(0), struct.pack(">I", len(offsets)), table)


def trak(
    track_id: int,
    handler: str,
    entry: bytes,
    timescale: int = 1000,
    duration: int = 2000,
    version: int = 0,
    offsets: bytes | None = None,
) -> bytes:
    stsd = box("stsd", version_flags(0), struct.pack(">I", 1), entry)
    stco = chunk_offsets() if offsets is None else offsets
    return box(
        "trak",
        tkhd(track_id, version),
        box(
            "mdia",
            timed("mdhd", timescale, duration, version),
            hdlr(handler),
            box("minf", box("stbl", stsd, stco)),
        ),
    )


def movie(*traks: bytes, timescale: int = 1000, duration: int = 2000, version: int = 0) -> bytes:
    return box("moov", timed("mvhd", timescale, duration, version), *traks)


def simple_file(*, moov_first: bool = True) -> bytes:
    moov = movie(
        trak(1, "vide", visual_entry("avc1", 320, 240)),
        trak(2, "soun", audio_entry("mp4a", 48000), timescale=48000, duration=96000),
    )
    mdat = box("mdat", bytes(32))
    return ftyp("isom", "isom", "mp41") + (moov + mdat if moov_first else mdat + moov)


# --- the committed samples --------------------------------------------------------------


def test_result_sample_is_720p_h264_with_aac() -> None:
    info = probe_mp4(RESULT)

    assert info.major_brand == "isom"
    assert "mp41" in info.compatible_brands
    assert info.duration_ms == 2000
    assert info.faststart is True
    assert [t.kind for t in info.tracks] == ["video", "audio"]

    video = info.video
    assert video == Mp4Track(
        kind="video",
        codec="avc1",
        width=1280,
        height=720,
        duration_ms=2000,
        sample_rate=0,
        track_id=1,
    )

    audio = info.audio
    assert audio is not None
    assert audio.codec == "mp4a"
    assert audio.sample_rate == 44100
    assert (audio.width, audio.height) == (0, 0)
    # The media duration includes the AAC encoder's priming/padding frames, which the edit
    # list hides from the movie duration; it is still "about two seconds".
    assert 2000 <= audio.duration_ms < 2100


def test_input_video_sample_is_360p() -> None:
    info = probe_mp4(INPUT_VIDEO)

    assert info.video is not None
    assert (info.video.codec, info.video.width, info.video.height) == ("avc1", 640, 360)
    assert info.audio is not None
    assert info.audio.sample_rate == 22050
    assert info.duration_ms == 2000


@pytest.mark.parametrize("name", ["face.jpg", "input-audio.mp3", "make_samples.sh"])
def test_other_samples_are_rejected_as_not_mp4(name: str) -> None:
    with pytest.raises(Mp4Error, match="not an MP4 file: first box is"):
        probe_mp4((MEDIA / name).read_bytes())


def test_empty_input_is_rejected() -> None:
    with pytest.raises(Mp4Error, match="empty"):
        probe_mp4(b"")


def test_losing_the_last_byte_is_reported_as_truncation() -> None:
    with pytest.raises(Mp4Error, match=r"truncated: box 'mdat'"):
        probe_mp4(RESULT[:-1])


def test_trailing_garbage_shorter_than_a_box_header_is_rejected() -> None:
    with pytest.raises(Mp4Error, match="truncated box header"):
        probe_mp4(RESULT + b"\x00\x00\x00")


def test_mp4error_is_a_value_error() -> None:
    assert issubclass(Mp4Error, ValueError)


# --- synthetic files: layouts and versions ffmpeg does not emit by default ----------------


def test_minimal_synthetic_file() -> None:
    info = probe_mp4(simple_file())

    assert info == Mp4Info(
        major_brand="isom",
        duration_ms=2000,
        tracks=(
            Mp4Track("video", "avc1", 320, 240, 2000, 0, 1),
            Mp4Track("audio", "mp4a", 0, 0, 2000, 48000, 2),
        ),
        compatible_brands=("isom", "mp41"),
        faststart=True,
    )


def test_moov_after_mdat_is_not_faststart() -> None:
    info = probe_mp4(simple_file(moov_first=False))

    assert info.faststart is False
    assert info.video is not None
    assert info.video.width == 320


def test_version_1_headers_and_64_bit_sizes() -> None:
    hour_at_90khz = 90_000 * 3600
    moov = box(
        "moov",
        timed("mvhd", 90_000, hour_at_90khz * 2, version=1),
        trak(
            7,
            "vide",
            visual_entry("hvc1", 3840, 2160),
            timescale=90_000,
            duration=hour_at_90khz * 2,
            version=1,
        ),
        large=True,
    )
    data = ftyp("mp42") + moov + box("mdat", bytes(10), large=True)

    info = probe_mp4(data)

    assert info.major_brand == "mp42"
    assert info.duration_ms == 7_200_000
    assert info.video == Mp4Track("video", "hvc1", 3840, 2160, 7_200_000, 0, 7)
    assert info.audio is None


def test_duration_beyond_32_bits_in_version_1() -> None:
    ticks = 2**40
    data = ftyp() + movie(timescale=1000, duration=ticks, version=1)

    assert probe_mp4(data).duration_ms == ticks


def test_last_box_with_size_zero_extends_to_end_of_file() -> None:
    data = simple_file() + box("mdat", bytes(1000), to_end=True)

    assert probe_mp4(data).video is not None


def test_uuid_and_unknown_boxes_are_skipped() -> None:
    uuid_box = box("uuid", bytes(16), b"vendor data")
    data = (
        ftyp()
        + uuid_box
        + box("free", bytes(4))
        + movie(trak(1, "vide", visual_entry("avc1", 2, 2)))
    )

    assert probe_mp4(data).tracks[0].codec == "avc1"


def test_unknown_handler_keeps_its_type_as_kind() -> None:
    data = ftyp() + movie(
        trak(1, "text", box("tx3g", bytes(8))),
        trak(2, "soun", audio_entry("mp4a", 16000)),
    )
    info = probe_mp4(data)

    assert [t.kind for t in info.tracks] == ["text", "audio"]
    assert info.tracks[0].codec == "tx3g"
    assert (info.tracks[0].width, info.tracks[0].sample_rate) == (0, 0)
    assert info.video is None
    assert info.audio is not None
    assert info.audio.sample_rate == 16000


def test_quicktime_v2_sound_description_rate() -> None:
    data = ftyp("qt  ") + movie(trak(1, "soun", quicktime_v2_audio_entry("lpcm", 96000.0)))
    info = probe_mp4(data)

    assert info.major_brand == "qt  "
    assert info.audio is not None
    assert info.audio.sample_rate == 96000


def test_unknown_duration_reads_as_zero() -> None:
    data = ftyp() + movie(duration=0xFFFFFFFF)

    assert probe_mp4(data).duration_ms == 0


def test_durations_round_to_nearest_millisecond() -> None:
    data = ftyp() + movie(timescale=3, duration=2)  # 666.67 ms

    assert probe_mp4(data).duration_ms == 667


MALFORMED: list[tuple[bytes, str]] = [
    (box("moov", timed("mvhd", 1000, 1)), "first box is 'moov', expected 'ftyp'"),
    (b"\x00\x00\x00\x10ftypisom", "truncated: box 'ftyp'"),
    (b"\x00\x00\x00\x04ftyp", "invalid size 4"),
    (b"\x00\x00\x00\x01ftypisom", "truncated 64-bit size"),
    (box("ftyp", b"is"), "'ftyp' box too short"),
    (ftyp() + box("mdat"), "missing 'moov'"),
    (ftyp() + box("uuid", bytes(10)), "'uuid' at offset 16 in file has invalid size 18"),
    (ftyp() + box("moov"), "missing 'mvhd'"),
    (ftyp() + movie(timescale=0), "timescale is 0"),
    (ftyp() + box("moov", timed("mvhd", 1, 1, version=3)), "unsupported 'mvhd' version 3"),
    (ftyp() + box("moov", box("mvhd", bytes(10))), "'mvhd' box too short"),
    (
        ftyp() + movie(box("trak", tkhd(1))),
        r"missing 'mdia' box in moov/trak\[0\]$",
    ),
    (
        ftyp() + movie(box("trak", tkhd(1), box("mdia", timed("mdhd", 1000, 1)))),
        r"missing 'hdlr' box in moov/trak\[0\]/mdia$",
    ),
    (
        ftyp()
        + movie(
            box(
                "trak",
                tkhd(1),
                box(
                    "mdia",
                    timed("mdhd", 1000, 1),
                    hdlr("vide"),
                    box("minf", box("stbl", box("stsd", version_flags(0), bytes(4)))),
                ),
            )
        ),
        "stsd: no sample entries",
    ),
    (
        ftyp() + movie(trak(1, "vide", box("avc1", bytes(20)))),
        "'avc1' box too short",
    ),
    (
        ftyp() + movie(trak(1, "vide", visual_entry("avc1", 1, 1), offsets=b"")),
        "missing 'stco' or 'co64' box in moov/trak\\[0\\]/mdia/minf/stbl",
    ),
    (
        ftyp()
        + movie(
            trak(
                1,
                "vide",
                visual_entry("avc1", 1, 1),
                offsets=box("stco", version_flags(0), struct.pack(">I", 3), bytes(4)),
            )
        ),
        "'stco' box too short",
    ),
]


@pytest.mark.parametrize(("data", "message"), MALFORMED, ids=[m for _, m in MALFORMED])
def test_malformed_structures_are_named(data: bytes, message: str) -> None:
    with pytest.raises(Mp4Error, match=message):
        probe_mp4(data)


# --- robustness: nothing but Mp4Error may escape ----------------------------------------


def probe_or_error(data: bytes) -> Mp4Info | None:
    try:
        return probe_mp4(data)
    except Mp4Error:
        return None


def test_every_truncation_of_the_result_sample_is_rejected() -> None:
    # Box sizes catch a cut inside any box; the chunk offsets catch a cut that falls exactly
    # between moov and mdat, where every remaining box is intact but the media is gone.
    accepted = [n for n in range(len(RESULT)) if probe_or_error(RESULT[:n]) is not None]

    assert accepted == []


def test_cut_between_moov_and_mdat_is_reported_via_chunk_offsets() -> None:
    mdat_start = RESULT.index(b"mdat") - 4

    with pytest.raises(Mp4Error, match=r"truncated: moov/trak\[0\]/.*/stco puts chunk 0"):
        probe_mp4(RESULT[:mdat_start])


def test_chunk_offsets_inside_the_file_are_accepted() -> None:
    head = ftyp()

    # The moov size does not depend on the offset values, so build once to learn where mdat
    # will start, then again pointing at it.
    def build(offset: int, wide: bool) -> bytes:
        entry = visual_entry("avc1", 8, 8)
        moov = movie(trak(1, "vide", entry, offsets=chunk_offsets(offset, wide=wide)))
        return head + moov + box("mdat", bytes(16))

    for wide in (False, True):
        mdat_body = len(build(0, wide)) - 16
        assert probe_mp4(build(mdat_body, wide)).video is not None
        with pytest.raises(Mp4Error, match="co64 puts chunk 0" if wide else "stco puts chunk 0"):
            probe_mp4(build(mdat_body + 16, wide))


@given(st.binary(max_size=512))
def test_arbitrary_bytes_never_raise_anything_but_mp4error(data: bytes) -> None:
    probe_or_error(data)


@given(st.binary(max_size=256))
def test_arbitrary_bytes_after_a_valid_ftyp(data: bytes) -> None:
    probe_or_error(ftyp() + data)


MOOV_END = RESULT.index(b"mdat") - 4


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(st.integers(0, MOOV_END - 1), st.integers(0, 255)),
        min_size=1,
        max_size=6,
    )
)
def test_corrupted_headers_of_the_real_sample(edits: list[tuple[int, int]]) -> None:
    data = bytearray(RESULT)
    for offset, value in edits:
        data[offset] = value

    info = probe_or_error(bytes(data))

    if info is not None:
        assert all(t.duration_ms >= 0 and t.width >= 0 for t in info.tracks)


@given(st.integers(0, len(RESULT) - 1), st.integers(1, 64))
def test_cutting_a_slice_out_of_the_real_sample(start: int, length: int) -> None:
    probe_or_error(RESULT[:start] + RESULT[start + length :])
