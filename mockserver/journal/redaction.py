"""What the journal shows of a key: `keys.redact`'s form, wherever the key was sent.

The provider reads a key from `Authorization: Bearer …` alone, but clients put keys in
other places by mistake (`?api_key=`, `X-Api-Key`, a Bearer token in the wrong header),
and a journal read by a test report or over `/_mock/journal` must never hand one out. So
every text an entry shows passes through here when it is read: the secret header and
query values are redacted whole, and anything that looks like a key (`mdlx-…`) is
redacted wherever it appears, bodies and paths included.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from vidu_lipsync_mock.service.keys import bearer_token, redact

__all__ = [
    "SECRET_HEADER_ENDINGS",
    "SECRET_PARAMETERS",
    "redacted_header",
    "redacted_headers",
    "redacted_query",
    "redacted_text",
]

#: Query parameters whose values are shown redacted whatever they hold (case-insensitive).
SECRET_PARAMETERS = frozenset({"api_key", "apikey", "key", "token", "access_token"})

#: Header names whose whole value is shown redacted: the usual places for a key other
#: than `Authorization` (which shows its scheme), by their endings (`x-api-key`,
#: `x-goog-api-key`, `x-auth-token`, …).
SECRET_HEADER_ENDINGS = ("api-key", "apikey", "api_key", "-token", "-secret", "authorization")

#: A key anywhere in a text.
_KEY = re.compile(r"mdlx-[A-Za-z0-9]+")

#: A key, or a Bearer token, anywhere in a header's value.
_KEY_OR_BEARER = re.compile(r"(?i)(\bbearer\s+)([^\s,;]+)|mdlx-[A-Za-z0-9]+")


def _key_or_bearer(match: re.Match[str]) -> str:
    scheme = match.group(1)
    if scheme is None:
        return redact(match.group(0))
    return scheme + redact(match.group(2))


def redacted_text(text: str) -> str:
    """`text` with every key in it redacted."""
    return _KEY.sub(lambda match: redact(match.group(0)), text) if "mdlx-" in text else text


def redacted_header(name: str, value: str) -> str:
    """What an entry shows of a request header (`name` in lower case)."""
    if name == "authorization":
        token = bearer_token(value)
        return f"Bearer {redact(token)}" if token else "***"
    if name.endswith(SECRET_HEADER_ENDINGS):
        token = bearer_token(value)
        return f"Bearer {redact(token)}" if token else redact(value.strip())
    return _KEY_OR_BEARER.sub(_key_or_bearer, value)


def redacted_headers(headers: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    """Request headers as an entry shows them: decoded, the last of a repeated name."""
    shown: dict[str, str] = {}
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1").lower()
        shown[name] = redacted_header(name, raw_value.decode("latin-1"))
    return shown


def redacted_query(query: str) -> str:
    """A query string with the value of each secret parameter, and every key, redacted."""
    if not query:
        return query
    parts = []
    for part in query.split("&"):
        name, equals, value = part.partition("=")
        secret = equals and name.lower() in SECRET_PARAMETERS
        parts.append(f"{name}={redact(value)}" if secret else redacted_text(part))
    return "&".join(parts)
