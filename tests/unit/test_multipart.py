"""The upload form reader: the `file` part, its names, and every malformation refused with
the provider's 4xx (bounded parts and header sizes)."""

from __future__ import annotations

import pytest

from vidu_lipsync_mock.http.multipart import MAX_PART_HEADER_BYTES, MAX_PARTS, read_file_part
from vidu_lipsync_mock.service.errors import ApiError

TYPE = "multipart/form-data; boundary=XyZ"


def form(*parts: tuple[str, bytes], boundary: str = "XyZ") -> bytes:
    body = b""
    for disposition, data in parts:
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


def refusal(body: bytes, content_type: str | None = TYPE) -> ApiError:
    with pytest.raises(ApiError) as caught:
        read_file_part(body, content_type)
    return caught.value


def test_the_file_part_is_found_among_others() -> None:
    body = form(
        ('form-data; name="note"', b"hello"),
        ('form-data; name="file"; filename="a.png"', b"\x89PNG\r\n--XyZnot-a-boundary"),
    )
    part = read_file_part(body, TYPE)
    assert part.filename == "a.png"
    assert part.data == b"\x89PNG\r\n--XyZnot-a-boundary"


def test_filename_star_wins_and_is_decoded() -> None:
    disposition = 'form-data; name="file"; filename="x.png"; filename*=UTF-8\'\'gr%C3%BC%C3%9F.png'
    assert read_file_part(form((disposition, b"data")), TYPE).filename == "grüß.png"
    quoted = 'form-data; name="file"; filename="a b.png"'
    part = read_file_part(form((quoted, b"")), 'multipart/form-data; boundary="XyZ"')
    assert (part.filename, part.data) == ("a b.png", b"")


@pytest.mark.parametrize(
    ("body", "content_type", "status", "start"),
    [
        (b"{}", "application/json", 415, "Unsupported media type: "),
        (b"", None, 415, "Unsupported media type: "),
        (b"x", "multipart/form-data", 400, "Invalid format: malformed multipart body: no boundary"),
        (b"no parts here", TYPE, 400, "Invalid format: malformed multipart body: no part"),
        (form(('form-data; name="other"', b"x")), TYPE, 400, "Invalid parameters: parameter 'file'"),
        (b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nunclosed", TYPE, 400, "Invalid format"),
        (b"--XyZ\r\n" + b"X: " + b"a" * MAX_PART_HEADER_BYTES + b"\r\n\r\n", TYPE, 400, "Invalid format"),
        (b"--XyZjunk", TYPE, 400, "Invalid format"),
        (form(*[('form-data; name="n"', b"x")] * (MAX_PARTS + 1)), TYPE, 400, "Invalid format"),
    ],
    ids=["json", "none", "no-boundary", "no-part", "no-file", "unclosed", "huge-head", "junk", "many"],
)  # fmt: skip
def test_malformed_forms_are_refused(
    body: bytes, content_type: str | None, status: int, start: str
) -> None:
    error = refusal(body, content_type)
    assert error.status == status
    assert error.message.startswith(start)
