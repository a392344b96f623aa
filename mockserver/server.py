"""A real uvicorn server for one app, in a background thread, on a port of its own.

Out-of-process clients need a socket. It is bound before uvicorn starts, so port 0 yields a
free port known before the first request, and two servers in one process never race for
one. `stop()` closes the socket and joins the thread, so start/stop cycles leak neither. A
mock whose settings ask for TLS is served over HTTPS (`vidu_lipsync_mock.tls`).
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from vidu_lipsync_mock.config import MockConfig
from vidu_lipsync_mock.http.access_log import AccessLog
from vidu_lipsync_mock.http.connections import Connections, protocol_with_registry
from vidu_lipsync_mock.http.transport_limits import TransportLimits
from vidu_lipsync_mock.tls import ServerCertificate, server_certificate, wants_tls

__all__ = ["ServerThread", "bind_socket", "loaded_config", "url_for", "uvicorn_config"]


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def url_for(host: str, port: int, scheme: str = "http") -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


def _config_of(app: ASGIApp) -> MockConfig | None:
    """The settings of a mock's app (None for any other app)."""
    config = getattr(getattr(getattr(app, "state", None), "mock", None), "config", None)
    return config if isinstance(config, MockConfig) else None


def _closing_idle_tls_at_once(base: type[Any]) -> type[Any]:
    """`base` with its idle connections dropped, not closed, when the server stops or their
    keep-alive time is up. A TLS close waits for the client's answering close_notify
    (asyncio gives it 30 s), which a client's idle pooled connection never sends: the
    server would wait out its whole shutdown time, then leave the sockets open."""

    class ClosingIdleTlsAtOnce(base):  # type: ignore[misc]
        def shutdown(self) -> None:
            if self.cycle is None or self.cycle.response_complete:
                self.transport.abort()
            else:
                super().shutdown()

        def timeout_keep_alive_handler(self) -> None:
            if not self.transport.is_closing():
                self.transport.abort()

    return ClosingIdleTlsAtOnce


def uvicorn_config(
    app: ASGIApp,
    log_level: str = "warning",
    shutdown_seconds: float = 2.0,
    certificate: ServerCertificate | None = None,
) -> uvicorn.Config:
    """uvloop and httptools when installed (the `[standard]` extra): same app, 3x faster.

    For a mock's app, the HTTP protocol registers each connection (so a fault can break a
    client's socket) and bounds what it may cost (`transport_limits`); `access_log` wraps
    the app in the request log. With a `certificate` it serves HTTPS: asyncio's TLS layer
    hands the protocol decrypted bytes, so the limits and the registry work the same.
    """
    connections = getattr(getattr(app, "state", None), "connections", None)
    config = _config_of(app)
    http: Any = "auto"
    keep_alive = 5.0 if config is None else config.keep_alive_seconds
    if isinstance(connections, Connections):
        limits = None if config is None else TransportLimits.of(config)
        # Answers written from the protocol skip the app's wrappers: not with the access
        # log's, nor with uvicorn's message log (trace).
        direct = getattr(app, "answer_at_once", None)
        if config is None or config.access_log or log_level == "trace":
            direct = None
        batch = getattr(app, "answer_batch", None)
        http = protocol_with_registry(connections, limits, direct, batch)
        if certificate is not None:
            http = _closing_idle_tls_at_once(http)
    if config is not None and config.access_log:
        app = AccessLog(app, sys.stdout)
    return uvicorn.Config(
        app,
        loop="auto",
        http=http,
        ws="none",
        lifespan="off",
        log_level=log_level,
        access_log=False,
        timeout_keep_alive=keep_alive,  # type: ignore[arg-type]
        timeout_graceful_shutdown=shutdown_seconds,  # type: ignore[arg-type]
        server_header=False,
        ssl_certfile=None if certificate is None else str(certificate.certfile),
        ssl_keyfile=None
        if certificate is None or certificate.keyfile is None
        else str(certificate.keyfile),
    )


def loaded_config(
    app: ASGIApp, port: int, log_level: str = "warning", shutdown_seconds: float = 2.0
) -> tuple[uvicorn.Config, ServerCertificate | None]:
    """uvicorn's settings for `app` on `port`, loaded now, and the certificate a mock's
    settings ask for: a made certificate's key file exists only while they load (see
    `server_certificate`)."""
    config = _config_of(app)
    with contextlib.ExitStack() as stack:
        certificate = None
        if config is not None and wants_tls(config):
            certificate = stack.enter_context(server_certificate(config, port))
        loaded = uvicorn_config(app, log_level, shutdown_seconds, certificate)
        loaded.load()
    return loaded, certificate


class ServerThread:
    def __init__(
        self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.scheme = "http"
        #: The certificate authority's file clients must trust, when one was made.
        self.ca_bundle: Path | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def url(self) -> str:
        if self._socket is None:
            raise RuntimeError("the server is not running; call start() first")
        return url_for(self.host, self.port, self.scheme)

    def start(self, timeout: float = 10.0) -> str:
        if self.running:
            return self.url
        sock = self._socket = bind_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        try:
            loaded, certificate = loaded_config(self.app, self.port, self.log_level)
        except BaseException:
            self.stop()
            raise
        self.scheme = "http" if certificate is None else "https"
        self.ca_bundle = None if certificate is None else certificate.ca_bundle
        server = self._server = uvicorn.Server(loaded)
        thread = self._thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock]},
            name=f"vidu-lipsync-mock:{self.port}",
            daemon=True,
        )
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                url = self.url
                self.stop()
                raise RuntimeError(f"the mock server did not start on {url}")
            time.sleep(0.001)
        return self.url

    def stop(self, timeout: float = 5.0) -> None:
        server, thread, sock = self._server, self._thread, self._socket
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(timeout)
        if sock is not None:
            sock.close()
        self._server = self._thread = self._socket = None
