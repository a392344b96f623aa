"""`X-Request-Id`: the id every answer of the mock carries, and the journal shows.

Our addition, not the provider's (its answers carry no such header): a client that logs
the header, or sends its own, can find its request in the journal, the HAR export and the
inspector. A client's own id is kept when it is short and plain (`CLIENT_ID`: at most 128
characters of letters, digits and `._~:/+=@-`); anything else, or no header, gets a new
one, so a hostile header is never echoed.

A new id is the journal's prefix and the request's sequence number: no random draw and no
clock reading on the hot path, unique within a journal and, through the prefix (random, or
drawn from the seed so a seeded run replays byte for byte), across journals. The journal
stores nothing extra: reading an entry works the id out again from the request's headers
and its number, with the same two functions the edge uses.
"""

from __future__ import annotations

import random
import re
import secrets
from collections.abc import Sequence

__all__ = ["CLIENT_ID", "REQUEST_ID", "id_prefix", "request_id", "request_id_of"]

#: The header, as ASGI names it.
REQUEST_ID = b"x-request-id"

#: A client's id the mock keeps (and echoes): plain, short, printable.
CLIENT_ID = re.compile(rb"[A-Za-z0-9._~:/+=@-]{1,128}")

_client_id = CLIENT_ID.fullmatch


def id_prefix(seed: int | None) -> bytes:
    """The prefix of a journal's new ids: `req-` and eight hex digits, random, or drawn
    from `seed`."""
    bits = (
        secrets.randbits(32) if seed is None else random.Random(f"requests:{seed}").getrandbits(32)
    )
    return b"req-%08x-" % bits


def request_id(client: bytes | None, seq: int, prefix: bytes) -> bytes:
    """The id of request number `seq`: the client's own when it is plain, else a new one."""
    if client is not None and _client_id(client) is not None:
        return client
    return b"%s%d" % (prefix, seq)


def request_id_of(headers: Sequence[tuple[bytes, bytes]], seq: int, prefix: bytes) -> str:
    """The id a stored request was answered with (its first `x-request-id` header)."""
    client = next((value for name, value in headers if name == REQUEST_ID), None)
    return request_id(client, seq, prefix).decode("ascii")
