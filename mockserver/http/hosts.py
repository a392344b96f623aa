"""Which `Host` names this mock answers to as itself, and the origin it writes into URLs.

A `Host` header is whatever the client wrote. Trusted blindly it lets a web page reach
the admin API by DNS rebinding and puts an attacker's origin into `get_result.url`, where a
client that follows it sends its key. So a Host counts as this mock's own only when it is
well formed (a name or an IP literal, and an optional port) and names a loopback address
or `localhost`; the address the mock binds or the connection arrived at (in-process,
httpx's `ASGITransport` puts the client's base URL there, so a test needs no setting); or
a name of `allowed_hosts` or `public_base_url`.

URLs the mock hands out come from `public_base_url` when set, else from an allowed Host,
else from the address the connection arrived at. Decisions are kept per distinct (Host,
server, scheme, root path) in a bounded dictionary, so the hot path pays one lookup.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from vidu_lipsync_mock.config import MockConfig

__all__ = ["HostPolicy", "host_name", "is_loopback"]

#: A Host value: a name (letters, digits, `.`, `-`, `_`) or a bracketed IPv6 literal, then
#: an optional port. Anything else (`127.0.0.1:1@evil.example`, spaces, a path) is foreign.
_HOST = re.compile(r"(\[[0-9a-f:.]{2,45}\]|[a-z0-9_.-]{1,253})(?::([0-9]{1,5}))?")

_LOOPBACK_NAMES = frozenset({"localhost", "localhost."})


def host_name(value: str) -> str | None:
    """The name part of a Host value, lower-cased (an IPv6 literal keeps its brackets), or
    None when the value is not a well-formed host with an optional port below 65536."""
    match = _HOST.fullmatch(value.lower())
    if match is None or (match[2] is not None and int(match[2]) > 65535):
        return None
    return match[1]


def is_loopback(name: str) -> bool:
    """Whether a host name (IPv6 in brackets or not) is `localhost` or a loopback address."""
    if name.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def _bracketed(address: str) -> str:
    """A host as a Host header names it: lower case, an IPv6 address in brackets."""
    address = address.lower()
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


def _server(scope: Any) -> tuple[str, int | None] | None:
    server = scope.get("server")
    if not server or len(server) != 2 or not isinstance(server[0], str):
        return None
    return server[0], server[1]


class HostPolicy:
    """The allowed names of one configuration, and the decisions made with them."""

    #: Distinct (Host, server, scheme, root path) combinations remembered; past it the
    #: memory is dropped whole, so a client inventing Hosts cannot grow it.
    LIMIT = 256

    def __init__(self, config: MockConfig) -> None:
        self.config = config
        names = {_bracketed(config.host), *(name.lower() for name in config.allowed_hosts)}
        public = config.public_base_url
        self.public_origin = public.rstrip("/") if public else None
        if public:
            public_host = urlsplit(public).hostname
            if public_host:
                names.add(_bracketed(public_host))
        self.names = frozenset(names)
        self._origins: dict[tuple[Any, ...], str] = {}
        self._allowed: dict[tuple[Any, ...], bool] = {}

    def allows(self, host: bytes | None, scope: Any) -> bool:
        """Whether a request's Host names this mock. A request without one (HTTP/1.0)
        cannot come from a browser, and is taken as addressed to the server."""
        if host is None:
            return True
        server = _server(scope)
        key = (host, server)
        known = self._allowed.get(key)
        if known is None:
            known = self._decide(host, server)
            if len(self._allowed) >= self.LIMIT:
                self._allowed.clear()
            self._allowed[key] = known
        return known

    def _decide(self, host: bytes, server: tuple[str, int | None] | None) -> bool:
        name = host_name(host.decode("latin-1"))
        if name is None:
            return False
        if name in self.names or is_loopback(name):
            return True
        return server is not None and name == _bracketed(server[0])

    def origin(self, scope: Any, host: bytes | None) -> str:
        """The origin to write into URLs: the public base URL, the allowed Host, or the
        address the connection arrived at (`localhost` when there is none)."""
        public = self.public_origin
        if public is not None:
            return public
        server = scope.get("server")
        if server.__class__ is list:  # an ASGI server may give a list: not hashable
            server = tuple(server)
        key = (host, server, scope.get("scheme", "http"), scope.get("root_path", ""))
        known = self._origins.get(key)
        if known is None:
            known = self._origin(scope, host)
            if len(self._origins) >= self.LIMIT:
                self._origins.clear()
            self._origins[key] = known
        return known

    def _origin(self, scope: Any, host: bytes | None) -> str:
        scheme = scope.get("scheme", "http")
        root_path = scope.get("root_path", "")
        server = _server(scope)
        if host is not None and self.allows(host, scope):
            netloc = host.decode("latin-1")
        elif server is not None:
            shown = _bracketed(server[0])
            netloc = shown if server[1] is None else f"{shown}:{server[1]}"
        else:
            netloc = "localhost"
        return f"{scheme}://{netloc}{root_path}".rstrip("/")
