"""Just enough PNG parsing to describe an image result: its width and height.

The task answer reports an image result's size from the bytes the mock serves, as it does a
video's (see `mp4info`). A PNG states its size in the IHDR chunk, which must come right
after the 8-byte signature (PNG specification, 5.2 and 11.2.2); the last chunk must be
IEND, so a file cut short is told apart from a whole one. Anything else surfaces as
`PngError` saying what is wrong, never as a stray `struct.error`.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

__all__ = ["PNG_SIGNATURE", "PngError", "PngInfo", "probe_png"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: The IEND chunk in full: length 0, type, and the CRC of the type.
_IEND = struct.pack(">I4sI", 0, b"IEND", zlib.crc32(b"IEND"))

#: Signature (8), then IHDR: length (4), type (4), 13 bytes of data, CRC (4).
_IHDR_END = 8 + 4 + 4 + 13 + 4

#: The largest width or height a PNG may state (2**31 - 1).
_MAX_SIDE = 0x7FFFFFFF


class PngError(ValueError):
    """The bytes are not a complete, well-formed PNG (as far as this reader looks)."""


@dataclass(frozen=True)
class PngInfo:
    """What the IHDR chunk says: the picture's size, bits per sample and colour type."""

    width: int
    height: int
    bit_depth: int
    color_type: int


def probe_png(data: bytes) -> PngInfo:
    """Describe a PNG held in memory, or raise `PngError` saying why it is not one."""
    if not data.startswith(PNG_SIGNATURE):
        raise PngError("not a PNG file: the 8-byte PNG signature is missing")
    if len(data) < _IHDR_END + len(_IEND):
        raise PngError(f"not a complete PNG file: only {len(data)} byte(s)")
    length, kind = struct.unpack_from(">I4s", data, 8)
    if kind != b"IHDR" or length != 13:
        raise PngError(f"the first chunk is {kind!r} of {length} byte(s), expected a 13-byte IHDR")
    (crc,) = struct.unpack_from(">I", data, _IHDR_END - 4)
    if zlib.crc32(data[12 : _IHDR_END - 4]) != crc:
        raise PngError("the IHDR chunk's CRC does not match its bytes")
    width, height, bit_depth, color_type = struct.unpack_from(">IIBB", data, 16)
    if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
        raise PngError(f"implausible size {width}x{height}")
    if not data.endswith(_IEND):
        raise PngError("no IEND chunk at the end: not a complete PNG file")
    return PngInfo(width=width, height=height, bit_depth=bit_depth, color_type=color_type)
