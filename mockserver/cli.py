"""`vidu-lipsync-mock` / `python -m vidu_lipsync_mock`: the standalone server and its helpers.

Every `serve` flag is generated from `MockConfig`'s fields, so a setting exists in the TOML
file, on the command line and in the docs at once, with one help text.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import shlex
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

from vidu_lipsync_mock.config import ConfigError, MockConfig, load_toml, setting_kind
from vidu_lipsync_mock.env_config import MergedConfig, merge
from vidu_lipsync_mock.media.probe import media_unavailable_reason
from vidu_lipsync_mock.proxy.commands import add_commands, fail, run_command
from vidu_lipsync_mock.tls import ServerCertificate, client_environment

if TYPE_CHECKING:
    from vidu_lipsync_mock.mock import LipSyncMock

__all__ = ["banner", "build_parser", "main", "tls_banner"]

#: The settings that are lists of names: a flag given once per name.
_LISTS = {
    "api_keys": (
        "--api-key",
        "KEY",
        "Accept only this key (repeat for several); unset accepts any well-formed key.",
    ),
    "allowed_hosts": (
        "--allowed-host",
        "NAME",
        "Another name the mock answers to as itself, e.g. a compose service name or a "
        "proxy (repeat for several); loopback names and the bound address always are.",
    ),
    "fetch_allow": (
        "--fetch-allow",
        "HOST",
        "Fetch task inputs from this host (host or host:port; repeat for several).",
    ),
}
_HANDLED_BY_HAND = {"faults", "teams", *_LISTS}


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("settings (also TOML keys of --config)")
    for f in dataclasses.fields(MockConfig):
        if f.name in _HANDLED_BY_HAND:
            continue
        flag = "--" + f.name.replace("_", "-")
        flags = ("--state", flag) if f.name == "state_path" else (flag,)
        kind = setting_kind(f.type)
        how: dict[str, Any] = {"action": argparse.BooleanOptionalAction}
        if kind != "bool":
            how = {"type": {"float": float, "int": int}.get(kind, str)}
            how["choices"] = f.metadata.get("choices") or None
        default_text = "" if f.default is None else f" (default: {f.default})"
        help_text = f.metadata["help"] + default_text
        group.add_argument(*flags, dest=f.name, default=None, help=help_text, **how)
    for name, (flag, metavar, help_text) in _LISTS.items():
        group.add_argument(flag, dest=name, action="append", metavar=metavar, help=help_text)
    group.add_argument(
        "--realistic",
        dest="preset",
        action="store_const",
        const="realistic",
        help="Shorthand for --preset realistic: tasks take about two minutes.",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidu-lipsync-mock",
        description="Local emulator of the Modellix model API (see `openapi` for its models).",
    )
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="Run the mock server (the default command).")
    serve.add_argument(
        "--config",
        metavar="FILE",
        help="TOML file of settings; VIDU_LIPSYNC_MOCK_<SETTING> environment variables win "
        "over it, flags over both.",
    )
    serve.add_argument(
        "--print-config",
        action="store_true",
        help="Print the merged settings (API keys redacted) and where each came from "
        "(default, preset, file, env, flag), then exit.",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="1",
        help="Only 1: tasks, clock, faults and journal live in one process, which a second "
        "worker would not share. Run one server per independent mock instead.",
    )
    _add_config_flags(serve)
    show = commands.add_parser("config", help="Print the effective settings as JSON and exit.")
    show.add_argument("--config", metavar="FILE", help="TOML file of settings.")
    _add_config_flags(show)
    commands.add_parser("openapi", help="Print the OpenAPI document the server serves.")
    commands.add_parser("key", help="Print a fresh well-formed API key.")
    add_commands(commands)
    return parser


def config_from_args(args: argparse.Namespace) -> MergedConfig:
    """The settings from the flags, the environment and the TOML file, in that order."""
    settings: dict[str, Any] = load_toml(args.config) if args.config else {}
    overrides = {
        f.name: getattr(args, f.name, None)
        for f in dataclasses.fields(MockConfig)
        if getattr(args, f.name, None) is not None
    }
    return merge(
        file=settings,
        file_name=args.config,
        environ=os.environ,
        flags=overrides,
        flag_names={"api_keys": "--api-key"},
    )


def _freeze_startup_objects(mock: LipSyncMock) -> None:
    """Move everything that exists once the server is set up (modules, classes, functions:
    some 50,000 objects that live as long as the process, and the task store's table)
    out of the garbage collector's sight. Each full collection would otherwise walk them
    all, a 15-20 ms pause in the middle of serving. Only the standalone server does this:
    the process is its own, while an in-process mock lives in the user's test process and
    leaves its collector alone."""
    gc.collect()
    mock.store.track_tables()
    gc.freeze()


def banner(mock: LipSyncMock, url: str) -> str:
    """What the server prints once it listens: where, a submit line per model it serves, and
    a key it accepts."""
    specs = list(mock.registry)
    submits = [f"POST {url}/api/v1/{spec.model_id}/async" for spec in specs]
    width = max(map(len, submits))
    lines = [f"vidu-lipsync-mock listening on {url}"]
    for spec, submit in zip(specs, submits, strict=True):
        result = f"{spec.card.name}: {spec.card.result.format} {spec.card.result.type}"
        lines.append(f"  submit: {submit:<{width}}   {result}")
    policy = json.dumps(mock.default_progression.describe())
    config = mock.config
    lines += [
        f"  poll:   GET {url}/api/v1/tasks/<id>",
        f"  progression: {policy}; clock: {config.clock} x{config.speed:g}",
        f"  example key: {mock.api_key}",
    ]
    kept = mock.durability.describe()
    if kept["path"] is not None:
        found = kept["restored"]
        lines.append(
            f"  state: {kept['path']}; restored tasks: {found['tasks']}, files: {found['files']}"
        )
    missing = media_unavailable_reason()
    if missing is not None:
        lines.append(f"  results: every task gets the bundled sample; {missing}")
    return "\n".join(lines)


def tls_banner(certificate: ServerCertificate, url: str) -> str:
    """What an HTTPS server prints after its banner: which certificate it serves and, for
    an authority it made, the file to trust and the variables that make clients trust it
    (shell lines, ready to paste)."""
    if certificate.ca_bundle is None:
        return f"  tls: serving your certificate {certificate.certfile}"
    environment = client_environment(certificate.ca_bundle, url)
    lines = [
        f"  tls: certificate authority {certificate.ca_bundle} (made for this run); trust it with:"
    ]
    lines += [f"    export {name}={shlex.quote(value)}" for name, value in environment.items()]
    return "\n".join(lines)


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def _serve(config: MockConfig) -> int:
    import uvicorn

    from vidu_lipsync_mock.http.admin_guard import exposure
    from vidu_lipsync_mock.mock import LipSyncMock
    from vidu_lipsync_mock.persist import StateFileError
    from vidu_lipsync_mock.server import bind_socket, loaded_config, url_for

    try:
        mock = LipSyncMock(config)
        warning = exposure(config, config.host)
    except (StateFileError, ConfigError) as error:
        return fail(str(error))
    try:
        sock = bind_socket(config.host, config.port)
    except OSError as error:
        return fail(f"cannot listen on {config.host}:{config.port}: {error.strerror}")
    port = sock.getsockname()[1]
    try:  # the HTTP protocol, event loop and TLS are loaded here: before the freeze
        server_config, certificate = loaded_config(
            mock.app, port, config.log_level, config.shutdown_seconds
        )
    except ConfigError as error:
        sock.close()
        return fail(str(error))
    url = url_for(config.host, port, "https" if certificate else "http")
    print(banner(mock, url), flush=True)
    if warning is not None:
        print(f"vidu-lipsync-mock: {warning}", file=sys.stderr, flush=True)
    if certificate is not None:
        print(tls_banner(certificate, url), flush=True)
    _freeze_startup_objects(mock)
    server = uvicorn.Server(server_config)
    # uvicorn finishes the requests in flight on SIGTERM, then raises the signal again for
    # this handler: a stop asked for and carried out is a success, so the exit status is 0.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn has already shut down; it re-raises Ctrl-C for its caller
    finally:
        sock.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or (arguments[0].startswith("-") and arguments[0] not in ("-h", "--help")):
        arguments.insert(0, "serve")
    args = build_parser().parse_args(arguments)
    ran = run_command(args)
    if ran is not None:
        return ran
    if args.command == "openapi":
        from vidu_lipsync_mock.http.openapi import build_openapi
        from vidu_lipsync_mock.service.registry import Registry

        print(json.dumps(build_openapi(Registry.bundled()), indent=2))
        return 0
    if args.command == "key":
        from vidu_lipsync_mock.service.keys import make_api_key

        print(make_api_key())
        return 0
    try:
        merged = config_from_args(args)
    except ConfigError as error:
        return fail(str(error))
    config = merged.config
    if getattr(args, "print_config", False):
        print(merged.describe())
        return 0
    if args.command == "config":
        print(json.dumps(dataclasses.asdict(config), indent=2))
        return 0
    if args.workers != 1:
        return fail(
            "--workers must be 1: the mock's tasks, clock, faults and journal live in one "
            "process, and a second worker would answer from a state of its own (a task "
            "submitted to one would be unknown to the other). Start one server per mock you "
            "need, each on its own port."
        )
    return _serve(config)
