"""Fetching a task's input from a host the user allow-listed (`--fetch-allow HOST`).

The real service downloads `video_url` and `audio_url` itself; the mock does so only from
hosts the user names, since a mock that fetched any URL would let whoever reaches it make
it request internal addresses. Every fetch is bounded and checked:

* only ``http(s)`` to an allow-listed ``host`` or ``host:port``, at most `MAX_REDIRECTS`
  redirects, each hop checked like the first;
* the connection goes to the address checked here (no second DNS lookup), and a
  non-public address is refused unless that address itself is listed: listing a *name*
  never opens the private networks it might resolve to;
* at most `max_bytes` are read, and a timer closes the socket after `timeout` seconds, so
  a server trickling bytes cannot hold a builder thread.

A refusal raises `FetchFailed`, whose message echoes only a bounded part of the URL.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from vidu_lipsync_mock.service.errors import echo

__all__ = ["MAX_REDIRECTS", "FetchFailed", "FetchPolicy", "fetch"]

MAX_REDIRECTS = 5
_CHUNK = 1 << 16
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class FetchFailed(Exception):
    """A fetch refused or failed; `reason` says why in a client's words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _host_port(url: str) -> tuple[str, str, int] | None:
    """(scheme, lower-case host, port) of an http(s) URL; None for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


@dataclass(frozen=True)
class FetchPolicy:
    """The allow-list and the bounds of every fetch."""

    allow: frozenset[str]
    max_bytes: int
    timeout: float

    @classmethod
    def of(cls, hosts: Iterable[str], *, max_bytes: int, timeout: float) -> FetchPolicy:
        return cls(frozenset(h.strip().lower() for h in hosts if h.strip()), max_bytes, timeout)

    def allows(self, url: str) -> bool:
        """Whether `url` names an allow-listed host (a string check: nothing is resolved)."""
        if not self.allow:
            return False
        found = _host_port(url)
        if found is None:
            return False
        _, host, port = found
        return host in self.allow or f"{host}:{port}" in self.allow

    def _listed_address(self, address: str, port: int) -> bool:
        return address in self.allow or f"{address}:{port}" in self.allow

    def address_for(self, host: str, port: int) -> str:
        """The address to connect to: every address `host` resolves to must be public,
        unless the address itself is allow-listed."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            raise FetchFailed(f"its host could not be resolved ({error})") from None
        addresses = [str(info[4][0]) for info in infos]
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if not ip.is_global and not self._listed_address(str(ip), port):
                raise FetchFailed(
                    f"its host resolves to a non-public address ({ip}); allow-list that "
                    "address itself to fetch from it"
                )
        if not addresses:
            raise FetchFailed("its host has no address")
        return addresses[0]


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a checked address, verifying the certificate for the URL's host name."""

    def __init__(self, address: str, host: str, port: int, timeout: float) -> None:
        super().__init__(address, port, timeout=timeout, context=ssl.create_default_context())
        self._server_name = host

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        context = ssl.create_default_context()
        self.sock = context.wrap_socket(self.sock, server_hostname=self._server_name)


class _Deadline:
    """Ends a whole fetch, redirects included, after `seconds`: closes the connection in
    use, so a read blocked on a trickling server returns at once."""

    def __init__(self, seconds: float) -> None:
        self.hit = threading.Event()
        self._lock = threading.Lock()
        self._connection: http.client.HTTPConnection | None = None
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def _expire(self) -> None:
        with self._lock:
            self.hit.set()
            if self._connection is not None:
                self._connection.close()

    def using(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if self.hit.is_set():
                connection.close()
            self._connection = connection

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()


def fetch(url: str, policy: FetchPolicy) -> bytes:
    """The body at `url` (an allow-listed host's), following checked redirects."""
    with _Deadline(policy.timeout) as deadline:
        for _ in range(MAX_REDIRECTS + 1):
            if not policy.allows(url):
                raise FetchFailed(f"{echo(url)} is not on an allow-listed host (--fetch-allow)")
            location, body = _get_once(url, policy, deadline)
            if location is None:
                assert body is not None
                return body
            url = urljoin(url, location)
    raise FetchFailed(f"more than {MAX_REDIRECTS} redirects")


def _get_once(
    url: str, policy: FetchPolicy, deadline: _Deadline
) -> tuple[str | None, bytes | None]:
    """One request: (redirect target, None) or (None, body)."""
    found = _host_port(url)
    assert found is not None
    scheme, host, port = found
    address = policy.address_for(host, port)
    timeout = policy.timeout
    connection: http.client.HTTPConnection = (
        _PinnedHTTPS(address, host, port, timeout)
        if scheme == "https"
        else http.client.HTTPConnection(address, port, timeout=timeout)
    )
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    deadline_hit = deadline.hit
    deadline.using(connection)
    try:
        default_port = 443 if scheme == "https" else 80
        connection.putrequest("GET", target, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", host if port == default_port else f"{host}:{port}")
        connection.putheader("User-Agent", "vidu-lipsync-mock")
        connection.endheaders()
        response = connection.getresponse()
        if response.status in _REDIRECTS:
            location = response.getheader("Location")
            if not location:
                raise FetchFailed(f"HTTP {response.status} without a Location")
            return location, None
        if response.status != 200:
            raise FetchFailed(f"HTTP {response.status}")
        declared = response.getheader("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > policy.max_bytes:
            raise FetchFailed(f"it is larger than the fetch limit of {policy.max_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        while chunk := response.read(_CHUNK):
            size += len(chunk)
            if size > policy.max_bytes:
                raise FetchFailed(f"it is larger than the fetch limit of {policy.max_bytes} bytes")
            chunks.append(chunk)
        if deadline_hit.is_set():
            raise FetchFailed(f"it took longer than {policy.timeout:g} s")
        return None, b"".join(chunks)
    except FetchFailed:
        raise
    except (OSError, http.client.HTTPException, ValueError) as error:
        if deadline_hit.is_set() or isinstance(error, TimeoutError):
            raise FetchFailed(f"it took longer than {policy.timeout:g} s") from None
        raise FetchFailed(f"the download failed ({type(error).__name__}: {error})") from None
    finally:
        connection.close()
