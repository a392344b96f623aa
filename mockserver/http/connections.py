"""Live client connections of a real server, so a fault can break one like a network would.

ASGI gives an app no handle on its socket. The server runner installs a protocol subclass
that registers each transport under the client's address (the same `(host, port)` the ASGI
scope carries), and the public app looks it up to reset it. In-process (no socket), the
registry is empty and the app raises instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from typing import TYPE_CHECKING, Any

from vidu_lipsync_mock.http.transport_limits import TransportLimits, limited_protocol

if TYPE_CHECKING:
    from vidu_lipsync_mock.http.direct import AnswerAtOnce, AnswerBatch

__all__ = ["Connections", "protocol_with_registry"]


class Connections:
    """The open transports by client address, shared by the server's thread and the app."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_peer: dict[tuple[str, int], asyncio.BaseTransport] = {}

    def __len__(self) -> int:
        return len(self._by_peer)

    def register(self, transport: asyncio.BaseTransport) -> None:
        peer = _address(transport.get_extra_info("peername"))
        if peer is not None:
            with self._lock:
                self._by_peer[peer] = transport

    def unregister(
        self, transport: asyncio.BaseTransport, peer: tuple[str, int] | None = None
    ) -> None:
        """`peer`: the address it was registered under, which a TLS transport no longer
        reports once it has closed."""
        peer = peer or _address(transport.get_extra_info("peername"))
        if peer is not None:
            with self._lock:
                if self._by_peer.get(peer) is transport:
                    del self._by_peer[peer]

    def cut(self, peer: Any, *, reset: bool) -> bool:
        """Close the connection politely (FIN) once what was written is flushed, or with
        `reset` abort it with a TCP RST (SO_LINGER 0): the client sees "connection reset by
        peer". False if there is no such socket."""
        transport = self._lookup(peer)
        if transport is None:
            return False
        if not reset:
            transport.close()
            return True
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()  # type: ignore[attr-defined]
        return True

    def has(self, peer: Any) -> bool:
        return self._lookup(peer) is not None

    def _lookup(self, peer: Any) -> asyncio.BaseTransport | None:
        address = _address(peer)
        with self._lock:
            return None if address is None else self._by_peer.get(address)


def _address(peer: Any) -> tuple[str, int] | None:
    """A peer as the registry keys it: `(host, port)` from a scope's or socket's address."""
    if isinstance(peer, (tuple, list)) and len(peer) >= 2:
        return (str(peer[0]), int(peer[1]))
    return None


def protocol_with_registry(
    connections: Connections,
    limits: TransportLimits | None = None,
    direct: AnswerAtOnce | None = None,
    batch: AnswerBatch | None = None,
) -> type[asyncio.Protocol]:
    """uvicorn's fastest available HTTP protocol, registering its connections, with
    `limits` on what each may cost (httptools only: it is part of uvicorn[standard])."""
    base: type[asyncio.Protocol]
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        base = HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools is part of uvicorn[standard]
        from uvicorn.protocols.http.h11_impl import H11Protocol

        base = H11Protocol
    else:
        if limits is not None:
            base = limited_protocol(base, limits, direct, batch)

    class RegisteringProtocol(base):  # type: ignore[valid-type,misc]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            connections.register(transport)

        def connection_lost(self, exc: Exception | None) -> None:
            connections.unregister(self.transport, self.client)
            super().connection_lost(exc)

    return RegisteringProtocol
