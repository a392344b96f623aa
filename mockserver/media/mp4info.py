"""Just enough ISO-BMFF (MP4) parsing to describe a file's tracks.

The mock reports a video result's resolution and duration from the bytes it serves, so a
task's JSON can never drift from the file, and tests use the same reader to prove a download
is a complete MP4. A media library would add a heavy native dependency for a handful of
boxes, so this walks them by hand; every read is bounds-checked against its box, so bad
input surfaces as `Mp4Error` naming the box and offset, never as a stray `struct.error`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Mp4Error", "Mp4Info", "Mp4Track", "probe_mp4"]


class Mp4Error(ValueError):
    """The bytes are not a complete, well-formed MP4 (or lack a box the reader needs)."""


@dataclass(frozen=True)
class Mp4Track:
    """One `trak`, reduced to what a client of the API can observe.

    `kind` is "video" or "audio" for the two handlers clients care about, otherwise the raw
    handler type (e.g. "text", "meta") so unexpected tracks stay visible rather than dropped.
    `width`/`height` come from the visual sample entry (the coded picture size a player will
    decode), not the `tkhd` presentation size, which is 0 for audio and may include scaling.
    """

    kind: str
    codec: str
    width: int
    height: int
    duration_ms: int
    sample_rate: int
    track_id: int = 0


@dataclass(frozen=True)
class Mp4Info:
    """A probed file: its brand, overall duration and tracks in file order.

    `faststart` records whether `moov` precedes `mdat`, because the real CDN serves
    progressive-download files and a player fetching ranges needs the index first.
    """

    major_brand: str
    duration_ms: int
    tracks: tuple[Mp4Track, ...]
    compatible_brands: tuple[str, ...] = ()
    faststart: bool = False

    @property
    def video(self) -> Mp4Track | None:
        return self._first("video")

    @property
    def audio(self) -> Mp4Track | None:
        return self._first("audio")

    def _first(self, kind: str) -> Mp4Track | None:
        return next((track for track in self.tracks if track.kind == kind), None)


_HANDLER_KINDS = {"vide": "video", "soun": "audio"}
# A duration of all ones in mvhd/mdhd means "unknown" per ISO/IEC 14496-12.
_UNKNOWN_DURATION = {0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF}


@dataclass(frozen=True)
class _Box:
    type: str
    offset: int
    body: int
    end: int


def _fourcc(data: bytes, offset: int) -> str:
    # latin-1 maps every byte, so a garbage type decodes to something printable-ish in an
    # error message instead of raising UnicodeDecodeError.
    return bytes(data[offset : offset + 4]).decode("latin-1")


def _boxes(data: bytes, start: int, end: int, where: str) -> Iterator[_Box]:
    pos = start
    while pos < end:
        remaining = end - pos
        if remaining < 8:
            raise Mp4Error(
                f"truncated box header at offset {pos} in {where}: {remaining} byte(s) left, need 8"
            )
        (size,) = struct.unpack_from(">I", data, pos)
        box_type = _fourcc(data, pos + 4)
        header = 8
        if size == 1:
            if remaining < 16:
                raise Mp4Error(
                    f"truncated 64-bit size of box {box_type!r} at offset {pos} in {where}"
                )
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            # "Extends to the end of the enclosing container" (normally the file).
            size = remaining
        if box_type == "uuid":
            header += 16
        if size < header:
            raise Mp4Error(f"box {box_type!r} at offset {pos} in {where} has invalid size {size}")
        if size > remaining:
            raise Mp4Error(
                f"truncated: box {box_type!r} at offset {pos} in {where} declares {size} "
                f"bytes but only {remaining} remain"
            )
        yield _Box(box_type, pos, pos + header, pos + size)
        pos += size


def _children(data: bytes, box: _Box, path: str) -> dict[str, _Box]:
    """Index a container's children by type; a duplicate box never overrides the first."""
    found: dict[str, _Box] = {}
    for child in _boxes(data, box.body, box.end, path):
        found.setdefault(child.type, child)
    return found


def _require(children: dict[str, _Box], box_type: str, where: str) -> _Box:
    box = children.get(box_type)
    if box is None:
        raise Mp4Error(f"missing {box_type!r} box in {where}")
    return box


def _need(box: _Box, length: int, where: str) -> None:
    have = box.end - box.body
    if have < length:
        raise Mp4Error(f"{where}: {box.type!r} box too short ({have} bytes, need {length})")


def _scale_ms(duration: int, timescale: int, where: str) -> int:
    if timescale == 0:
        raise Mp4Error(f"{where}: timescale is 0")
    if duration in _UNKNOWN_DURATION:
        return 0
    return (duration * 1000 + timescale // 2) // timescale


def _timed_header(data: bytes, box: _Box, where: str) -> tuple[int, int]:
    """Read (timescale, duration) from an mvhd or mdhd, whose layouts agree up to there."""
    _need(box, 4, where)
    version = data[box.body]
    if version == 0:
        _need(box, 20, where)
        timescale, duration = struct.unpack_from(">II", data, box.body + 12)
    elif version == 1:
        _need(box, 32, where)
        timescale, duration = struct.unpack_from(">IQ", data, box.body + 20)
    else:
        raise Mp4Error(f"{where}: unsupported {box.type!r} version {version}")
    return int(timescale), int(duration)


def _track_id(data: bytes, box: _Box, where: str) -> int:
    _need(box, 4, where)
    version = data[box.body]
    if version not in (0, 1):
        raise Mp4Error(f"{where}: unsupported 'tkhd' version {version}")
    # track_ID follows creation/modification times, 32-bit in version 0 and 64-bit in 1.
    offset = 12 if version == 0 else 20
    _need(box, offset + 4, where)
    (track_id,) = struct.unpack_from(">I", data, box.body + offset)
    return int(track_id)


def _sample_entry(data: bytes, stsd: _Box, where: str) -> _Box:
    """The first sample entry: its box type is the codec fourcc ('avc1', 'mp4a', ...)."""
    _need(stsd, 8, where)
    (count,) = struct.unpack_from(">I", data, stsd.body + 4)
    if count == 0:
        raise Mp4Error(f"{where}: no sample entries")
    for entry in _boxes(data, stsd.body + 8, stsd.end, where):
        return entry
    raise Mp4Error(f"{where}: declares {count} entries but holds none")


def _visual_size(data: bytes, entry: _Box, where: str) -> tuple[int, int]:
    # SampleEntry (8 bytes) + pre_defined/reserved (16 bytes), then width and height.
    _need(entry, 28, where)
    width, height = struct.unpack_from(">HH", data, entry.body + 24)
    return int(width), int(height)


def _audio_rate(data: bytes, entry: _Box, where: str) -> int:
    # SampleEntry (8) + version, revision, vendor (8) + channels, sample size,
    # compression id, packet size (8), then the rate as 16.16 fixed point.
    _need(entry, 28, where)
    (version,) = struct.unpack_from(">H", data, entry.body + 8)
    if version == 2:
        # QuickTime SoundDescriptionV2 moves the real rate to a float64 after two more
        # fields, leaving a placeholder where version 0/1 keep it.
        _need(entry, 40, where)
        (rate,) = struct.unpack_from(">d", data, entry.body + 32)
        if not 0 <= rate < 2**32:
            raise Mp4Error(f"{where}: implausible sample rate {rate!r}")
        return round(float(rate))
    (fixed,) = struct.unpack_from(">I", data, entry.body + 24)
    return int(fixed) >> 16


def _check_chunk_offsets(data: bytes, in_stbl: dict[str, _Box], path: str) -> None:
    """Reject a file whose sample data would start past its end.

    Cutting a faststart file exactly between `moov` and `mdat` leaves every box intact, so
    only the chunk offset table reveals that the media the index points at is missing.
    """
    table = in_stbl.get("stco") or in_stbl.get("co64")
    if table is None:
        raise Mp4Error(f"missing 'stco' or 'co64' box in {path}")
    where = f"{path}/{table.type}"
    width = 4 if table.type == "stco" else 8
    _need(table, 8, where)
    (count,) = struct.unpack_from(">I", data, table.body + 4)
    _need(table, 8 + count * width, where)
    fmt = ">I" if width == 4 else ">Q"
    for i in range(count):
        (offset,) = struct.unpack_from(fmt, data, table.body + 8 + i * width)
        if offset >= len(data):
            raise Mp4Error(
                f"truncated: {where} puts chunk {i} at offset {offset} "
                f"but the file has only {len(data)} bytes"
            )


def _descend(
    data: bytes, children: dict[str, _Box], box_type: str, parent: str
) -> tuple[dict[str, _Box], str]:
    path = f"{parent}/{box_type}"
    return _children(data, _require(children, box_type, parent), path), path


def _probe_track(data: bytes, trak: _Box, index: int) -> Mp4Track:
    path = f"moov/trak[{index}]"
    in_trak = _children(data, trak, path)
    track_id = _track_id(data, _require(in_trak, "tkhd", path), f"{path}/tkhd")

    in_mdia, path = _descend(data, in_trak, "mdia", path)
    mdhd = _require(in_mdia, "mdhd", path)
    timescale, duration = _timed_header(data, mdhd, f"{path}/mdhd")
    duration_ms = _scale_ms(duration, timescale, f"{path}/mdhd")

    hdlr = _require(in_mdia, "hdlr", path)
    _need(hdlr, 12, f"{path}/hdlr")
    handler = _fourcc(data, hdlr.body + 8)
    kind = _HANDLER_KINDS.get(handler, handler.strip())

    in_minf, path = _descend(data, in_mdia, "minf", path)
    in_stbl, path = _descend(data, in_minf, "stbl", path)
    entry = _sample_entry(data, _require(in_stbl, "stsd", path), f"{path}/stsd")
    _check_chunk_offsets(data, in_stbl, path)
    path = f"{path}/stsd/{entry.type}"

    width = height = sample_rate = 0
    if kind == "video":
        width, height = _visual_size(data, entry, path)
    elif kind == "audio":
        sample_rate = _audio_rate(data, entry, path)

    return Mp4Track(
        kind=kind,
        codec=entry.type,
        width=width,
        height=height,
        duration_ms=duration_ms,
        sample_rate=sample_rate,
        track_id=track_id,
    )


def probe_mp4(data: bytes) -> Mp4Info:
    """Describe an MP4 held in memory, or raise `Mp4Error` saying why it is not one.

    The whole file is required: every top-level box must fit, so a download cut short (say, by
    a broken Range response) is rejected even when `moov` arrived intact.
    """
    if not data:
        raise Mp4Error("empty input: not an MP4 file")
    # Check the signature before trusting any size field: a JPEG or MP3 read as a box header
    # would otherwise be reported as a "truncated" box with an absurd size.
    if len(data) < 8 or data[4:8] != b"ftyp":
        raise Mp4Error(
            f"not an MP4 file: first box is {_fourcc(data, 4)!r}, expected 'ftyp'"
            if len(data) >= 8
            else f"not an MP4 file: only {len(data)} byte(s)"
        )
    top = list(_boxes(data, 0, len(data), "file"))
    ftyp = top[0]
    _need(ftyp, 8, "ftyp")
    major_brand = _fourcc(data, ftyp.body)
    compatible = tuple(_fourcc(data, pos) for pos in range(ftyp.body + 8, ftyp.end - 3, 4))

    moov_index = next((i for i, box in enumerate(top) if box.type == "moov"), None)
    if moov_index is None:
        raise Mp4Error("missing 'moov' box: not a complete MP4 file")
    moov = top[moov_index]
    mdat_index = next((i for i, box in enumerate(top) if box.type == "mdat"), None)

    mvhd = _require(_children(data, moov, "moov"), "mvhd", "moov")
    traks = [child for child in _boxes(data, moov.body, moov.end, "moov") if child.type == "trak"]
    timescale, duration = _timed_header(data, mvhd, "moov/mvhd")

    return Mp4Info(
        major_brand=major_brand,
        duration_ms=_scale_ms(duration, timescale, "moov/mvhd"),
        tracks=tuple(_probe_track(data, trak, i) for i, trak in enumerate(traks)),
        compatible_brands=compatible,
        faststart=mdat_index is None or moov_index < mdat_index,
    )
