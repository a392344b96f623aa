"""Building a task's result: the input video's picture with the replacement audio as its sound.

The mock cannot move lips, but it can hand back what a client's pipeline would receive from
the real model: an H.264 + AAC MP4 with the input's picture size that lasts as long as the
audio, to the frame. Work is kept to what the inputs force:

* H.264 video and AAC audio are copied packet for packet; anything else is re-encoded.
* The audio sets the length. A longer video is cut; a shorter one is LOOPED, because a
  lip-sync result covers every second of speech and a frozen last frame would show a still
  face talking. A re-encoded video is cut at the frame nearest the end; a copied one at
  the nearest point no kept frame needs a dropped one from (see `_Replay.copied`).
* Without a replacement audio the input's own audio (if any) stays and nothing is cut.

The muxer writes through a temporary file only because moving the index to the front
(``faststart``, which a progressive download needs) re-reads the file by name.
"""

from __future__ import annotations

import math
import tempfile
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING

from vidu_lipsync_mock.media.probe import (
    FAILED,
    MediaInfo,
    MediaRejected,
    MediaSource,
    ModelLimits,
    check_limits,
    codec_name,
    first_audio,
    load_av,
    open_media,
    probe,
    visible_video,
)

if TYPE_CHECKING:
    from typing import Any, TypeAlias

    from av.audio.stream import AudioStream
    from av.container import InputContainer, OutputContainer
    from av.packet import Packet

    AnyPacket: TypeAlias = Packet[Any]
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream

__all__ = ["BuiltResult", "build_result", "compose"]

# The encoder settings used when a stream must be re-encoded: fast, and good enough to look at.
_X264_OPTIONS = {"preset": "veryfast", "crf": "23"}
_AAC_OPTIONS = {"aac_coder": "fast"}
# How many packets later, in decode order, a frame shown earlier can still come (H.264 keeps
# at most 16 reference frames).
_REORDER_LOOKAHEAD = 16
# The sampling rates AAC defines; audio at any other rate is resampled to 48 kHz.
_AAC_RATES = frozenset(
    {96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}
)


@dataclass(frozen=True)
class BuiltResult:
    """A result video and what its resource entry reports, read back off the built file."""

    data: bytes = field(repr=False)
    width: int
    height: int
    duration_ms: int
    video_copied: bool
    audio_copied: bool
    format: str = "mp4"


def build_result(
    video: MediaSource,
    audio: MediaSource | None = None,
    image: MediaSource | None = None,
    *,
    limits: ModelLimits | None = None,
) -> BuiltResult:
    """Probe and check every input against the model's limits, then `compose` the result.

    Raises `MediaRejected` with the task's error message for anything the model would refuse
    (or that breaks while building); the reference image is only checked, as the mock draws
    no face.
    """
    video_info = probe(video, role="video_url")
    check_limits("video_url", video_info, limits)
    if audio is not None:
        check_limits("audio_url", probe(audio, role="audio_url"), limits)
    if image is not None:
        face = probe(image, role="reference_face_image_url")
        check_limits("reference_face_image_url", face, limits)
    av = load_av()
    try:
        return compose(video, audio)
    except av.FFmpegError as exc:
        reason = exc.strerror or str(exc)
        raise MediaRejected(f"{FAILED}: the result could not be built ({reason})") from exc


def compose(video: MediaSource, audio: MediaSource | None = None) -> BuiltResult:
    """The result MP4 for readable inputs, without checking the model's limits."""
    av = load_av()
    with tempfile.TemporaryDirectory(prefix="lipsync-") as folder:
        target = Path(folder) / "result.mp4"
        with ExitStack() as stack:
            out = stack.enter_context(
                av.open(str(target), "w", format="mp4", options={"movflags": "+faststart"})
            )
            sound = open_media(audio if audio is not None else video)
            stack.enter_context(sound)
            sound_stream = first_audio(sound)
            template = stack.enter_context(open_media(video))
            picture = visible_video(template)
            if picture is None:
                raise MediaRejected(f"{FAILED}: video_url holds no video stream")
            copy_video = codec_name(picture) == "h264"
            video_out = _video_output(out, picture, copy=copy_video)
            audio_packets, end, copy_audio = (
                _audio_packets(out, sound, sound_stream) if sound_stream else ([], None, False)
            )
            # Without a replacement audio the input keeps its own length.
            replay = _Replay(video, end if audio is not None else None, opened=template)
            video_packets = replay.copied(video_out) if copy_video else replay.encoded(video_out)
            _interleave(out, video_packets, audio_packets)
        data = target.read_bytes()
    info: MediaInfo = probe(data, role="result")
    return BuiltResult(
        data=data,
        width=info.width,
        height=info.height,
        duration_ms=info.duration_ms,
        video_copied=copy_video,
        audio_copied=copy_audio,
    )


def _video_output(out: OutputContainer, picture: VideoStream, *, copy: bool) -> VideoStream:
    if copy:
        copied: VideoStream = out.add_stream_from_template(picture)
        return copied
    rate = picture.average_rate or picture.guessed_rate or Fraction(25)
    encoder: VideoStream = out.add_stream("libx264", rate=rate, options=_X264_OPTIONS)
    encoder.width = picture.codec_context.width // 2 * 2  # 4:2:0 needs even dimensions
    encoder.height = picture.codec_context.height // 2 * 2
    encoder.pix_fmt = "yuv420p"
    encoder.codec_context.time_base = picture.time_base or 1 / rate
    return encoder


def _audio_packets(
    out: OutputContainer, sound: InputContainer, stream: AudioStream
) -> tuple[list[AnyPacket], Fraction, bool]:
    """The result's audio packets, the time its sound ends (s), and whether they were copied.

    All of it is produced before any video so the video knows where to stop; a compressed
    track of ten minutes is a few megabytes.
    """
    if codec_name(stream) == "aac":
        copied = out.add_stream_from_template(stream)
        packets = [p for p in sound.demux(stream) if p.dts is not None]
        for packet in packets:
            packet.stream = copied
        ends = [(p.pts if p.pts is not None else p.dts or 0) + (p.duration or 0) for p in packets]
        return packets, max(ends, default=0) * (stream.time_base or Fraction(0)), True
    rate = stream.rate if stream.rate in _AAC_RATES else 48000
    layout = "mono" if stream.channels == 1 else "stereo"
    encoder: AudioStream = out.add_stream("aac", rate=rate, layout=layout, options=_AAC_OPTIONS)
    packets, samples = [], 0
    for frame in sound.decode(stream):
        samples += frame.samples
        frame.pts = None  # the encoder counts samples itself, gap-free from zero
        packets.extend(encoder.encode(frame))
    packets.extend(encoder.encode(None))
    return packets, Fraction(samples, stream.rate or 1), False


def _interleave(out: OutputContainer, video: Iterator[AnyPacket], audio: list[AnyPacket]) -> None:
    """Mux both tracks in time order, so a player downloading the file gets both at once."""
    pending = iter(audio)
    waiting = next(pending, None)
    for packet in video:
        now = _seconds(packet)
        while waiting is not None and _seconds(waiting) <= now:
            out.mux(waiting)
            waiting = next(pending, None)
        out.mux(packet)
    while waiting is not None:
        out.mux(waiting)
        waiting = next(pending, None)


def _seconds(packet: AnyPacket) -> float:
    stamp = packet.dts if packet.dts is not None else packet.pts
    return (stamp or 0) * float(packet.time_base or 0)


class _Replay:
    """The input video's packets back to back until `end` seconds (one play when None).

    Each replay opens the input afresh and is shifted by the video's length, measured from its
    first presentation time to the end of its last frame, so timestamps keep rising.
    """

    def __init__(
        self, source: MediaSource, end: Fraction | None, *, opened: InputContainer
    ) -> None:
        self._source = source
        self._opened: InputContainer | None = opened  # the first play reads this one
        self._end = end
        self._shift = 0
        self._origin: int | None = None
        # The end as a presentation time relative to the origin, in the stream's time base.
        self._stop: int | None = None
        self._frame = 1
        self._cut = False

    def _plays(self) -> Iterator[tuple[VideoStream, Iterator[AnyPacket]]]:
        while True:
            container, self._opened = self._opened or open_media(self._source), None
            with container:
                stream = visible_video(container)
                if stream is None or stream.time_base is None:
                    raise MediaRejected(f"{FAILED}: video_url holds no video stream")
                rate = stream.average_rate or stream.guessed_rate or Fraction(25)
                self._frame = max(1, round(1 / (rate * stream.time_base)))
                if self._end is not None:
                    self._stop = math.ceil(self._end / stream.time_base)
                yield stream, self._shifted(container, stream)
            if self._end is None:
                return

    def _shifted(self, container: InputContainer, stream: VideoStream) -> Iterator[AnyPacket]:
        reach = None
        for packet in container.demux(stream):
            pts = packet.pts if packet.pts is not None else packet.dts
            if pts is None:
                continue  # the demuxer's end-of-stream marker
            dts = packet.dts if packet.dts is not None else pts
            if self._origin is None:
                self._origin = pts
            reach = max(reach or pts, pts + (packet.duration or self._frame))
            packet.pts, packet.dts = (
                pts + self._shift - self._origin,
                dts + self._shift - self._origin,
            )
            packet.duration = packet.duration or self._frame
            yield packet
        span = (reach or 0) - (self._origin or 0)
        if span <= 0:
            raise MediaRejected(f"{FAILED}: video_url holds no frames to replay")
        self._shift += span

    def copied(self, target: VideoStream) -> Iterator[AnyPacket]:
        """Copied packets, cut at the clean point nearest the end.

        A clean point is a place in decode order before which exactly the first frames in
        presentation order lie: cutting there keeps every kept frame's references and leaves
        no hole. Without reordered (B) frames every frame boundary is one, so the cut is at
        the nearest frame; with them, at the nearest end of a group of reordered frames.
        """
        ahead: deque[AnyPacket] = deque()
        held: list[AnyPacket] = []
        top = reach = previous = 0
        for _, packets in self._plays():
            for packet in chain(packets, [None]):
                if packet is not None:
                    packet.stream = target
                    ahead.append(packet)
                    if len(ahead) <= _REORDER_LOOKAHEAD:
                        continue
                while ahead and (packet is None or len(ahead) > _REORDER_LOOKAHEAD):
                    current = ahead.popleft()
                    held.append(current)
                    top = max(top, current.pts or 0)
                    reach = max(reach, (current.pts or 0) + (current.duration or 0))
                    if any((p.pts or 0) < top for p in ahead):
                        continue  # a frame shown earlier is still to come
                    if self._stop is None or reach <= self._stop:
                        yield from held
                        held.clear()
                        previous = reach
                        continue
                    if reach - self._stop < self._stop - previous:
                        yield from held
                    return

    def encoded(self, target: VideoStream) -> Iterator[AnyPacket]:
        """Decoded, cut at the frame nearest the end, and encoded to H.264."""
        for stream, packets in self._plays():
            for packet in chain(self._until_end(packets), [None]):
                for frame in stream.codec_context.decode(packet):
                    if not self._past_end(frame.pts):
                        yield from target.encode(_fit(frame, target))
            if self._cut:
                break
        yield from target.encode(None)

    def _until_end(self, packets: Iterator[AnyPacket]) -> Iterator[AnyPacket]:
        for packet in packets:
            if self._past_end(packet.dts):
                self._cut = True  # decode order: nothing later is shown before the end
                return
            yield packet
        self._cut = self._end is None

    def _past_end(self, pts: int | None) -> bool:
        # A frame is kept when more than half of it lies before the end.
        if self._stop is None or pts is None:
            return False
        return 2 * (pts - self._stop) + self._frame > 0


def _fit(frame: VideoFrame, target: VideoStream) -> VideoFrame:
    fitted = frame.reformat(width=target.width, height=target.height, format="yuv420p")
    fitted.pts = frame.pts
    return fitted
