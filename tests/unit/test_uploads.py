"""Uploaded files: told apart by content, refused with the provider's statuses (storing
nothing), private to their team, reachable by an unguessable link, gone after retention."""

from __future__ import annotations

import re
import struct

import pytest

from vidu_lipsync_mock.service.clock import ManualClock
from vidu_lipsync_mock.service.errors import ApiError
from vidu_lipsync_mock.service.ids import IdSource
from vidu_lipsync_mock.service.uploads import (
    FORMATS,
    Uploads,
    clean_filename,
    file_required,
    not_multipart,
    sniff,
)

ERROR_MESSAGE = re.compile(r"[A-Z][a-z]*(?: [a-z]+)*: \S.*")
WEEK = 7 * 86_400


def box(kind: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def riff(form: bytes) -> bytes:
    return b"RIFF" + struct.pack("<I", 4 + 8) + form + b"fmt " + b"\0" * 4


SAMPLES: dict[str, bytes] = {
    "mp4": box(b"ftyp", b"isom\0\0\2\0isomiso2avc1mp41") + box(b"mdat"),
    "mp4-mp42": box(b"ftyp", b"mp42\0\0\0\0mp42isom"),
    "mov": box(b"ftyp", b"qt  \0\0\2\0qt  ") + box(b"moov"),
    "mov-legacy": box(b"moov", b"\0" * 8),
    "avi": riff(b"AVI "),
    "wav": riff(b"WAVE"),
    "mp3-id3": b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64",
    "mp3-frame": b"\xff\xfb\x90\x64" + b"\0" * 32,  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz
    "mp3-mpeg2": b"\xff\xf3\x40\xc0" + b"\0" * 8,  # MPEG-2 layer III
    "ogg": b"OggS\x00\x02" + b"\0" * 20,
    "m4a": box(b"ftyp", b"M4A \0\0\2\0M4A mp42isom"),
    "aac": b"\xff\xf1\x50\x80\x02\x1f\xfc" + b"\0" * 8,  # ADTS, MPEG-4 AAC LC
    "aac-mpeg2": b"\xff\xf9\x50\x80\x02\x1f\xfc",
    "wma": bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c") + b"\0" * 14,
    "png": b"\x89PNG\r\n\x1a\n" + box(b"IHDR", b"\0" * 13),
    "jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "webp": riff(b"WEBP"),
}


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("mp4", ("video", "mp4", "video/mp4")),
        ("mp4-mp42", ("video", "mp4", "video/mp4")),
        ("mov", ("video", "mov", "video/quicktime")),
        ("mov-legacy", ("video", "mov", "video/quicktime")),
        ("avi", ("video", "avi", "video/x-msvideo")),
        ("wav", ("audio", "wav", "audio/wav")),
        ("mp3-id3", ("audio", "mp3", "audio/mpeg")),
        ("mp3-frame", ("audio", "mp3", "audio/mpeg")),
        ("mp3-mpeg2", ("audio", "mp3", "audio/mpeg")),
        ("ogg", ("audio", "ogg", "audio/ogg")),
        ("m4a", ("audio", "m4a", "audio/mp4")),
        ("aac", ("audio", "aac", "audio/aac")),
        ("aac-mpeg2", ("audio", "aac", "audio/aac")),
        ("wma", ("audio", "wma", "audio/x-ms-wma")),
        ("png", ("image", "png", "image/png")),
        ("jpeg", ("image", "jpeg", "image/jpeg")),
        ("webp", ("image", "webp", "image/webp")),
    ],
)
def test_every_listed_format_is_recognised_by_its_content(
    sample: str, expected: tuple[str, str, str]
) -> None:
    fmt = sniff(SAMPLES[sample])
    assert fmt is not None
    assert (fmt.kind, fmt.format, fmt.content_type) == expected


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, world",
        b"%PDF-1.7\n",
        b"GIF89a\x01\x00",
        b"RIFF\x04\x00\x00\x00CDXA",  # a RIFF form we do not take
        b"RIFF",
        b"\xff\xeb\x90\x64",  # MPEG version bits "01" are reserved
        b"\xff\xfb\xf0\x64",  # bitrate index 15 (bad)
        b"\xff\xf9",  # an ADTS header is seven bytes
        b"\xff\xf1\xfc\x80\x02\x1f\xfc",  # ADTS with sampling index 15 (reserved)
        b"\xff\xfb\x9c\x64",  # sample-rate index 3 (reserved)
        b"\xff",
        b"\x00\x00\x00\x08ftypisom"[:7],  # cut before the box type ends
        b'{"video_url": "https://example.com/a.mp4"}',
    ],
)
def test_other_content_is_not_media(data: bytes) -> None:
    assert sniff(data) is None


def test_every_format_has_a_sample() -> None:
    assert {s.split("-")[0] for s in SAMPLES} == set(FORMATS)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("talk.mp4", "talk.mp4"),
        ("C:\\Users\\me\\clip.mov", "clip.mov"),
        ("../../etc/passwd", "passwd"),
        ('say "hi".wav', "say _hi_.wav"),
        ("line\nbreak\r.mp3", "line_break_.mp3"),
        ("e\u0301te\u0301.png", "\u00e9t\u00e9.png"),  # NFC
        ("  spaced.png  ", "spaced.png"),
        ("", "upload.png"),
        (None, "upload.png"),
        ("..", "upload.png"),
        ("dir/", "upload.png"),
        ("x" * 300 + ".png", "x" * 180),
    ],
)
def test_file_names_are_cleaned_and_bounded(given: str | None, kept: str) -> None:
    assert clean_filename(given, FORMATS["png"]) == kept


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_785_738_420.819)


@pytest.fixture
def uploads() -> Uploads:
    return Uploads(IdSource(), max_file_bytes=1024, budget_bytes=4096, max_files=50)


def test_a_stored_file_is_described_the_way_clients_read_it(uploads, clock) -> None:
    upload = uploads.store("team-a", "face.png", SAMPLES["png"], clock.now())
    assert re.fullmatch(r"file-[0-9a-f]{24}", upload.file_id)
    assert re.fullmatch(r"[0-9a-f]{32}", upload.link_token)
    assert (upload.team, upload.filename, upload.size) == (
        "team-a",
        "face.png",
        len(SAMPLES["png"]),
    )
    assert upload.media.kind == "image"
    assert upload.created_at_ms == 1_785_738_420_819  # ms, as production sends
    assert upload.expires_at == clock.now() + WEEK
    assert upload.data == SAMPLES["png"]
    assert "data" not in repr(upload)


def test_the_kind_comes_from_the_content_not_the_name(uploads, clock) -> None:
    upload = uploads.store("team-a", "talk.mp4", SAMPLES["wav"], clock.now())
    assert (upload.filename, upload.media.format) == ("talk.mp4", "wav")


def _refused(uploads: Uploads, data: bytes, clock: ManualClock, team: str = "team-a") -> ApiError:
    before = uploads.stats()
    with pytest.raises(ApiError) as caught:
        uploads.store(team, "x.bin", data, clock.now())
    assert uploads.stats() == before  # nothing kept on refusal
    assert ERROR_MESSAGE.fullmatch(caught.value.message)
    return caught.value


def test_refusals_carry_the_provider_status_and_reason(uploads, clock) -> None:
    empty = _refused(uploads, b"", clock)
    assert (empty.status, empty.message) == (400, "Invalid parameters: parameter 'file' is empty")
    big = _refused(uploads, SAMPLES["png"] + b"\0" * 1024, clock)
    assert (big.status, big.message) == (413, "Request too large: file exceeds 1024 bytes")
    unknown = _refused(uploads, b"%PDF-1.7\n", clock)
    assert unknown.status == 415
    assert unknown.message.startswith("Unsupported media type: the file is not a supported video")


def test_the_edges_refusals_of_a_body_that_is_no_upload() -> None:
    assert (file_required().status, file_required().message) == (
        400,
        "Invalid parameters: parameter 'file' is required",
    )
    refused = [not_multipart(None), not_multipart("application/json\r\nX: 1")]
    assert [(error.status, error.message) for error in refused] == [
        (415, "Unsupported media type: Content-Type must be multipart/form-data, got (none)"),
        (
            415,
            "Unsupported media type: Content-Type must be multipart/form-data, got "
            "application/json\\r\\nX: 1",
        ),
    ]
    assert all(ERROR_MESSAGE.fullmatch(error.message) for error in refused)


def test_a_team_holds_at_most_its_quota_of_files(clock) -> None:
    uploads = Uploads(IdSource(), files_per_team=2)
    first = uploads.store("team-a", "a.png", SAMPLES["png"], clock.now())
    uploads.store("team-a", "b.png", SAMPLES["png"], clock.now())
    full = _refused(uploads, SAMPLES["png"], clock)
    assert (full.status, full.message) == (
        429,
        "Rate limit exceeded: at most 2 files per team; delete files you no longer need",
    )
    uploads.store("team-b", "c.png", SAMPLES["png"], clock.now())  # other teams unaffected
    uploads.delete("team-a", first.file_id, clock.now())
    uploads.store("team-a", "d.png", SAMPLES["png"], clock.now())


def test_the_byte_budget_and_file_count_over_all_teams_are_bounded(clock) -> None:
    size = len(SAMPLES["png"])
    uploads = Uploads(IdSource(), budget_bytes=3 * size, max_files=3, files_per_team=10)
    uploads.store("team-a", None, SAMPLES["png"], clock.now())
    uploads.store("team-b", None, SAMPLES["png"], clock.now())
    over = _refused(uploads, SAMPLES["png"] + b"\0", clock, team="team-c")  # one byte over
    assert (over.status, over.message) == (
        429,
        f"Rate limit exceeded: upload storage is full ({3 * size} bytes); delete files you no "
        "longer need",
    )
    uploads.store("team-c", None, SAMPLES["png"], clock.now())  # exactly the budget
    assert uploads.stats().bytes == 3 * size
    assert _refused(uploads, SAMPLES["jpeg"], clock, team="team-d").status == 429  # 4th file


def test_a_third_concurrent_upload_of_a_team_is_refused(uploads) -> None:
    with uploads.slot("team-a"), uploads.slot("team-a"):
        with pytest.raises(ApiError) as caught, uploads.slot("team-a"):
            pass
        assert (caught.value.status, caught.value.message) == (
            429,
            "Rate limit exceeded: at most 2 concurrent uploads per team",
        )
        with uploads.slot("team-b"):
            assert uploads.stats().in_flight == 3
    assert uploads.stats().in_flight == 0
    with pytest.raises(RuntimeError), uploads.slot("team-a"):
        raise RuntimeError("the body could not be read")
    assert uploads.stats().in_flight == 0  # a failed upload gives its slot back


def test_another_teams_file_is_as_unknown_as_a_missing_one(uploads, clock) -> None:
    upload = uploads.store("team-a", "a.png", SAMPLES["png"], clock.now())
    now = clock.now()
    assert uploads.owned("team-a", upload.file_id, now) == upload
    errors = []
    for call in (
        lambda: uploads.owned("team-b", upload.file_id, now),
        lambda: uploads.delete("team-b", upload.file_id, now),
        lambda: uploads.delete("team-a", "file-unknown", now),
    ):
        with pytest.raises(ApiError) as caught:
            call()
        errors.append((caught.value.status, caught.value.message.replace("file-unknown", "ID")))
    foreign = (404, f"Resource not found: file '{upload.file_id}' does not exist or has expired")
    assert errors == [foreign, foreign, (foreign[0], foreign[1].replace(upload.file_id, "ID"))]
    assert uploads.get(upload.file_id, now) == upload  # a refused delete deleted nothing


def test_a_link_needs_no_team_and_dies_with_its_file(uploads, clock) -> None:
    upload = uploads.store("team-a", "a.png", SAMPLES["png"], clock.now())
    assert uploads.get_by_url_token(upload.link_token, clock.now()) == upload
    assert uploads.get_by_url_token("0" * 32, clock.now()) is None
    assert uploads.delete("team-a", upload.file_id, clock.now()) == upload
    assert uploads.get_by_url_token(upload.link_token, clock.now()) is None
    assert uploads.get(upload.file_id, clock.now()) is None
    assert uploads.stats().files == uploads.stats().bytes == uploads.stats().teams == 0


def test_files_expire_after_the_retention_by_the_clock(clock) -> None:
    uploads = Uploads(IdSource(), files_per_team=1)
    old = uploads.store("team-a", "a.png", SAMPLES["png"], clock.now())
    clock.advance(WEEK - 1)
    assert uploads.get(old.file_id, clock.now()) == old
    assert uploads.files("team-a", clock.now()) == [old]
    clock.advance(1)
    assert uploads.get_by_url_token(old.link_token, clock.now()) is None
    assert uploads.files("team-a", clock.now()) == []
    uploads.store("team-a", "b.png", SAMPLES["png"], clock.now())  # the quota is free again


def test_sweep_drops_what_expired_and_store_sweeps_first(clock) -> None:
    uploads = Uploads(IdSource(), retention_seconds=60, budget_bytes=70)
    uploads.store("team-a", None, SAMPLES["png"], clock.now())
    clock.advance(30)
    uploads.store("team-b", None, SAMPLES["png"], clock.now())
    clock.advance(30)
    assert uploads.sweep(clock.now()) == 1
    assert uploads.stats().files == 1
    clock.advance(30)
    uploads.store("team-c", None, SAMPLES["png"], clock.now())  # room made by the sweep
    assert uploads.stats().teams == 1


def test_deleting_and_storing_again_keeps_the_expiry_heap_bounded(clock) -> None:
    uploads = Uploads(IdSource(), files_per_team=1)
    for _ in range(500):
        upload = uploads.store("team-a", None, SAMPLES["png"], clock.now())
        uploads.delete("team-a", upload.file_id, clock.now())
    assert len(uploads._expiry) <= 2 * uploads.stats().files + 65


def test_a_seeded_store_replays_the_same_ids(clock) -> None:
    first = Uploads(IdSource(5)).store("t", None, SAMPLES["png"], clock.now())
    second = Uploads(IdSource(5)).store("t", None, SAMPLES["png"], clock.now())
    assert (first.file_id, first.link_token) == (second.file_id, second.link_token)


def test_a_teams_files_are_listed_oldest_first(uploads, clock) -> None:
    names = ["a.png", "b.jpg", "c.webp"]
    for name, kind in zip(names, ("png", "jpeg", "webp"), strict=True):
        uploads.store("team-a", name, SAMPLES[kind], clock.now())
        clock.advance(1)
    uploads.store("team-b", "other.png", SAMPLES["png"], clock.now())
    assert [u.filename for u in uploads.files("team-a", clock.now())] == names
    assert uploads.files("team-z", clock.now()) == []


def test_limits_must_make_sense() -> None:
    with pytest.raises(ValueError, match="positive"):
        Uploads(IdSource(), files_per_team=0)
    with pytest.raises(ValueError, match="retention"):
        Uploads(IdSource(), retention_seconds=-1)
