"""The plugin's fixtures: an in-process mock per test, one real server per session (per
xdist worker; a second one for tests that ask for HTTPS), environment wiring, sample media
and clients.

Fresh state per test costs a `reset()` (tens of microseconds), not a new app: mocks are
cached per distinct configuration for the session, and `reset()` re-runs the same
construction as a new mock, so nothing leaks from one test into the next.
"""

from __future__ import annotations

import dataclasses
import os
import random
import ssl
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from vidu_lipsync_mock import LipSyncMock, MockConfig
from vidu_lipsync_mock.config import ConfigError
from vidu_lipsync_mock.media.library import MediaLibrary
from vidu_lipsync_mock.service.registry import Registry
from vidu_lipsync_mock.tls import (
    ServerCertificate,
    client_environment,
    issue_local_certificate,
    wants_tls,
)

from .remote import RemoteMock
from .report import TEST_START_KEY
from .settings import TestSettings, refuse_server_settings, resolve_settings
from .strict import UNEXPECTED_KEY, fail_on_unexpected
from .transport import AsyncMockTransport, SyncMockTransport

__all__ = [
    "SampleMedia",
    "lipsync_async_client",
    "lipsync_ca_bundle",
    "lipsync_client",
    "lipsync_env",
    "lipsync_live",
    "lipsync_media",
    "lipsync_mock",
    "lipsync_remote",
    "lipsync_server",
    "lipsync_url",
]

IN_PROCESS_BASE_URL = "http://lipsync.test"
MOCKS_KEY = pytest.StashKey[list[LipSyncMock]]()

#: Settings of a server's socket, which a test's marker cannot change on a running server.
_SOCKET_SETTINGS = ("host", "port", "tls", "tls_cert", "tls_key", "tls_ca_out")


def session_seed(config: pytest.Config) -> int:
    """The run's seed: the option, else one shared by every xdist worker of the run, else
    a fresh one. It is printed in the header so any run can be replayed."""
    cached = getattr(config, "_lipsync_seed", None)
    if isinstance(cached, int):
        return cached
    value = config.getoption("lipsync_seed", None) or config.getini("lipsync_seed")
    if value not in (None, ""):
        seed = int(str(value))
    elif os.environ.get("PYTEST_XDIST_TESTRUNUID"):
        seed = zlib.crc32(os.environ["PYTEST_XDIST_TESTRUNUID"].encode()) % 1_000_000
    else:
        seed = random.SystemRandom().randrange(1_000_000)
    config._lipsync_seed = seed  # type: ignore[attr-defined]
    return seed


def test_seed(config: pytest.Config, nodeid: str) -> int:
    """Each test's own seed: stable for a node id under a given run seed, so one failing
    test replays alone with `--lipsync-seed`."""
    return (session_seed(config) * 1_000_003 + zlib.crc32(nodeid.encode())) % 2**31


class _Session:
    """Mocks shared across a session: one per in-process configuration, one server per
    scheme (plain HTTP, HTTPS), and the certificate authority the HTTPS one's is from."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory | None = None) -> None:
        self.registry = Registry.bundled()
        self.media = MediaLibrary()
        self.in_process: dict[tuple[tuple[str, Any], ...], LipSyncMock] = {}
        self.servers: dict[bool, LipSyncMock] = {}  # by "serves HTTPS"
        self._tmp_path_factory = tmp_path_factory
        self._certificate: ServerCertificate | None = None

    def certificate(self) -> ServerCertificate:
        """Made once per session: an authority (its file is `lipsync_ca_bundle`) and the
        HTTPS server's certificate from it."""
        if self._certificate is None:
            factory = self._tmp_path_factory
            directory = (
                factory.mktemp("lipsync-tls")
                if factory is not None
                else Path(tempfile.mkdtemp(prefix="lipsync-tls-"))
            )
            try:
                self._certificate = issue_local_certificate(
                    directory / "ca.pem", directory / "server.pem"
                )
            except ConfigError as error:
                pytest.fail(str(error), pytrace=False)
        return self._certificate

    def server(self, pytest_config: pytest.Config, tls: bool) -> LipSyncMock:
        """The session's server of that scheme, started with the run's settings."""
        mock = self.servers.get(tls)
        if mock is None:
            base = resolve_settings(None, seed=session_seed(pytest_config), config=pytest_config)
            config = dataclasses.replace(
                base.config,
                tls=tls,
                tls_cert=str(self.certificate().certfile) if tls else None,
                tls_key=None,
                tls_ca_out=None,
            )
            mock = LipSyncMock(config, registry=self.registry, media=self.media)
            mock.start()
            self.servers[tls] = mock
        return mock

    def mock_for(self, config: MockConfig) -> LipSyncMock:
        key = tuple(sorted((k, repr(v)) for k, v in config.as_dict().items() if k != "seed"))
        mock = self.in_process.get(key)
        if mock is None:
            mock = LipSyncMock(config, registry=self.registry, media=self.media)
            self.in_process[key] = mock
        mock.config = config
        mock.reset()
        return mock

    def close(self) -> None:
        for mock in [*self.in_process.values(), *self.servers.values()]:
            mock.stop()


@pytest.fixture(scope="session")
def _lipsync_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Session]:
    session = _Session(tmp_path_factory)
    yield session
    session.close()


def _prepare(mock: LipSyncMock, settings: TestSettings, request: pytest.FixtureRequest) -> None:
    for rule in settings.faults:
        mock.add_fault(dict(rule))
    request.node.stash.setdefault(MOCKS_KEY, []).append(mock)
    request.node.stash.setdefault(TEST_START_KEY, {})[id(mock)] = mock.now()


def _check(mock: LipSyncMock, settings: TestSettings, node: pytest.Item) -> None:
    """Teardown checks: a test cannot pass while the mock saw something wrong."""
    if mock.crashes:
        crash = mock.crashes[0]
        pytest.fail(
            f"the mock crashed handling {crash.method} {crash.path} (the client saw a 500):\n"
            f"{crash.traceback}",
            pytrace=False,
        )
    if settings.audit is not None:
        from .audit import AuditPolicy, assert_sound_retry_policy

        assert_sound_retry_policy(mock, AuditPolicy(**settings.audit))
    if settings.strict_requests:
        refused: list[str] = node.stash.get(UNEXPECTED_KEY, [])
        fail_on_unexpected(mock.journal.entries(), refused)


def _run_with(mock: LipSyncMock, settings: TestSettings) -> ExitStack:
    stack = ExitStack()
    if settings.fast_forward:
        stack.enter_context(mock.fast_forward())
    return stack


@pytest.fixture
def lipsync_mock(
    request: pytest.FixtureRequest, _lipsync_session: _Session
) -> Iterator[LipSyncMock]:
    """A fresh in-process mock on a manual clock: no socket, no thread, no real time.

    Configured by the `--lipsync-*` options, the `lipsync_*` ini keys and the
    `@pytest.mark.lipsync(...)` marker, in that order of precedence (marker wins).
    """
    settings = resolve_settings(request, seed=test_seed(request.config, request.node.nodeid))
    refuse_server_settings(settings, "lipsync_mock", "the in-process mock has no socket")
    if settings.tls_marked:
        pytest.fail(
            "@pytest.mark.lipsync(tls=True): the in-process mock has no socket, so nothing "
            "to serve HTTPS on; use lipsync_live (and lipsync_ca_bundle to trust it)",
            pytrace=False,
        )
    config = settings.config
    if wants_tls(config):  # --lipsync-tls is about the live server
        config = dataclasses.replace(config, tls=False, tls_cert=None, tls_key=None)
    mock = _lipsync_session.mock_for(config)
    _prepare(mock, settings, request)
    with _run_with(mock, settings):
        yield mock
    _check(mock, settings, request.node)


@pytest.fixture(scope="session")
def lipsync_server(request: pytest.FixtureRequest, _lipsync_session: _Session) -> LipSyncMock:
    """One real server on 127.0.0.1 and a free port for the session (or xdist worker),
    over HTTPS with `--lipsync-tls`.

    Use `lipsync_live` in tests: it resets this server's state for each test.
    """
    base = resolve_settings(None, seed=session_seed(request.config), config=request.config)
    return _lipsync_session.server(request.config, wants_tls(base.config))


@pytest.fixture(scope="session")
def lipsync_ca_bundle(_lipsync_session: _Session) -> str:
    """The file of the certificate authority the session's HTTPS server's certificate is
    from: `requests` takes it as `verify=`, httpx as
    `verify=ssl.create_default_context(cafile=...)`, other clients through
    `SSL_CERT_FILE` and friends (see `lipsync_env`)."""
    return str(_lipsync_session.certificate().ca_bundle)


@pytest.fixture
def lipsync_live(
    request: pytest.FixtureRequest, _lipsync_session: _Session
) -> Iterator[LipSyncMock]:
    """The session's real server, reset and configured for this test: the HTTPS one when
    the marker says `tls=True` (or the run `--lipsync-tls`)."""
    settings = resolve_settings(request, seed=test_seed(request.config, request.node.nodeid))
    refuse_server_settings(
        settings,
        "lipsync_live",
        "the session's server listens as it started, for every test; a server of your own "
        "listens as you say: LipSyncMock(MockConfig(port=...)).start()",
    )
    server = _lipsync_session.server(request.config, wants_tls(settings.config))
    socket_settings = {name: getattr(server.config, name) for name in _SOCKET_SETTINGS}
    server.config = dataclasses.replace(settings.config, **socket_settings)
    server.reset()
    _prepare(server, settings, request)
    with _run_with(server, settings):
        yield server
    _check(server, settings, request.node)


@pytest.fixture
def lipsync_remote(
    request: pytest.FixtureRequest, _lipsync_session: _Session
) -> Iterator[RemoteMock]:
    """The test API over HTTP, reset for this test: against the server named by
    `--lipsync-url` (or the `lipsync_url` ini key) if given, sending the token of
    `--lipsync-admin-token` (`lipsync_admin_token`), else the session's own."""
    url = request.config.getoption("lipsync_url", None) or request.config.getini("lipsync_url")
    token = request.config.getoption("lipsync_admin_token", None) or (
        request.config.getini("lipsync_admin_token") or None
    )
    verify: ssl.SSLContext | bool = True
    if not url:
        server: LipSyncMock = request.getfixturevalue("lipsync_server")
        url, token = server.url, server.config.admin_token
        if wants_tls(server.config):
            verify = ssl.create_default_context(cafile=_lipsync_session.certificate().ca_bundle)
    with RemoteMock(str(url), verify=verify, admin_token=token) as remote:
        remote.reset()
        yield remote
        crashes = remote.crashes()
    if crashes:
        pytest.fail(
            f"the mock crashed handling {crashes[0]['method']} {crashes[0]['path']}:\n"
            f"{crashes[0]['traceback']}",
            pytrace=False,
        )


@pytest.fixture
def lipsync_url(lipsync_live: LipSyncMock) -> str:
    """Base URL of the live server (origin only; the API paths start with /api/v1)."""
    return lipsync_live.url


@pytest.fixture
def lipsync_env(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, lipsync_live: LipSyncMock
) -> dict[str, str]:
    """Points code under test at the live server the way the official CLI is pointed at
    production: `MODELLIX_BASE_URL` and `MODELLIX_API_KEY`; for an HTTPS server also the
    variables that make clients trust its authority (`SSL_CERT_FILE`, ...)."""
    values = {"MODELLIX_BASE_URL": lipsync_live.url, "MODELLIX_API_KEY": lipsync_live.api_key}
    if wants_tls(lipsync_live.config):
        certificate = request.getfixturevalue("_lipsync_session").certificate()
        values = {**client_environment(certificate.ca_bundle, lipsync_live.url), **values}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def lipsync_client(lipsync_mock: LipSyncMock) -> Iterator[httpx.Client]:
    """A sync httpx client wired to the in-process mock, with the mock's API key."""
    with httpx.Client(
        transport=SyncMockTransport(lipsync_mock.app),
        base_url=IN_PROCESS_BASE_URL,
        headers=lipsync_mock.auth_headers,
    ) as client:
        yield client


@pytest.fixture
def lipsync_async_client(lipsync_mock: LipSyncMock) -> httpx.AsyncClient:
    """An async httpx client wired to the in-process mock. It holds no socket, so it needs
    no closing; `async with` works as usual."""
    return httpx.AsyncClient(
        transport=AsyncMockTransport(lipsync_mock.app),
        base_url=IN_PROCESS_BASE_URL,
        headers=lipsync_mock.auth_headers,
    )


@dataclass(frozen=True)
class SampleMedia:
    """The bundled sample inputs, as files and as URLs the mock serves."""

    directory: Path
    video: Path
    audio: Path
    face: Path
    result: Path

    def url(self, base_url: str, name: str) -> str:
        return f"{base_url.rstrip('/')}/media/{name}"

    def submit_body(self, base_url: str) -> dict[str, str]:
        """A submit body whose inputs exist (served by the mock itself)."""
        return {
            "video_url": self.url(base_url, self.video.name),
            "audio_url": self.url(base_url, self.audio.name),
            "reference_face_image_url": self.url(base_url, self.face.name),
        }


@pytest.fixture(scope="session")
def lipsync_media(_lipsync_session: _Session) -> SampleMedia:
    library = _lipsync_session.media
    return SampleMedia(
        directory=library.directory,
        video=library.path("input-video.mp4"),
        audio=library.path("input-audio.mp3"),
        face=library.path("face.jpg"),
        result=library.path("result.mp4"),
    )
