"""HTTPS for the real server: the certificate it serves and the file its clients trust.

The real service is https only, and so are the result URLs its CDN hands out. A client
whose code only ever sees `https://` (certificate checks, redirects, a proxy that refuses
plain HTTP) is tested honestly only against a mock that speaks TLS. A certificate that a
client trusts without being told to would need a public name; on 127.0.0.1 the mock makes
its own certificate authority instead (with `trustme`, an optional extra), issues the
server's certificate from it and writes the authority's certificate where the user can
point their clients at it (`client_environment` names the variables that do).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vidu_lipsync_mock.config import ConfigError, MockConfig

__all__ = [
    "LOCAL_NAMES",
    "ServerCertificate",
    "client_environment",
    "default_ca_path",
    "issue_local_certificate",
    "server_certificate",
    "wants_tls",
]

#: The names a locally made certificate is valid for: every way to say "this machine".
LOCAL_NAMES = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ServerCertificate:
    """What uvicorn serves (`certfile`, and `keyfile` unless the key is in `certfile`), and
    the authority's certificate clients must trust (None for the user's own certificate)."""

    certfile: Path
    keyfile: Path | None = None
    ca_bundle: Path | None = None


def wants_tls(config: MockConfig) -> bool:
    """HTTPS is on with `tls`, or with the user's own certificate."""
    return config.tls or config.tls_cert is not None


def default_ca_path(port: int) -> Path:
    """`ca-<port>.pem` in a directory of this user's under the temporary directory: one
    file per port, so that two servers never overwrite each other's authority."""
    uid = os.getuid() if hasattr(os, "getuid") else None
    directory = Path(tempfile.gettempdir()) / (
        "vidu-lipsync-mock" if uid is None else f"vidu-lipsync-mock-{uid}"
    )
    directory.mkdir(mode=0o700, exist_ok=True)
    if uid is not None and directory.stat().st_uid != uid:
        # Someone else's directory: a certificate there could be swapped for theirs.
        raise ConfigError(f"{directory} belongs to another user: set tls_ca_out")
    return directory / f"ca-{port}.pem"


def issue_local_certificate(ca_out: Path, server_pem: Path) -> ServerCertificate:
    """Make an authority, write its certificate to `ca_out`, and the server's key and
    certificate chain (valid for `LOCAL_NAMES`) to `server_pem`."""
    try:
        import trustme
    except ImportError:
        raise ConfigError(
            "tls needs the trustme package to make a local certificate authority: "
            "pip install 'vidu-lipsync-mock[tls]' (or give your own tls_cert and tls_key)"
        ) from None
    authority = trustme.CA(organization_name="vidu-lipsync-mock local authority")
    leaf = authority.issue_cert(*LOCAL_NAMES)
    try:
        ca_out.parent.mkdir(parents=True, exist_ok=True)
        authority.cert_pem.write_to_path(str(ca_out))
        leaf.private_key_and_cert_chain_pem.write_to_path(str(server_pem))
    except OSError as error:
        raise ConfigError(f"cannot write {error.filename}: {error.strerror}") from error
    return ServerCertificate(certfile=server_pem, ca_bundle=ca_out)


@contextlib.contextmanager
def server_certificate(config: MockConfig, port: int) -> Iterator[ServerCertificate]:
    """The certificate a server with `config` serves on `port`. A made one's key lives in
    a private temporary file for the duration of the block: load the server's TLS
    settings inside it, and the key leaves the disk when the block ends."""
    if config.tls_cert is not None:
        for name, path in (("tls_cert", config.tls_cert), ("tls_key", config.tls_key)):
            if path is not None and not os.path.isfile(path):
                raise ConfigError(f"{name} {path} is not a file")
        key = None if config.tls_key is None else Path(config.tls_key)
        yield ServerCertificate(certfile=Path(config.tls_cert), keyfile=key)
        return
    ca_out = Path(config.tls_ca_out) if config.tls_ca_out else default_ca_path(port)
    with tempfile.TemporaryDirectory(prefix="vidu-lipsync-mock-") as private:
        yield issue_local_certificate(ca_out, Path(private) / "server.pem")


def client_environment(ca_bundle: Path | str, url: str) -> dict[str, str]:
    """The variables that make common clients trust `ca_bundle` (OpenSSL-based ones such
    as Python's ssl, httpx and aiohttp; requests; curl; Node.js) and point the official
    CLI at `url`."""
    path = str(ca_bundle)
    return {
        "SSL_CERT_FILE": path,
        "REQUESTS_CA_BUNDLE": path,
        "CURL_CA_BUNDLE": path,
        "NODE_EXTRA_CA_CERTS": path,
        "MODELLIX_BASE_URL": url,
    }
