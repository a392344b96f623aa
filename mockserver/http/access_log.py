"""The optional request log of a real server (`access_log`): one line per request.

uvicorn's own access log prints the query string as it came, and a client that passes its
key as `?api_key=...` would leave the key in a log a team shares. This one prints the raw
(still percent-encoded, so one-line) path, the query with the values of key-like
parameters replaced, and never a header; it also gives the time taken, which uvicorn's
does not. It wraps the app only when asked for, so a server without it pays nothing.
"""

from __future__ import annotations

import time
from typing import TextIO

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SECRET_PARAMETERS", "AccessLog", "log_line", "redacted_query"]

#: Query parameters whose values never reach the log (compared case-insensitively).
SECRET_PARAMETERS = frozenset({"api_key", "apikey", "key", "token", "access_token"})
REDACTED = "[redacted]"


def redacted_query(query: bytes) -> str:
    """The query string with the value of every secret parameter replaced."""
    parts = []
    for part in query.decode("ascii", "backslashreplace").split("&"):
        name, equals, _ = part.partition("=")
        parts.append(f"{name}={REDACTED}" if equals and name.lower() in SECRET_PARAMETERS else part)
    return "&".join(parts)


def log_line(scope: Scope, status: int, seconds: float, wall_time: float) -> str:
    """`<UTC time> <client> <METHOD> <path>[?query] <status> <ms>ms`; status `-` when the
    connection ended before any answer (a reset fault, a client gone)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(wall_time))
    client = scope.get("client")
    peer = f"{client[0]}:{client[1]}" if client else "-"
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    target = raw_path.decode("ascii", "backslashreplace")
    query: bytes = scope.get("query_string", b"")
    if query:
        target += "?" + redacted_query(query)
    shown = str(status) if status else "-"
    millis = int(wall_time * 1000) % 1000
    return f"{stamp}.{millis:03d}Z {peer} {scope['method']} {target} {shown} {seconds * 1000:.1f}ms"


class AccessLog:
    """An ASGI wrapper that writes `log_line` for each HTTP request once it ends."""

    def __init__(self, app: ASGIApp, stream: TextIO) -> None:
        self.app = app
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wall_time = time.time()
        started = time.perf_counter()
        status = 0

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            line = log_line(scope, status, time.perf_counter() - started, wall_time)
            print(line, file=self.stream, flush=True)
