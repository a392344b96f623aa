"""Files a team uploads (`POST /api/v1/media/files`) to pass as `video_url`/`audio_url`.

The provider hands back a record (`file_id`, `url`, `type`, `filename`, `size`,
`created_at` in Unix ms) whose `url` is a CDN link that works without a key, and deletes a
file on `DELETE /api/v1/media/files/{file_id}`. Its published limits are the defaults: 16
MiB a file, 10 files per team, 2 concurrent uploads, 7-day retention, 429 when full.

A file's kind is told from its first bytes, never from its name or Content-Type: a client
that labels a WAV as `talk.mp4` must meet the refusal the real model would give. Unknown
content gets 415, which the official CLI counts as "definitely rejected". Another team's
file answers the same 404 as an unknown one; on any refusal nothing is stored. Memory is
bounded by the files per team, a byte budget and a file count over all teams.
"""

from __future__ import annotations

import heapq
import re
import threading
import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from vidu_lipsync_mock.service.errors import ApiError, echo
from vidu_lipsync_mock.service.ids import IdSource

__all__ = [
    "FORMATS",
    "Upload",
    "Uploads",
    "clean_filename",
    "file_required",
    "file_too_large",
    "not_multipart",
    "sniff",
]

MIB = 1024 * 1024
WEEK = 7 * 86_400.0
#: The official CLI cuts names to 180 characters; a longer one is cut the same way.
FILENAME_LIMIT = 180


@dataclass(frozen=True)
class MediaFormat:
    """What a file's content says it is: `kind` (video, audio or image), `format` (the
    short name) and `content_type` (what it is served as)."""

    kind: str
    format: str
    content_type: str


FORMATS: Mapping[str, MediaFormat] = {
    fmt.format: fmt
    for fmt in (
        MediaFormat("video", "mp4", "video/mp4"),
        MediaFormat("video", "mov", "video/quicktime"),
        MediaFormat("video", "avi", "video/x-msvideo"),
        MediaFormat("audio", "wav", "audio/wav"),
        MediaFormat("audio", "mp3", "audio/mpeg"),
        MediaFormat("audio", "wma", "audio/x-ms-wma"),
        MediaFormat("audio", "m4a", "audio/mp4"),
        MediaFormat("audio", "aac", "audio/aac"),
        MediaFormat("audio", "ogg", "audio/ogg"),
        MediaFormat("image", "png", "image/png"),
        MediaFormat("image", "jpeg", "image/jpeg"),
        MediaFormat("image", "webp", "image/webp"),
    )
}

_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_RIFF_FORMS = {b"AVI ": "avi", b"WAVE": "wav", b"WEBP": "webp"}
#: Top-level atoms a QuickTime file may start with when it has no `ftyp`.
_QUICKTIME_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")


def _mpeg_audio_frame(head: bytes) -> bool:
    """An MPEG audio frame header (MP3 without an ID3 tag): 11 sync bits, then a version,
    layer, bitrate and sample rate that are not the reserved values."""
    if len(head) < 3 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
    return version != 1 and layer != 0 and bitrate != 15 and rate != 3


def sniff(data: bytes) -> MediaFormat | None:
    """The format the bytes are, by their magic numbers; None when none of ours."""
    name: str | None = None
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        name = "png"
    elif data.startswith(b"\xff\xd8\xff"):
        name = "jpeg"
    elif data.startswith(b"RIFF") and len(data) >= 12:
        name = _RIFF_FORMS.get(data[8:12])
    elif data[4:8] == b"ftyp":
        brand = data[8:12]
        name = "mov" if brand == b"qt  " else "m4a" if brand in (b"M4A ", b"M4B ") else "mp4"
    elif len(data) >= 8 and data[4:8] in _QUICKTIME_ATOMS:
        name = "mov"
    elif data.startswith(b"OggS"):
        name = "ogg"
    elif data.startswith(_ASF_GUID):
        name = "wma"
    elif data.startswith(b"ID3"):
        name = "mp3"
    elif len(data) >= 7 and data[0] == 0xFF and data[1] & 0xF6 == 0xF0:
        # ADTS: the 12-bit sync word, layer 00, then a sampling index that is not reserved
        name = "aac" if (data[2] >> 2) & 15 < 13 else None
    elif _mpeg_audio_frame(data[:3]):
        name = "mp3"
    return None if name is None else FORMATS[name]


_PATH_SEPARATOR = re.compile(r"[/\\]")


def clean_filename(name: str | None, fmt: MediaFormat) -> str:
    """The name a file is kept and served under: the last path segment, NFC, with quotes
    and unprintable characters replaced by `_`, at most 180 characters; `upload.<format>`
    when nothing usable is left."""
    text = _PATH_SEPARATOR.split(unicodedata.normalize("NFC", name or ""))[-1]
    text = "".join(ch if ch.isprintable() and ch != '"' else "_" for ch in text)
    text = text.strip()[:FILENAME_LIMIT].strip()
    return text if text.strip(".") else f"upload.{fmt.format}"


@dataclass(frozen=True)
class Upload:
    """One stored file. `link_token` is the secret part of its key-less link."""

    file_id: str
    team: str
    filename: str
    media: MediaFormat
    size: int
    created_at: float
    expires_at: float
    link_token: str
    data: bytes = field(repr=False)

    @property
    def created_at_ms(self) -> int:
        """What `created_at` is on the wire: Unix milliseconds, as production sends it."""
        return int(self.created_at * 1000)


# -- the provider's refusals, in its vocabulary (see `errors`) ---------------------------


def not_multipart(content_type: str | None) -> ApiError:
    """An upload whose body is not a form: the edge's answer before any part is read."""
    shown = echo(content_type) if content_type else "(none)"
    return ApiError(
        415, f"Unsupported media type: Content-Type must be multipart/form-data, got {shown}"
    )


def file_required() -> ApiError:
    return ApiError(400, "Invalid parameters: parameter 'file' is required")


def file_empty() -> ApiError:
    return ApiError(400, "Invalid parameters: parameter 'file' is empty")


def file_too_large(limit: int) -> ApiError:
    return ApiError(413, f"Request too large: file exceeds {limit} bytes")


def unsupported_file() -> ApiError:
    return ApiError(
        415,
        "Unsupported media type: the file is not a supported video (mp4, mov, avi), audio "
        "(wav, mp3, wma, m4a, aac, ogg) or image (png, jpeg, webp)",
    )


def file_limit_reached(limit: int) -> ApiError:
    return ApiError(
        429, f"Rate limit exceeded: at most {limit} files per team; delete files you no longer need"
    )


def uploads_in_progress(limit: int) -> ApiError:
    return ApiError(429, f"Rate limit exceeded: at most {limit} concurrent uploads per team")


def upload_storage_full(budget: int) -> ApiError:
    return ApiError(
        429,
        f"Rate limit exceeded: upload storage is full ({budget} bytes); delete files you no "
        "longer need",
    )


def file_not_found(file_id: str) -> ApiError:
    return ApiError(
        404, f"Resource not found: file '{echo(file_id)}' does not exist or has expired"
    )


@dataclass(frozen=True)
class UploadStats:
    """Figures for memory reports."""

    files: int
    bytes: int
    teams: int
    in_flight: int
    budget_bytes: int
    max_files: int


class Uploads:
    """Every team's files; thread-safe (one lock), bounded (see the module)."""

    def __init__(
        self,
        ids: IdSource,
        *,
        max_file_bytes: int = 16 * MIB,
        files_per_team: int = 10,
        concurrent_uploads: int = 2,
        retention_seconds: float = WEEK,
        budget_bytes: int = 256 * MIB,
        max_files: int = 10_000,
    ) -> None:
        limits = (max_file_bytes, files_per_team, concurrent_uploads, budget_bytes, max_files)
        if min(limits) < 1 or not retention_seconds >= 0:
            raise ValueError("upload limits must be positive and retention not negative")
        self.ids = ids
        self.max_file_bytes = max_file_bytes
        self.files_per_team = files_per_team
        self.concurrent_uploads = concurrent_uploads
        self.retention_seconds = retention_seconds
        self.budget_bytes = budget_bytes
        self.max_files = max_files
        self._lock = threading.Lock()
        self._files: dict[str, Upload] = {}
        self._by_token: dict[str, str] = {}  # link token -> file id
        self._by_team: dict[str, dict[str, None]] = {}  # team -> its file ids, oldest first
        self._expiry: list[tuple[float, str]] = []  # (expires_at, file id), a heap
        self._in_flight: dict[str, int] = {}
        self._bytes = 0

    @contextmanager
    def slot(self, team: str) -> Iterator[None]:
        """One upload in progress for `team` (held while the edge reads the body); the
        provider's third concurrent upload is refused with 429."""
        with self._lock:
            running = self._in_flight.get(team, 0)
            if running >= self.concurrent_uploads:
                raise uploads_in_progress(self.concurrent_uploads)
            self._in_flight[team] = running + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._in_flight[team] - 1
                if left:
                    self._in_flight[team] = left
                else:
                    del self._in_flight[team]

    def store(self, team: str, filename: str | None, data: bytes, now: float) -> Upload:
        """Keep a file for `team`, or raise the provider's refusal and keep nothing."""
        if not data:
            raise file_empty()
        if len(data) > self.max_file_bytes:
            raise file_too_large(self.max_file_bytes)
        fmt = sniff(data)
        if fmt is None:
            raise unsupported_file()
        with self._lock:
            self._sweep(now)
            if len(self._by_team.get(team, ())) >= self.files_per_team:
                raise file_limit_reached(self.files_per_team)
            if self._bytes + len(data) > self.budget_bytes or len(self._files) >= self.max_files:
                raise upload_storage_full(self.budget_bytes)
            file_id, token = self.ids.file_id(), self.ids.link_token()
            while file_id in self._files or token in self._by_token:  # seeded replays only
                file_id, token = self.ids.file_id(), self.ids.link_token()
            upload = Upload(
                file_id=file_id,
                team=team,
                filename=clean_filename(filename, fmt),
                media=fmt,
                size=len(data),
                created_at=now,
                expires_at=now + self.retention_seconds,
                link_token=token,
                data=bytes(data),
            )
            self._keep(upload)
            if len(self._expiry) > 2 * len(self._files) + 64:  # deleted files' entries
                self._expiry = [(kept.expires_at, kept.file_id) for kept in self._files.values()]
                heapq.heapify(self._expiry)
            return upload

    def restore(self, upload: Upload) -> None:
        """Put back a file a state file kept (its limits were checked when it came)."""
        with self._lock:
            self._keep(upload)

    def _keep(self, upload: Upload) -> None:
        self._files[upload.file_id] = upload
        self._by_token[upload.link_token] = upload.file_id
        self._by_team.setdefault(upload.team, {})[upload.file_id] = None
        heapq.heappush(self._expiry, (upload.expires_at, upload.file_id))
        self._bytes += upload.size

    def get(self, file_id: str, now: float) -> Upload | None:
        """A kept file by id, whoever owns it (the admin view and the state's checks)."""
        with self._lock:
            return self._live(file_id, now)

    def get_by_url_token(self, token: str, now: float) -> Upload | None:
        """The file a link names; no team needed, like a signed CDN link."""
        with self._lock:
            file_id = self._by_token.get(token)
            return None if file_id is None else self._live(file_id, now)

    def linked_data(self, token: str, filename: str, now: float) -> bytes | None:
        """The bytes behind a file's link (`/uploads/<token>/<filename>`), for a task that
        names it as an input; None when no kept file has that link."""
        upload = self.get_by_url_token(token, now)
        return None if upload is None or upload.filename != filename else upload.data

    def owned(self, team: str, file_id: str, now: float) -> Upload:
        """A file of `team`; another team's file is as unknown as a missing one (404)."""
        with self._lock:
            upload = self._live(file_id, now)
            if upload is None or upload.team != team:
                raise file_not_found(file_id)
            return upload

    def delete(self, team: str, file_id: str, now: float) -> Upload:
        """Remove a file of `team` and return it; 404 as `owned` for anything else."""
        with self._lock:
            upload = self._live(file_id, now)
            if upload is None or upload.team != team:
                raise file_not_found(file_id)
            self._drop(upload)
            return upload

    def files(self, team: str, now: float) -> list[Upload]:
        """A team's files, oldest first."""
        with self._lock:
            self._sweep(now)
            return [self._files[file_id] for file_id in self._by_team.get(team, ())]

    def sweep(self, now: float) -> int:
        """Drop expired files; returns how many went."""
        with self._lock:
            return self._sweep(now)

    def stats(self) -> UploadStats:
        with self._lock:
            return UploadStats(
                files=len(self._files),
                bytes=self._bytes,
                teams=len(self._by_team),
                in_flight=sum(self._in_flight.values()),
                budget_bytes=self.budget_bytes,
                max_files=self.max_files,
            )

    def _live(self, file_id: str, now: float) -> Upload | None:
        upload = self._files.get(file_id)
        if upload is not None and upload.expires_at <= now:
            self._drop(upload)
            return None
        return upload

    def _drop(self, upload: Upload) -> None:
        del self._files[upload.file_id]
        del self._by_token[upload.link_token]
        owned = self._by_team[upload.team]
        del owned[upload.file_id]
        if not owned:
            del self._by_team[upload.team]
        self._bytes -= upload.size

    def _sweep(self, now: float) -> int:
        gone = 0
        heap = self._expiry
        while heap and heap[0][0] <= now:
            _, file_id = heapq.heappop(heap)
            upload = self._files.get(file_id)
            if upload is not None and upload.expires_at <= now:
                self._drop(upload)
                gone += 1
        return gone
