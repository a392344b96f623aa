"""The sample media the mock serves, and the byte-range arithmetic for serving it.

Kept free of any HTTP framework so the Python API, the CLI and the tests reach the same
files and the same Range decisions; the edge only turns a `ByteRange` or a
`RangeNotSatisfiable` into status codes and headers.

Range handling follows RFC 9110 section 14; where it leaves a choice, this module does what
the plain object-store CDN behind the real service's result URLs does. An invalid header,
another unit than ``bytes``, a ``last-pos`` below its ``first-pos`` and a request for
several ranges are ignored: the whole file with 200 (building ``multipart/byteranges``
would add code no caller needs). A single range starting at or past the end, or a suffix
of length 0, is not satisfiable: 416 with ``Content-Range: bytes */size``.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

from vidu_lipsync_mock.media.compose import BuiltResult
from vidu_lipsync_mock.media.lipsync import InputDigests
from vidu_lipsync_mock.media.mp4info import Mp4Error, Mp4Info, probe_mp4
from vidu_lipsync_mock.media.pnginfo import PngInfo, probe_png
from vidu_lipsync_mock.service.registry import ResultSpec
from vidu_lipsync_mock.service.uploads import FORMATS

__all__ = [
    "CONTENT_TYPES",
    "SAMPLES_MARKER",
    "ByteRange",
    "MediaFile",
    "MediaLibrary",
    "MediaNotFound",
    "RangeNotSatisfiable",
    "ResultMedia",
    "content_range",
    "content_type_for",
    "parse_range",
]

#: A sample whose presence marks the bundled samples directory (the bundled model's result).
SAMPLES_MARKER = "result.mp4"

#: The samples' types by extension: those of the upload formats they are.
CONTENT_TYPES: dict[str, str] = {
    f".{name}": FORMATS[name].content_type for name in ("mp4", "mp3", "m4a", "wav", "jpeg", "png")
} | {".jpg": "image/jpeg"}

#: What a sample name may not hold: it comes from a URL, and must not leave the directory.
_UNSAFE = ("/", "\\", "\x00", "..")

# Extensions whose bytes are ISO-BMFF and so can be described by `probe_mp4`.
_ISO_BMFF = frozenset({".mp4", ".m4a"})


def content_type_for(name: str) -> str:
    """The media type for a sample name; unknown extensions get the generic binary type."""
    return CONTENT_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")


class MediaNotFound(FileNotFoundError):
    """No sample directory exists where one was expected.

    The message lists every path tried, because the usual cause is a packaging mistake (the
    wheel built without ``_media``) or running from an unexpected checkout, and the paths are
    what tells those apart.
    """

    def __init__(self, tried: tuple[Path, ...]) -> None:
        self.tried = tried
        listed = ", ".join(str(p) for p in tried)
        super().__init__(f"no sample media directory with {SAMPLES_MARKER} found; tried: {listed}")


@dataclass(frozen=True)
class MediaFile:
    """A sample held in memory with everything needed to serve and validate it.

    `etag` is the complete header value, quotes included, derived from the content so it is
    strong and stays stable across restarts (clients may revalidate cached downloads).
    `mp4` is the probed structure for ISO-BMFF files and `png` the header of a PNG; None
    for other formats.
    """

    name: str
    data: bytes = field(repr=False)
    content_type: str
    etag: str
    mp4: Mp4Info | None
    png: PngInfo | None = None

    @property
    def size(self) -> int:
        return len(self.data)


def _default_candidates() -> tuple[Path, ...]:
    package_dir = Path(__file__).resolve().parent.parent
    # The wheel ships the samples inside the package; a source checkout keeps them at the
    # repository root, next to the script that makes them.
    return (package_dir / "_media", package_dir.parent / "fixtures" / "media")


class MediaLibrary:
    """Read-only access to one directory of sample files, cached after first use.

    Samples are a few kilobytes and are served on every download, so each is read from disk
    once and then shared; the lock only guards the caches, never the file read, so a slow disk
    does not serialise unrelated requests.
    """

    def __init__(self, directory: Path | str | None = None) -> None:
        if directory is not None:
            chosen = Path(directory)
            if not chosen.is_dir():
                raise MediaNotFound((chosen,))
        else:
            candidates = _default_candidates()
            found = next((c for c in candidates if (c / SAMPLES_MARKER).is_file()), None)
            if found is None:
                raise MediaNotFound(candidates)
            chosen = found
        self._directory = chosen
        self._lock = threading.Lock()
        self._bytes: dict[str, bytes] = {}
        self._files: dict[str, MediaFile] = {}
        self._results: dict[int, ResultMedia] = {}
        self._built: dict[InputDigests, BuiltResult] = {}

    @property
    def directory(self) -> Path:
        return self._directory

    def __repr__(self) -> str:
        return f"MediaLibrary({str(self._directory)!r})"

    def names(self) -> tuple[str, ...]:
        """Sample files by name, sorted; the generator script and README are not samples."""
        return tuple(
            sorted(
                entry.name
                for entry in self._directory.iterdir()
                if entry.suffix.lower() in CONTENT_TYPES
                and not entry.name.startswith(".")
                and entry.is_file()
            )
        )

    def path(self, name: str) -> Path:
        """The on-disk path of a sample; `KeyError` for anything that is not one.

        Names come from URLs, so anything that could step outside the directory is refused
        before touching the filesystem rather than resolved and checked afterwards.
        """
        unsafe = not name or name.startswith(".") or any(c in name for c in _UNSAFE)
        known = not unsafe and Path(name).suffix.lower() in CONTENT_TYPES
        candidate = self._directory / name
        try:
            found = known and candidate.is_file()
        except OSError:  # a name the filesystem refuses (too long, say) names no sample
            found = False
        if not found:
            raise KeyError(name)
        return candidate

    def read(self, name: str) -> bytes:
        cached = self._bytes.get(name)  # one dict read, atomic: the lock guards the writes
        if cached is not None:
            return cached
        data = self.path(name).read_bytes()
        with self._lock:
            # Another thread may have won the race; keep its copy so every caller shares one.
            return self._bytes.setdefault(name, data)

    def get(self, name: str) -> MediaFile:
        """A sample with its metadata; raises `Mp4Error` (`PngError`) if an MP4 (a PNG)
        sample is corrupt.

        A broken fixture should fail loudly at first use rather than be served to a client
        whose test would then fail for a reason that has nothing to do with its code.
        """
        cached = self._files.get(name)
        if cached is not None:
            return cached
        data = self.read(name)
        suffix = Path(name).suffix.lower()
        built = MediaFile(
            name=name,
            data=data,
            content_type=content_type_for(name),
            etag=f'"{hashlib.sha256(data).hexdigest()[:32]}"',
            mp4=probe_mp4(data) if suffix in _ISO_BMFF else None,
            png=probe_png(data) if suffix == ".png" else None,
        )
        with self._lock:
            return self._files.setdefault(name, built)

    def result(self, spec: ResultSpec) -> ResultMedia:
        """What every successful task of a model hands out, built once per result spec.

        The task answer reports the result's width and height from the sample's video track
        or PNG header, so a sample with neither is a packaging error, not something to
        paper over with made-up numbers.
        """
        # Kept by the spec's identity (hashing its fields costs more than the lookup); an
        # entry holds its spec, so no other object can come to have that id. One dict read,
        # atomic: no lock on the hot path.
        known = self._results.get(id(spec))
        if known is not None:
            return known
        media = self.get(spec.sample)
        if media.mp4 is not None:
            if media.mp4.video is None:
                raise Mp4Error(f"{self.path(spec.sample)}: no video track")
            width, height = media.mp4.video.width, media.mp4.video.height
        elif media.png is not None:
            width, height = media.png.width, media.png.height
        else:
            raise ValueError(f"{self.path(spec.sample)}: a result sample must be an MP4 or PNG")
        if media.content_type != spec.content_type:
            media = replace(media, content_type=spec.content_type)
        built = ResultMedia(spec=spec, file=media, width=width, height=height)
        with self._lock:
            return self._results.setdefault(id(spec), built)

    #: Results built from samples alone kept at most (a few combinations of a few files).
    BUILT_LIMIT = 16

    def built(self, key: InputDigests) -> BuiltResult | None:
        """A result built earlier from samples alone. Kept here, not per mock, because the
        pytest plugin shares one library across a session: the many tests that submit the
        samples' URLs build each combination once."""
        return self._built.get(key)

    def keep_built(self, key: InputDigests, result: BuiltResult) -> None:
        with self._lock:
            if key in self._built or len(self._built) < self.BUILT_LIMIT:
                self._built[key] = result


class RangeNotSatisfiable(ValueError):
    """The single requested range lies wholly outside the representation (HTTP 416)."""

    def __init__(self, header: str, size: int) -> None:
        self.header = header
        self.size = size
        super().__init__(f"range {header!r} not satisfiable for {size} byte(s)")


@dataclass(frozen=True)
class ByteRange:
    """A satisfiable byte range, both ends inclusive as in ``Content-Range``."""

    start: int
    end_inclusive: int

    def __post_init__(self) -> None:
        if self.start < 0 or self.end_inclusive < self.start:
            raise ValueError(f"invalid byte range {self.start}-{self.end_inclusive}")

    @property
    def length(self) -> int:
        return self.end_inclusive - self.start + 1

    @property
    def stop(self) -> int:
        """Exclusive end, so ``data[r.start : r.stop]`` is the body to send."""
        return self.end_inclusive + 1


# RFC 9110 range-spec forms: "first-last", "first-" and "-suffix"; digits are ASCII only
# (str.isdigit would also accept e.g. superscripts, which int() then rejects or misreads).
_RANGE_SPEC = re.compile(r"([0-9]*)-([0-9]*)", re.ASCII)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", re.ASCII)


def _position(digits: str, size: int) -> int:
    """Convert a position, saturating huge values rather than converting thousands of digits.

    Anything longer than the size's own digit count plus one is beyond the end, and Python
    refuses `int()` on very long strings, so such values become `size + 1` (still past it).
    """
    trimmed = digits.lstrip("0") or "0"
    if len(trimmed) > len(str(size)) + 1:
        return size + 1
    return int(trimmed)


def _digits_less(a: str, b: str) -> bool:
    """Compare two decimal strings numerically without converting them."""
    a = a.lstrip("0") or "0"
    b = b.lstrip("0") or "0"
    return (len(a), a) < (len(b), b)


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """Decide what part of a `size`-byte body a Range header asks for.

    Returns None to mean "serve the whole body with 200" (no header, or one the module
    docstring explains is ignored), a `ByteRange` for a single satisfiable range, and raises
    `RangeNotSatisfiable` for a single range wholly past the end.
    """
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    if header is None:
        return None
    unit, sep, range_set = header.strip().partition("=")
    unit = unit.strip()
    if not sep or not _TOKEN.fullmatch(unit) or unit.lower() != "bytes":
        return None
    # A list may carry empty elements ("bytes=0-1,,") which recipients must tolerate.
    specs = [spec.strip(" \t") for spec in range_set.split(",")]
    specs = [spec for spec in specs if spec]
    if len(specs) != 1:
        return None
    match = _RANGE_SPEC.fullmatch(specs[0])
    if match is None:
        return None
    first, last = match.groups()

    if not first:
        if not last:
            return None  # a bare "-" is neither an int-range nor a suffix-range
        suffix = _position(last, size)
        if suffix == 0:
            raise RangeNotSatisfiable(header, size)
        if size == 0:
            # Satisfiable per the RFC, yet there is no byte to name in a Content-Range; the
            # whole (empty) body with 200 is the only coherent answer.
            return None
        return ByteRange(max(0, size - suffix), size - 1)

    if last and _digits_less(last, first):
        return None  # invalid per RFC 9110 14.1.1, hence ignored
    start = _position(first, size)
    if start >= size:
        raise RangeNotSatisfiable(header, size)
    end = size - 1 if not last else min(_position(last, size), size - 1)
    return ByteRange(start, end)


def content_range(r: ByteRange, size: int) -> str:
    """The ``Content-Range`` value for a 206 response."""
    if r.end_inclusive >= size:
        raise ValueError(f"range {r.start}-{r.end_inclusive} exceeds size {size}")
    return f"bytes {r.start}-{r.end_inclusive}/{size}"


@dataclass(frozen=True)
class ResultMedia:
    """A model's result as the download serves it (`file`, under `spec.file_name`) and the
    task answer's resource entry describes it (`spec.type`, `spec.format`, and the size
    read off the file). `duration_ms` is set for a result built from the task's own inputs
    (the resource entry then reports it); the bundled sample's entry has none."""

    spec: ResultSpec
    file: MediaFile
    width: int
    height: int
    duration_ms: int | None = None
