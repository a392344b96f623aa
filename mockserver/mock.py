"""`LipSyncMock`: what a Python user holds.

It is a `MockState` (tasks, clock, config, and the test verbs on them) that can also hand
out its ASGI app for in-process clients and run itself as a real server for everything
else. The state stays free of HTTP; this subclass is where HTTP is attached.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vidu_lipsync_mock.config import MockConfig
from vidu_lipsync_mock.http.admin_guard import exposure
from vidu_lipsync_mock.http.app import MockApp, create_app
from vidu_lipsync_mock.media.library import MediaLibrary
from vidu_lipsync_mock.server import ServerThread
from vidu_lipsync_mock.service.clock import Clock
from vidu_lipsync_mock.service.keys import make_api_key
from vidu_lipsync_mock.service.registry import Registry
from vidu_lipsync_mock.state import MockState
from vidu_lipsync_mock.timetravel import FastForward

__all__ = ["LipSyncMock"]


class LipSyncMock(MockState):
    """A Modellix lip-sync emulator.

    Settings are `MockConfig` fields (`LipSyncMock(clock="manual", progression="polls")`);
    `mock.app` is the ASGI app for `httpx.ASGITransport`; `mock.start()` serves it on a
    free loopback port and returns the base URL; `mock.stop()` (or leaving a `with` block)
    shuts it down.
    """

    def __init__(
        self,
        config: MockConfig | None = None,
        *,
        clock: Clock | str | None = None,
        registry: Registry | None = None,
        media: MediaLibrary | None = None,
        **settings: Any,
    ) -> None:
        if isinstance(clock, str):
            settings["clock"] = clock
            clock = None
        merged = MockConfig.build(config.as_dict() if config else None, **settings)
        super().__init__(merged, clock=clock, registry=registry, media=media)
        self._app: MockApp | None = None
        self._server: ServerThread | None = None
        self.api_key = make_api_key("vidulipsyncmock")

    @property
    def app(self) -> MockApp:
        if self._app is None:
            self._app = create_app(self)
        return self._app

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def start(self, host: str | None = None, port: int | None = 0) -> str:
        """Serve on a real socket (loopback, a free port by default); returns the base URL.
        Listening beyond loopback needs an `admin_token` (`ConfigError` without one)."""
        if self._server is None or not self._server.running:
            exposure(self.config, host or self.config.host)
            self._server = ServerThread(
                self.app,
                host=host or self.config.host,
                port=self.config.port if port is None else port,
                log_level=self.config.log_level,
            )
            self._server.start()
        return self._server.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def ca_bundle(self) -> Path | None:
        """The file of the certificate authority the running server's certificate is from,
        for clients to trust (`tls=True`); None over plain HTTP or with your own
        `tls_cert`."""
        return None if self._server is None else self._server.ca_bundle

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the mock is not serving; call start() first")
        return self._server.url

    def fast_forward(self) -> FastForward:
        """A context manager in which the calling thread's sleeps advance this mock's clock
        instead of waiting (see `vidu_lipsync_mock.timetravel`)."""
        return FastForward(self.clock)

    def __enter__(self) -> LipSyncMock:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
