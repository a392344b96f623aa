"""The PNG reader that gives an image result its width and height, and the media library
serving a PNG as a model's result."""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import pytest

from vidu_lipsync_mock.media.library import MediaLibrary
from vidu_lipsync_mock.media.pnginfo import PNG_SIGNATURE, PngError, PngInfo, probe_png
from vidu_lipsync_mock.service.registry import ResultSpec


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def make_png(width: int, height: int) -> bytes:
    """A real, decodable RGB PNG: black pixels, filter 0 on every row."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + bytes(3 * width) for _ in range(height))
    return (
        PNG_SIGNATURE
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_the_size_comes_from_the_ihdr_chunk() -> None:
    assert probe_png(make_png(7, 3)) == PngInfo(width=7, height=3, bit_depth=8, color_type=2)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "signature is missing"),
        (b"\xff\xd8\xff\xe0 a jpeg" + bytes(64), "signature is missing"),
        (PNG_SIGNATURE + bytes(8), "only 16 byte"),
        (make_png(2, 2)[:-12], "no IEND chunk"),
        (make_png(2, 2)[:50], "no IEND chunk"),
        (
            PNG_SIGNATURE + chunk(b"gAMA", bytes(13)) + chunk(b"IEND", b""),
            "first chunk is b'gAMA'",
        ),
        (
            PNG_SIGNATURE + chunk(b"IHDR", bytes(12)) + chunk(b"IEND", b"") + bytes(8),
            "of 12 byte",
        ),
        (
            PNG_SIGNATURE
            + chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 5, 8, 2, 0, 0, 0))
            + chunk(b"IEND", b""),
            "implausible size 0x5",
        ),
    ],
)
def test_what_is_not_a_whole_png_is_refused_saying_why(data: bytes, match: str) -> None:
    with pytest.raises(PngError, match=match):
        probe_png(data)


def test_a_damaged_header_fails_its_crc() -> None:
    data = bytearray(make_png(4, 4))
    data[19] ^= 0x01  # a bit of the width
    with pytest.raises(PngError, match="CRC"):
        probe_png(bytes(data))


# --- a PNG as a model's result ---------------------------------------------------------------

IMAGE = ResultSpec(
    type="image",
    format="png",
    file_name="result.png",
    content_type="image/png",
    sample="picture.png",
)


@pytest.fixture
def library(tmp_path: Path) -> MediaLibrary:
    folder = tmp_path / "media"
    shutil.copytree(MediaLibrary().directory, folder)
    (folder / "picture.png").write_bytes(make_png(5, 4))
    return MediaLibrary(folder)


def test_a_png_result_is_described_by_its_own_header(library: MediaLibrary) -> None:
    result = library.result(IMAGE)
    assert result.spec is IMAGE
    assert (result.width, result.height) == (5, 4)
    assert result.file.content_type == "image/png"
    assert result.file.data == library.read("picture.png")
    assert library.result(IMAGE) is result


def test_the_result_is_served_with_the_model_s_content_type(library: MediaLibrary) -> None:
    spec = ResultSpec(
        type="image",
        format="png",
        file_name="out.png",
        content_type="image/vnd.example+png",
        sample="picture.png",
    )
    assert library.result(spec).file.content_type == "image/vnd.example+png"
    assert library.get("picture.png").content_type == "image/png"  # the sample is untouched


def test_a_result_sample_without_a_picture_size_is_refused(library: MediaLibrary) -> None:
    jpeg = ResultSpec(
        type="image",
        format="jpg",
        file_name="result.jpg",
        content_type="image/jpeg",
        sample="face.jpg",
    )
    with pytest.raises(ValueError, match=r"face\.jpg: a result sample must be an MP4 or PNG"):
        library.result(jpeg)


def test_a_broken_png_sample_fails_loudly(library: MediaLibrary) -> None:
    (library.directory / "picture.png").write_bytes(make_png(5, 4)[:30])
    with pytest.raises(PngError):
        library.result(IMAGE)
