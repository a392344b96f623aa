"""The one multipart form the service reads: an upload's single `file` part.

`POST /api/v1/media/files` takes `multipart/form-data` with a part named `file` (the
official CLI sends exactly that, with `filename` and an RFC 5987 `filename*`). No form
library is installed, and a general one would accept more than the service needs, so this
reads only what an upload is: bounded in the number of parts and in each part's header
size, so a hostile body costs at most one pass over bytes already capped by the route's
body limit. Any malformation is the provider's 400 and nothing is stored.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import unquote

from vidu_lipsync_mock.service.errors import ApiError, invalid_format
from vidu_lipsync_mock.service.uploads import file_required, not_multipart

__all__ = ["MAX_PARTS", "MAX_PART_HEADER_BYTES", "FilePart", "read_file_part"]

#: Parts read at most; a form with more is refused.
MAX_PARTS = 16
#: Largest header block of one part.
MAX_PART_HEADER_BYTES = 8192

_BOUNDARY = re.compile(r'boundary=(?:"([^"]{1,70})"|([^\s;"]{1,70}))', re.IGNORECASE)
_PARAM = re.compile(r';\s*([A-Za-z*]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))')


class FilePart(NamedTuple):
    """The uploaded file: the name the client gave it (if any) and its bytes."""

    filename: str | None
    data: bytes


def _malformed(detail: str) -> ApiError:
    return invalid_format(f"malformed multipart body: {detail}")


def _boundary(content_type: str | None) -> bytes:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "multipart/form-data":
        raise not_multipart(media_type or None)
    found = _BOUNDARY.search(content_type or "")
    if found is None:
        raise _malformed("no boundary in Content-Type")
    return (found.group(1) or found.group(2)).encode("latin-1")


def _disposition(head: bytes) -> dict[str, str] | None:
    """The `Content-Disposition` parameters of a part's header block (lower-case names)."""
    for line in head.decode("utf-8", "replace").split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() != "content-disposition":
            continue
        kind, _, rest = value.strip().partition(";")
        if kind.strip().lower() != "form-data":
            return None
        return {
            m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3).strip()
            for m in _PARAM.finditer(";" + rest)
        }
    return None


def _filename(params: dict[str, str]) -> str | None:
    """`filename*` (RFC 5987: `UTF-8''percent-encoded`) wins over `filename`."""
    extended = params.get("filename*")
    if extended:
        charset, _, rest = extended.partition("'")
        _, _, encoded = rest.partition("'")
        try:
            return unquote(encoded, encoding=charset or "utf-8", errors="strict")
        except (LookupError, UnicodeDecodeError):
            pass
    return params.get("filename")


def _closing(body: bytes, marker: bytes, start: int) -> int:
    """Where the part starting at `start` ends: the next CRLF and delimiter followed by a
    line break or `--` (the boundary's text alone inside the data does not end it)."""
    position = body.find(marker, start)
    while position >= 0:
        after = body[position + len(marker) : position + len(marker) + 2]
        if after in (b"\r\n", b"--"):
            return position
        position = body.find(marker, position + 1)
    raise _malformed("a part is not closed by the boundary")


def read_file_part(body: bytes, content_type: str | None) -> FilePart:
    """The `file` part of a form: 415 when the body is not a form, 400 when it is
    malformed, has too many parts or no `file` part."""
    delimiter = b"--" + _boundary(content_type)
    start = body.find(delimiter)
    if start < 0:
        raise _malformed("no part")
    position = start + len(delimiter)
    for _ in range(MAX_PARTS):
        if body.startswith(b"--", position):
            raise file_required()  # the closing delimiter: no part was the file
        if not body.startswith(b"\r\n", position):
            raise _malformed("a delimiter is not followed by a line break")
        head_end = body.find(b"\r\n\r\n", position + 2, position + 4 + MAX_PART_HEADER_BYTES)
        if head_end < 0:
            raise _malformed(f"a part's headers are missing or over {MAX_PART_HEADER_BYTES} bytes")
        params = _disposition(body[position + 2 : head_end])
        data_start = head_end + 4
        data_end = _closing(body, b"\r\n" + delimiter, data_start)
        if params is not None and params.get("name") == "file":
            return FilePart(_filename(params), body[data_start:data_end])
        position = data_end + 2 + len(delimiter)
    raise _malformed(f"more than {MAX_PARTS} parts")
