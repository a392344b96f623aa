"""Reading a task's input media and judging it against the model's published limits.

Before the mock builds a result it must know what the inputs are (container, codecs,
picture size, duration) and refuse what the real model refuses, in the provider's
``"<Category>: <detail>"`` style. PyAV, an optional extra, is imported only when a function
here needs it (`media_unavailable_reason` says how to get it). The limits are NOTES.md's:
video mp4/mov/avi, H.264, 1 to 600 s, at most 5 GB; audio wav/mp3/wma/m4a/aac/ogg, more
than 1 s and under 600 s, at most 100 MB (decimal units, as the provider writes them).
"""

from __future__ import annotations

import importlib
import io
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Literal

from vidu_lipsync_mock.service.tasks import default_failure_message

if TYPE_CHECKING:
    from av.audio.stream import AudioStream
    from av.container import InputContainer
    from av.stream import Stream
    from av.video.stream import VideoStream

__all__ = [
    "FAILED",
    "MEDIA_EXTRA_HINT",
    "InputLimits",
    "MediaInfo",
    "MediaKind",
    "MediaRejected",
    "MediaSource",
    "MediaUnavailable",
    "ModelLimits",
    "Role",
    "check_limits",
    "codec_name",
    "first_audio",
    "load_av",
    "media_unavailable_reason",
    "open_media",
    "probe",
    "violations",
    "visible_video",
]

#: Raw bytes (an upload held in memory) or a file on disk.
MediaSource = bytes | Path
#: The submit field an input came from; messages name it so a client knows which one is bad.
Role = Literal["video_url", "audio_url", "reference_face_image_url"]
MediaKind = Literal["video", "audio", "image"]

MEDIA_EXTRA_HINT = (
    "real lip-sync results need PyAV; install it with: pip install 'vidu-lipsync-mock[media]'"
)
#: The category of every rejection: the one of the service's default task failure.
FAILED = default_failure_message().partition(":")[0]
# A stream whose packets end this much (s) before its indexed length is truncated.
_TRUNCATION_TOLERANCE = Fraction(1, 10)


class MediaUnavailable(RuntimeError):
    """PyAV (the `media` extra) is not installed, so real results cannot be built."""


class MediaRejected(ValueError):
    """An input the model would refuse; `message` is the task's provider-style error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def load_av() -> ModuleType:
    """The `av` module, imported on first use; `MediaUnavailable` without the extra."""
    try:
        return importlib.import_module("av")
    except ImportError as exc:
        raise MediaUnavailable(MEDIA_EXTRA_HINT) from exc


def media_unavailable_reason() -> str | None:
    """None when real results can be built here; otherwise what to install to get them."""
    try:
        load_av()
    except MediaUnavailable as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class MediaInfo:
    """What a probe learned about one input, as the limits and the result builder need it.

    `container` is a short name (mp4, mov, m4a, avi, wav, mp3, wma, aac, ogg, png, jpeg, ...);
    `duration_ms` is how far the primary stream's packets really reach (0 for an image).
    """

    kind: MediaKind
    container: str
    size: int
    duration_ms: int
    video_codec: str | None = None
    audio_codec: str | None = None
    width: int = 0
    height: int = 0

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None


@dataclass(frozen=True)
class InputLimits:
    """What the model accepts for one kind of input; durations in ms, sizes in bytes.

    `inclusive` says whether the duration bounds themselves are allowed: the video range is
    "1 to 600 s", the audio one "more than 1 s and under 600 s" (NOTES.md's words).
    """

    containers: tuple[str, ...]
    min_ms: int
    max_ms: int
    inclusive: bool
    max_bytes: int
    codecs: tuple[str, ...] = ()  # empty: any codec the container holds

    def duration_ok(self, ms: int) -> bool:
        if self.inclusive:
            return self.min_ms <= ms <= self.max_ms
        return self.min_ms < ms < self.max_ms


@dataclass(frozen=True)
class ModelLimits:
    """The model's limits per input kind (the reference image has none beyond being one)."""

    video: InputLimits = InputLimits(
        containers=("mp4", "mov", "avi"),
        codecs=("h264",),
        min_ms=1_000,
        max_ms=600_000,
        inclusive=True,
        max_bytes=5_000_000_000,
    )
    audio: InputLimits = InputLimits(
        containers=("wav", "mp3", "wma", "m4a", "aac", "ogg"),
        min_ms=1_000,
        max_ms=600_000,
        inclusive=False,
        max_bytes=100_000_000,
    )


def open_media(source: MediaSource) -> InputContainer:
    """An input container over bytes or a path (the caller closes it)."""
    av = load_av()
    opened: InputContainer = av.open(
        io.BytesIO(source) if isinstance(source, bytes) else str(source),
        "r",
        metadata_errors="replace",  # a damaged tag must not make the whole file unreadable
    )
    return opened


def codec_name(stream: Stream | None) -> str | None:
    """The stream's codec (``h264``, ``aac``, ``mp3``...); None when there is no decoder."""
    context = stream.codec_context if stream is not None else None
    return context.codec.canonical_name if context is not None else None


def _short_container(demuxer: str, brand: str, kind: MediaKind) -> str:
    if demuxer.startswith("mov,mp4"):
        if kind == "audio":
            return "m4a"
        return "mov" if brand.strip() == "qt" else "mp4"
    if demuxer == "asf":
        return "wma" if kind == "audio" else "asf"
    if demuxer.endswith("_pipe"):
        return demuxer.removesuffix("_pipe")
    return demuxer.split(",")[0]


# An image's container is named after its codec: a path opens through "image2" whatever it is.
_IMAGE_CODECS = {"mjpeg": "jpeg"}


def visible_video(container: InputContainer) -> VideoStream | None:
    """The container's first decodable picture stream, skipping cover art."""
    # Cover art in an mp3 or m4a is a one-frame "video" stream flagged attached_pic.
    for stream in container.streams.video:
        if not stream.disposition & 0x400 and codec_name(stream):  # AV_DISPOSITION_ATTACHED_PIC
            return stream
    return None


def first_audio(container: InputContainer) -> AudioStream | None:
    """The container's first decodable audio stream."""
    return next((s for s in container.streams.audio if codec_name(s)), None)


def _packet_end(container: InputContainer, stream: Stream) -> Fraction:
    """Seconds from the stream's first timestamp to the end of its last packet."""
    first: int | None = None
    end: int | None = None
    for packet in container.demux(stream):
        stamp = packet.pts if packet.pts is not None else packet.dts
        if stamp is None:
            continue
        first = stamp if first is None else min(first, stamp)
        end = max(end if end is not None else stamp, stamp + (packet.duration or 0))
    if first is None or end is None or stream.time_base is None:
        return Fraction(0)
    return (end - first) * stream.time_base


def probe(source: MediaSource, *, role: str = "input") -> MediaInfo:
    """Read one input: `MediaRejected` (naming `role`) for anything that is not media.

    Beyond the header it decodes the first frame (the codec really works) and walks every
    packet of the primary stream without decoding (a file cut short is caught here, not half
    way through building the result).
    """
    av = load_av()
    size = len(source) if isinstance(source, bytes) else Path(source).stat().st_size
    try:
        container = open_media(source)
    except av.FFmpegError as exc:
        reason = exc.strerror or str(exc)
        raise MediaRejected(f"{FAILED}: {role} is not a readable media file ({reason})") from exc
    with container:
        try:
            return _describe(container, size, role)
        except av.FFmpegError as exc:
            reason = exc.strerror or str(exc)
            raise MediaRejected(f"{FAILED}: {role} is damaged or truncated ({reason})") from exc


def _describe(container: InputContainer, size: int, role: str) -> MediaInfo:
    video = visible_video(container)
    audio = first_audio(container)
    demuxer = container.format.name
    image = video is not None and (demuxer.endswith("_pipe") or demuxer == "image2")
    kind: MediaKind = "image" if image else "video" if video else "audio"
    primary = video if video is not None else audio
    if primary is None:
        raise MediaRejected(f"{FAILED}: {role} holds no video or audio stream it can decode")
    codec = codec_name(primary) or ""
    if next(iter(container.decode(primary)), None) is None:
        raise MediaRejected(f"{FAILED}: {role} holds no decodable frame")
    reached = Fraction(0)
    if not image:
        container.seek(0)
        reached = _packet_end(container, primary)
    # Only an MP4/MOV index states a stream's length exactly; elsewhere it is an estimate.
    declared = Fraction(0)
    if demuxer.startswith("mov,mp4") and primary.duration and primary.time_base:
        declared = primary.duration * primary.time_base
    if declared - reached > max(declared / 100, _TRUNCATION_TOLERANCE):
        raise MediaRejected(
            f"{FAILED}: {role} is truncated: its index promises {float(declared):.2f} s "
            f"but its data ends at {float(reached):.2f} s"
        )
    brand = container.metadata.get("major_brand", "")
    return MediaInfo(
        kind=kind,
        container=_IMAGE_CODECS.get(codec, codec)
        if image
        else _short_container(demuxer, brand, kind),
        size=size,
        duration_ms=round(reached * 1000),
        video_codec=codec_name(video),
        audio_codec=codec_name(audio),
        width=video.codec_context.width if video is not None else 0,
        height=video.codec_context.height if video is not None else 0,
    )


_ACCEPTS: dict[Role, MediaKind] = {
    "video_url": "video",
    "audio_url": "audio",
    "reference_face_image_url": "image",
}
_NAMED = {"video": "a video", "audio": "an audio file", "image": "an image"}


def _seconds(ms: int) -> str:
    return f"{ms / 1000:g} s"


def _listed(names: tuple[str, ...]) -> str:
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]


def _size(limit: int) -> str:
    return f"{limit / 1e9:g} GB" if limit >= 1_000_000_000 else f"{limit / 1e6:g} MB"


def violations(role: Role, info: MediaInfo, limits: ModelLimits | None = None) -> list[str]:
    """Every way `info` breaks the model's limits for the field `role`, worded for a client."""
    wanted = _ACCEPTS[role]
    if info.kind != wanted:
        return [f"{role} is {_NAMED[info.kind]} ({info.container}), not {_NAMED[wanted]}"]
    if wanted == "image":
        return []
    rule = (limits or ModelLimits()).video if wanted == "video" else (limits or ModelLimits()).audio
    codec = info.video_codec if wanted == "video" else info.audio_codec
    found = []
    if info.container not in rule.containers:
        found.append(f"{role} is {info.container}; the model accepts {_listed(rule.containers)}")
    if rule.codecs and codec not in rule.codecs:
        found.append(f"{role} is encoded as {codec}; the model accepts {_listed(rule.codecs)}")
    if not rule.duration_ok(info.duration_ms):
        bounds = (
            f"{_seconds(rule.min_ms)} to {_seconds(rule.max_ms)}"
            if rule.inclusive
            else f"more than {_seconds(rule.min_ms)} and less than {_seconds(rule.max_ms)}"
        )
        found.append(f"{role} lasts {_seconds(info.duration_ms)}; the model accepts {bounds}")
    if info.size > rule.max_bytes:
        found.append(
            f"{role} is {info.size:,} bytes; the model accepts at most {_size(rule.max_bytes)}"
        )
    return found


def check_limits(role: Role, info: MediaInfo, limits: ModelLimits | None = None) -> None:
    """`MediaRejected` with every violation in one ``"Task failed: ..."`` message, if any."""
    found = violations(role, info, limits)
    if found:
        raise MediaRejected(f"{FAILED}: " + "; ".join(found))
