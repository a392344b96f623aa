from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from vidu_lipsync_mock.media import library as media
from vidu_lipsync_mock.media.library import (
    ByteRange,
    MediaFile,
    MediaLibrary,
    MediaNotFound,
    RangeNotSatisfiable,
    content_range,
    content_type_for,
    parse_range,
)
from vidu_lipsync_mock.media.mp4info import Mp4Error
from vidu_lipsync_mock.service.errors import range_not_satisfiable
from vidu_lipsync_mock.service.registry import Registry

REPO_MEDIA = Path(__file__).resolve().parents[2] / "fixtures" / "media"
SAMPLES = ("face.jpg", "input-audio.mp3", "input-video.mp4", "result.mp4")
#: What the bundled model hands out: `result.mp4`, served as video/mp4.
LIPSYNC_RESULT = Registry.bundled().default_model.card.result


@pytest.fixture
def library_copy(tmp_path: Path) -> Path:
    """A private copy of the samples, so a test may add, break or delete files."""
    target = tmp_path / "media"
    shutil.copytree(REPO_MEDIA, target)
    return target


# --- locating the samples ---------------------------------------------------------------


def test_default_library_is_the_repository_fixtures_in_a_checkout() -> None:
    library = MediaLibrary()

    assert library.directory == REPO_MEDIA
    assert library.names() == SAMPLES


def test_packaged_media_directory_wins_over_the_checkout(
    library_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        media, "_default_candidates", lambda: (library_copy, tmp_path / "elsewhere")
    )

    assert MediaLibrary().directory == library_copy


def test_default_lookup_skips_a_directory_without_the_result_video(
    library_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "_media"
    empty.mkdir()
    monkeypatch.setattr(media, "_default_candidates", lambda: (empty, library_copy))

    assert MediaLibrary().directory == library_copy


def test_missing_media_names_every_path_tried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tried = (tmp_path / "pkg" / "_media", tmp_path / "repo" / "fixtures" / "media")
    monkeypatch.setattr(media, "_default_candidates", lambda: tried)

    with pytest.raises(MediaNotFound) as caught:
        MediaLibrary()

    assert caught.value.tried == tried
    assert str(tried[0]) in str(caught.value)
    assert str(tried[1]) in str(caught.value)
    assert isinstance(caught.value, FileNotFoundError)


def test_explicit_directory_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nope"

    with pytest.raises(MediaNotFound, match="nope"):
        MediaLibrary(missing)


def test_explicit_directory_accepts_str(library_copy: Path) -> None:
    assert MediaLibrary(str(library_copy)).directory == library_copy


def test_names_list_only_media_files(library_copy: Path) -> None:
    (library_copy / ".hidden.mp4").write_bytes(b"x")
    (library_copy / "notes.txt").write_text("x")
    (library_copy / "cover.PNG").write_bytes(b"x")
    (library_copy / "folder.mp4").mkdir()

    names = MediaLibrary(library_copy).names()

    assert names == ("cover.PNG", *SAMPLES)
    assert "make_samples.sh" not in names
    assert "README.md" not in names


# --- reading ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".",
        "..",
        "../result.mp4",
        "..result.mp4",
        "sub/result.mp4",
        "sub\\result.mp4",
        "/etc/passwd",
        "result.mp4\x00.jpg",
        ".hidden.mp4",
        "make_samples.sh",
        "README.md",
        "missing.mp4",
    ],
)
def test_path_refuses_anything_but_a_sample(name: str) -> None:
    library = MediaLibrary()

    with pytest.raises(KeyError):
        library.path(name)
    with pytest.raises(KeyError):
        library.read(name)
    with pytest.raises(KeyError):
        library.get(name)


def test_double_dots_are_refused_even_in_an_existing_name(library_copy: Path) -> None:
    # Stricter than traversal requires, but a sample never needs "..", so refusing it outright
    # keeps the rule simple to audit.
    (library_copy / "take..2.mp4").write_bytes((library_copy / "result.mp4").read_bytes())

    with pytest.raises(KeyError):
        MediaLibrary(library_copy).path("take..2.mp4")


def test_path_points_into_the_directory() -> None:
    library = MediaLibrary()

    assert library.path("face.jpg") == REPO_MEDIA / "face.jpg"


def test_read_returns_file_bytes_and_caches_them(library_copy: Path) -> None:
    library = MediaLibrary(library_copy)
    expected = (library_copy / "face.jpg").read_bytes()

    first = library.read("face.jpg")
    (library_copy / "face.jpg").unlink()
    second = library.read("face.jpg")

    assert first == expected
    assert second is first


def test_concurrent_first_reads_share_one_copy() -> None:
    library = MediaLibrary()
    barrier = threading.Barrier(16)
    seen: list[bytes] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        data = library.read("result.mp4")
        with lock:
            seen.append(data)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(seen) == 16
    assert all(data is seen[0] for data in seen)
    assert seen[0] == (REPO_MEDIA / "result.mp4").read_bytes()


# --- MediaFile --------------------------------------------------------------------------


def test_result_video_describes_the_real_file() -> None:
    library = MediaLibrary()

    result = library.result(LIPSYNC_RESULT).file

    assert isinstance(result, MediaFile)
    assert result.name == "result.mp4"
    assert result.content_type == "video/mp4"
    assert result.data == (REPO_MEDIA / "result.mp4").read_bytes()
    assert result.size == len(result.data)
    assert result.mp4 is not None
    assert result.mp4.video is not None
    assert (result.mp4.video.width, result.mp4.video.height) == (1280, 720)
    assert result.mp4.audio is not None
    assert result.mp4.audio.codec == "mp4a"
    assert library.result(LIPSYNC_RESULT).file is result


def test_etag_is_a_quoted_content_hash() -> None:
    library = MediaLibrary()

    tags = {name: library.get(name).etag for name in SAMPLES}

    assert len(set(tags.values())) == len(SAMPLES)
    for tag in tags.values():
        assert tag.startswith('"')
        assert tag.endswith('"')
        assert len(tag) == 34
    assert MediaLibrary().get("face.jpg").etag == tags["face.jpg"]


def test_etag_follows_content(library_copy: Path) -> None:
    (library_copy / "copy.jpg").write_bytes((library_copy / "face.jpg").read_bytes())
    library = MediaLibrary(library_copy)

    assert library.get("copy.jpg").etag == library.get("face.jpg").etag


@pytest.mark.parametrize(
    ("name", "content_type", "is_mp4"),
    [
        ("result.mp4", "video/mp4", True),
        ("input-video.mp4", "video/mp4", True),
        ("input-audio.mp3", "audio/mpeg", False),
        ("face.jpg", "image/jpeg", False),
    ],
)
def test_get_each_sample(name: str, content_type: str, is_mp4: bool) -> None:
    sample = MediaLibrary().get(name)

    assert sample.content_type == content_type
    assert (sample.mp4 is not None) == is_mp4
    assert sample.data[:2] != b""


def test_input_video_is_the_smaller_stand_in() -> None:
    info = MediaLibrary().get("input-video.mp4").mp4

    assert info is not None
    assert info.video is not None
    assert (info.video.width, info.video.height) == (640, 360)


def test_samples_stay_small() -> None:
    sizes = {name: (REPO_MEDIA / name).stat().st_size for name in SAMPLES}

    assert sizes["result.mp4"] < 60_000
    assert sizes["input-video.mp4"] < 40_000
    assert sizes["input-audio.mp3"] < 20_000
    assert sizes["face.jpg"] < 20_000


def test_sample_signatures() -> None:
    library = MediaLibrary()

    assert library.read("face.jpg")[:3] == b"\xff\xd8\xff"
    # An MPEG audio frame sync: eleven set bits.
    audio = library.read("input-audio.mp3")
    assert audio[0] == 0xFF
    assert audio[1] & 0xE0 == 0xE0


def test_corrupt_result_video_fails_loudly(library_copy: Path) -> None:
    (library_copy / "result.mp4").write_bytes(b"\xff\xd8\xff\xe0 definitely a jpeg")

    with pytest.raises(Mp4Error, match="not an MP4"):
        MediaLibrary(library_copy).result(LIPSYNC_RESULT)


def test_result_video_without_a_video_track_is_refused(library_copy: Path) -> None:
    # An MP4 can hold audio alone; strip the video trak by renaming it to a free box.
    data = bytearray((library_copy / "result.mp4").read_bytes())
    trak = data.index(b"trak")
    data[trak : trak + 4] = b"free"
    (library_copy / "result.mp4").write_bytes(bytes(data))

    with pytest.raises(Mp4Error, match="no video track"):
        MediaLibrary(library_copy).result(LIPSYNC_RESULT)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.mp4", "video/mp4"),
        ("A.MP4", "video/mp4"),
        ("a.mp3", "audio/mpeg"),
        ("a.m4a", "audio/mp4"),
        ("a.wav", "audio/wav"),
        ("a.jpg", "image/jpeg"),
        ("a.jpeg", "image/jpeg"),
        ("a.png", "image/png"),
        ("a.bin", "application/octet-stream"),
        ("noext", "application/octet-stream"),
    ],
)
def test_content_type_for(name: str, expected: str) -> None:
    assert content_type_for(name) == expected


# --- Range parsing: examples --------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 100, None),
        ("bytes=0-99", 100, ByteRange(0, 99)),
        ("bytes=0-0", 100, ByteRange(0, 0)),
        ("bytes=10-19", 100, ByteRange(10, 19)),
        ("bytes=50-", 100, ByteRange(50, 99)),
        ("bytes=99-", 100, ByteRange(99, 99)),
        ("bytes=-10", 100, ByteRange(90, 99)),
        ("bytes=-100", 100, ByteRange(0, 99)),
        ("bytes=-1000", 100, ByteRange(0, 99)),
        ("bytes=90-1000", 100, ByteRange(90, 99)),
        ("bytes=0-0", 1, ByteRange(0, 0)),
        ("Bytes=1-2", 100, ByteRange(1, 2)),
        (" bytes=1-2 ", 100, ByteRange(1, 2)),
        ("bytes=007-008", 100, ByteRange(7, 8)),
        ("bytes=1-2,", 100, ByteRange(1, 2)),
        ("bytes=, 1-2 ,\t", 100, ByteRange(1, 2)),
        ("bytes=0-" + "9" * 5000, 100, ByteRange(0, 99)),
        ("bytes=-" + "9" * 5000, 100, ByteRange(0, 99)),
        # ignored, so the whole body is served
        ("", 100, None),
        ("bytes", 100, None),
        ("bytes=", 100, None),
        ("bytes=-", 100, None),
        ("bytes=abc", 100, None),
        ("bytes=1-2-3", 100, None),
        ("bytes=+1-2", 100, None),
        ("bytes=1 - 2", 100, None),
        ("bytes=\u00b9-2", 100, None),
        ("bytes=20-10", 100, None),
        ("bytes=" + "9" * 5001 + "-" + "9" * 5000, 100, None),
        ("items=0-10", 100, None),
        ("byte s=0-10", 100, None),
        ("bytes=0-10,20-30", 100, None),
        ("bytes=0-1,0-1", 100, None),
        ("bytes=500-600,0-1", 100, None),
        ("bytes=-5", 0, None),
    ],
)
def test_parse_range_examples(header: str | None, size: int, expected: ByteRange | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=100-", 100),
        ("bytes=100-200", 100),
        ("bytes=0-", 0),
        ("bytes=0-0", 0),
        ("bytes=-0", 100),
        ("bytes=-000", 100),
        ("bytes=" + "9" * 5000 + "-", 100),
    ],
)
def test_parse_range_not_satisfiable(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable) as caught:
        parse_range(header, size)

    assert caught.value.size == size
    assert caught.value.header == header


def test_parse_range_rejects_negative_size() -> None:
    with pytest.raises(ValueError, match="size"):
        parse_range("bytes=0-1", -1)


def test_content_range_headers() -> None:
    assert content_range(ByteRange(0, 99), 100) == "bytes 0-99/100"
    assert content_range(ByteRange(5, 5), 6) == "bytes 5-5/6"
    assert range_not_satisfiable(1234).headers["Content-Range"] == "bytes */1234"
    with pytest.raises(ValueError, match="exceeds"):
        content_range(ByteRange(0, 100), 100)


def test_byte_range_shape() -> None:
    r = ByteRange(10, 19)

    assert r.length == 10
    assert r.stop == 20
    assert b"0123456789abcdefghijklmnop"[r.start : r.stop] == b"abcdefghij"
    with pytest.raises(ValueError, match="invalid byte range"):
        ByteRange(5, 4)
    with pytest.raises(ValueError, match="invalid byte range"):
        ByteRange(-1, 4)


def test_range_against_the_real_sample() -> None:
    sample = MediaLibrary().result(LIPSYNC_RESULT).file

    r = parse_range("bytes=-16", sample.size)

    assert r is not None
    assert sample.data[r.start : r.stop] == sample.data[-16:]
    assert (
        content_range(r, sample.size) == f"bytes {sample.size - 16}-{sample.size - 1}/{sample.size}"
    )


# --- Range parsing: properties ------------------------------------------------------------

sizes = st.integers(min_value=0, max_value=10**12)
positions = st.integers(min_value=0, max_value=10**13)


def check_outcome(header: str, size: int) -> ByteRange | None:
    """Run parse_range and assert the invariants every outcome must satisfy."""
    refused: RangeNotSatisfiable | None = None
    r: ByteRange | None = None
    try:
        r = parse_range(header, size)
    except RangeNotSatisfiable as exc:
        refused = exc
    if refused is not None:
        assert refused.size == size
        assert refused.header == header
    elif r is not None:
        assert 0 <= r.start <= r.end_inclusive < size
        assert r.length == r.end_inclusive - r.start + 1
        assert 1 <= r.length <= size
        assert content_range(r, size) == f"bytes {r.start}-{r.end_inclusive}/{size}"
    return r


@example(header="bytes=0-", size=0)
@example(header="bytes=-0", size=0)
@given(header=st.text(max_size=40), size=sizes)
def test_any_text_yields_a_valid_outcome(header: str, size: int) -> None:
    check_outcome(header, size)


@given(
    header=st.from_regex(r"\A[Bb]ytes=[ ,]*[0-9]{0,15}-[0-9]{0,15}(,[ ]*[0-9]{0,4}-[0-9]{0,4})?\Z"),
    size=sizes,
)
def test_range_shaped_text_yields_a_valid_outcome(header: str, size: int) -> None:
    check_outcome(header, size)


@given(first=positions, last=positions, size=sizes)
def test_int_range_matches_the_rfc(first: int, last: int, size: int) -> None:
    header = f"bytes={first}-{last}"

    if last < first:
        assert parse_range(header, size) is None
    elif first >= size:
        with pytest.raises(RangeNotSatisfiable):
            parse_range(header, size)
    else:
        r = parse_range(header, size)
        assert r == ByteRange(first, min(last, size - 1))
        assert r.length == min(last, size - 1) - first + 1


@given(first=positions, size=sizes)
def test_open_range_runs_to_the_end(first: int, size: int) -> None:
    header = f"bytes={first}-"

    if first >= size:
        with pytest.raises(RangeNotSatisfiable):
            parse_range(header, size)
    else:
        r = parse_range(header, size)
        assert r == ByteRange(first, size - 1)
        assert r.length == size - first


@given(suffix=positions, size=sizes)
def test_suffix_range_is_the_tail(suffix: int, size: int) -> None:
    header = f"bytes=-{suffix}"

    if suffix == 0:
        with pytest.raises(RangeNotSatisfiable):
            parse_range(header, size)
    elif size == 0:
        assert parse_range(header, size) is None
    else:
        r = parse_range(header, size)
        assert r is not None
        assert r.end_inclusive == size - 1
        assert r.length == min(suffix, size)


@given(
    ranges=st.lists(st.tuples(positions, positions), min_size=2, max_size=5),
    size=sizes,
)
def test_multiple_ranges_serve_the_whole_body(ranges: list[tuple[int, int]], size: int) -> None:
    header = "bytes=" + ", ".join(f"{a}-{a + b}" for a, b in ranges)

    assert parse_range(header, size) is None


@given(data=st.binary(min_size=1, max_size=300), spec=st.data())
def test_slicing_with_a_parsed_range_returns_the_asked_bytes(
    data: bytes, spec: st.DataObject
) -> None:
    size = len(data)
    first = spec.draw(st.integers(0, size - 1))
    last = spec.draw(st.integers(first, size + 10))

    r = parse_range(f"bytes={first}-{last}", size)

    assert r is not None
    assert data[r.start : r.stop] == data[first : last + 1]
