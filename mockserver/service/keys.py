"""API keys as the provider checks them: `Authorization: Bearer mdlx-…`.

By default any well-formed key is accepted, so a test can invent keys freely; an
allow-list makes the mock as strict as a real account. A malformed key is refused either
way, because the real service refuses it and a client that only works with a sloppy key
must not pass here.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import string
from collections.abc import Iterable

from vidu_lipsync_mock.service.errors import authentication_failed

__all__ = [
    "KEY_PATTERN",
    "KeyPolicy",
    "bearer_token",
    "key_fingerprint",
    "make_api_key",
    "redact",
    "redact_keys_in",
]

#: `mdlx-` and about 48 letters and digits; we accept 32 to 64 so near-miss lengths of real
#: keys pass while obviously fake ones (`mdlx-test`) do not.
KEY_PATTERN = re.compile(r"mdlx-[A-Za-z0-9]{32,64}")

_ALPHABET = string.ascii_letters + string.digits


def make_api_key(seed_text: str | None = None) -> str:
    """A well-formed key; with `seed_text`, a readable one (`mdlx-alice000…`)."""
    if seed_text is None:
        return "mdlx-" + "".join(secrets.choice(_ALPHABET) for _ in range(48))
    body = "".join(ch for ch in seed_text if ch in _ALPHABET)[:48]
    return "mdlx-" + body.ljust(48, "0")


def bearer_token(value: str | None) -> str | None:
    """The token of a `Bearer` authorization value, or None."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def redact(key: str) -> str:
    """What the journal and logs show of a key: enough to tell keys apart, not to use one."""
    return "***" if len(key) < 24 else f"{key[:9]}…{key[-4:]}"


_KEY_IN_TEXT = re.compile(KEY_PATTERN.pattern.encode())


def redact_keys_in(text: bytes) -> bytes:
    """`text` with every well-formed key in it redacted: the last line of defence for
    free text an answer carries (a task's params, a traceback, a journaled body)."""
    if b"mdlx-" not in text:
        return text
    return _KEY_IN_TEXT.sub(lambda found: redact(found[0].decode()).encode(), text)


@functools.lru_cache(maxsize=4096)
def key_fingerprint(key: str) -> str:
    """A stable, non-reversible id of a key, so the journal can tell keys apart (and a
    test can filter by key) even where the redacted forms look alike."""
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:16]


class KeyPolicy:
    """Decides whether an `Authorization` header value is let in, and as which key."""

    #: Accepted header values remembered, so a client's every request after its first is
    #: one dictionary lookup; the memory is dropped whole when it grows past this.
    KNOWN_LIMIT = 4096

    def __init__(self, allowed: Iterable[str] | None = None) -> None:
        self.allowed: frozenset[str] | None = None if allowed is None else frozenset(allowed)
        self._known: dict[str, str] = {}

    def authenticate(self, header: str | None) -> str:
        """The key, or the provider's one 401 message for missing, malformed and unknown."""
        if header is None:
            raise authentication_failed()
        known = self._known
        token = known.get(header)
        if token is None:
            token = self._check(header)
            if len(known) >= self.KNOWN_LIMIT:
                known.clear()
            known[header] = token
        return token

    def _check(self, header: str) -> str:
        token = bearer_token(header)
        if token is None or not KEY_PATTERN.fullmatch(token):
            raise authentication_failed()
        if self.allowed is not None and token not in self.allowed:
            raise authentication_failed()
        return token
