"""The door of the admin API (`/_mock/*`): who may drive a running mock.

The admin API resets state, adds faults and reads the journal, so neither a web page the
developer happens to visit nor a machine on the network may use it. Each admin request is
checked, in this order, before any handler runs:

1. its `Host` must be one of the mock's own names (`hosts.HostPolicy`), against DNS
   rebinding (403);
2. it must not come from another origin: a foreign `Origin`, or `Sec-Fetch-Site` of
   `cross-site` or `same-site` (403);
3. with `admin_token` set, it must carry `X-Mock-Admin-Token` with that token (401 when
   missing, 403 when wrong; compared in constant time);
4. a write with a body or a `Content-Type` must be JSON (415): a cross-site form or
   `text/plain` fetch, which a browser sends without asking first, is never acted on.

`/_mock/health` is open to everyone, for readiness probes. The runner asks `exposure`
before it listens: binding beyond loopback needs a token.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from starlette.types import Scope

from vidu_lipsync_mock.config import ConfigError, MockConfig
from vidu_lipsync_mock.http.hosts import HostPolicy, host_name, is_loopback
from vidu_lipsync_mock.service.admission import is_json_type
from vidu_lipsync_mock.service.errors import ApiError, echo, unsupported_media_type
from vidu_lipsync_mock.state import MockState

__all__ = ["TOKEN_HEADER", "AdminGuard", "exposure"]

#: The header that carries the admin token.
TOKEN_HEADER = "X-Mock-Admin-Token"

_TOKEN = TOKEN_HEADER.lower().encode()
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SAME_ORIGIN_FETCH = (b"same-origin", b"none")
_READ = (b"host", b"origin", b"sec-fetch-site", _TOKEN, b"content-type", b"content-length")


def exposure(config: MockConfig, host: str) -> str | None:
    """Before listening on `host`: None on loopback; with a token, the warning to print;
    without one, a `ConfigError` naming `--admin-token`."""
    name = host_name(host) or host_name(f"[{host}]") or host
    if is_loopback(name):
        return None
    if config.admin_token is None:
        raise ConfigError(
            f"listening on {host} makes the admin API (/_mock: reset, faults, journal) "
            "reachable from the network; set --admin-token TOKEN (TOML: admin_token) so "
            f"that it needs the {TOKEN_HEADER} header, or bind 127.0.0.1"
        )
    return (
        f"warning: the admin API (/_mock) is reachable from the network on {host}; every "
        f"request to it but /_mock/health needs the {TOKEN_HEADER} header"
    )


def _first(raw: Sequence[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """The first value of each header the guard reads."""
    found: dict[bytes, bytes] = {}
    for name, value in raw:
        if name in _READ and name not in found:
            found[name] = value
    return found


class AdminGuard:
    """The four checks, against the state's current settings."""

    def __init__(self, state: MockState, open_path: str) -> None:
        self.state = state
        self.open_path = open_path
        self._hosts = HostPolicy(state.config)

    def hosts(self) -> HostPolicy:
        """The host policy of the current settings (a test's fixture may replace them)."""
        if self._hosts.config is not self.state.config:
            self._hosts = HostPolicy(self.state.config)
        return self._hosts

    def refusal(self, scope: Scope, local_path: str) -> ApiError | None:
        """Why this admin request is refused, or None to let it through. The health
        check is always let through: readiness probes come from anywhere, under any name,
        and it changes nothing and shows only counts."""
        if local_path == self.open_path:
            return None
        headers = _first(scope["headers"])
        hosts = self.hosts()
        host = headers.get(b"host")
        if not hosts.allows(host, scope):
            shown = echo((host or b"").decode("latin-1"))
            return ApiError(
                403,
                f"Forbidden: the admin API answers only to the mock's own host names, not "
                f"'{shown}' (add a name with --allowed-host)",
            )
        origin = headers.get(b"origin")
        if origin is not None and not self._own_origin(origin, scope, host):
            shown = echo(origin.decode("latin-1"))
            return ApiError(403, f"Forbidden: cross-origin request from '{shown}'")
        site = headers.get(b"sec-fetch-site")
        if site is not None and site.lower() not in _SAME_ORIGIN_FETCH:
            return ApiError(403, "Forbidden: cross-site request (Sec-Fetch-Site)")
        token = self.state.config.admin_token
        if token is not None:
            given = headers.get(_TOKEN)
            if given is None:
                return ApiError(401, f"Authentication failed: missing {TOKEN_HEADER} header")
            if not hmac.compare_digest(given, token.encode()):
                return ApiError(403, f"Forbidden: wrong {TOKEN_HEADER}")
        if scope["method"] in _WRITES:
            content_type = headers.get(b"content-type")
            if content_type is not None:
                text = content_type.decode("latin-1")
                if not is_json_type(text):
                    return unsupported_media_type(text.split(";", 1)[0].strip().lower())
            elif headers.get(b"content-length", b"0") != b"0" or _chunked(scope):
                return unsupported_media_type("")
        return None

    def _own_origin(self, origin: bytes, scope: Scope, host: bytes | None) -> bool:
        """Whether `Origin` is the mock's own: the scheme and Host this request used, or
        the public base URL's origin."""
        shown = origin.decode("latin-1").lower()
        scheme = scope.get("scheme", "http")
        if host is not None and shown == f"{scheme}://{host.decode('latin-1').lower()}":
            return True
        public = self.hosts().public_origin
        return public is not None and shown == _origin_of(public)


def _chunked(scope: Scope) -> bool:
    return any(name == b"transfer-encoding" for name, _ in scope["headers"])


def _origin_of(url: str) -> str:
    scheme, _, rest = url.lower().partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"
