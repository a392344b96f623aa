"""The `record` and `drift` commands of `vidu-lipsync-mock`: their flags and what they run.

Kept beside the proxy rather than in `cli`, so the server's command line does not grow
with them and they load their dependencies only when used.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_commands", "fail", "run_command"]

KEY_VARIABLE = "MODELLIX_API_KEY"


def add_commands(commands: Any) -> None:
    """Add `record` and `drift` to the CLI's sub-command parsers."""
    record = commands.add_parser(
        "record",
        help="A recording proxy: forward to the real service, answer with its answer, and "
        "append each exchange (keys redacted) to a cassette.",
    )
    record.add_argument(
        "--upstream", required=True, metavar="URL", help="e.g. https://api.modellix.ai"
    )
    record.add_argument(
        "--cassette", required=True, type=Path, metavar="FILE", help="JSON lines, appended to."
    )
    record.add_argument("--host", default="127.0.0.1", help="Address to bind (default: 127.0.0.1).")
    record.add_argument(
        "--port", type=int, default=8001, help="Port to listen on (default: 8001; 0 picks one)."
    )
    record.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="Seconds to wait for the upstream (default: 60).",
    )
    drift = commands.add_parser(
        "drift",
        help="Compare the mock with the real service: replay a cassette, or probe an upstream "
        "live. Exit 1 on any drift.",
    )
    source = drift.add_mutually_exclusive_group(required=True)
    source.add_argument("--cassette", type=Path, metavar="FILE", help="Replay this cassette.")
    source.add_argument("--upstream", metavar="URL", help="Probe this service live, side by side.")
    drift.add_argument(
        "--api-key", help=f"The upstream's key for --upstream (default: ${KEY_VARIABLE})."
    )
    drift.add_argument(
        "--allow-paid", action="store_true", help="Also submit one task upstream (it is charged)."
    )
    drift.add_argument("--video-url", help="video_url of the paid submit (the service fetches it).")
    drift.add_argument("--audio-url", help="audio_url of the paid submit.")
    drift.add_argument(
        "--poll-interval", type=float, default=5.0, help="Seconds between polls (default: 5)."
    )
    drift.add_argument(
        "--deadline", type=float, default=900.0, help="Seconds to wait for the task (default: 900)."
    )
    drift.add_argument("--json", action="store_true", help="Print the differences as JSON.")


def fail(message: str) -> int:
    """Print a refusal as the CLI words it; the exit status of a usage error."""
    print(f"vidu-lipsync-mock: {message}", file=sys.stderr)
    return 2


def _record(args: argparse.Namespace) -> int:
    import uvicorn

    from vidu_lipsync_mock.proxy.cassette import CassetteError, CassetteInfo, CassetteWriter
    from vidu_lipsync_mock.proxy.record import RecordingProxy
    from vidu_lipsync_mock.server import bind_socket, url_for

    if not args.upstream.startswith(("http://", "https://")):
        return fail(f"--upstream must be an http(s) URL, got {args.upstream[:100]!r}")
    try:
        writer = CassetteWriter(
            args.cassette, CassetteInfo(source="recording", upstream=args.upstream)
        )
    except (CassetteError, OSError) as error:
        return fail(f"cannot record into {args.cassette}: {error}")
    try:
        sock = bind_socket(args.host, args.port)
    except OSError as error:
        writer.close()
        return fail(f"cannot listen on {args.host}:{args.port}: {error.strerror}")
    proxy = RecordingProxy(args.upstream, writer, timeout=args.timeout)
    url = url_for(args.host, sock.getsockname()[1])
    print(f"recording proxy on {url} -> {args.upstream}; cassette {args.cassette}", flush=True)
    config = uvicorn.Config(proxy, log_level="warning", lifespan="off")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
        writer.close()
    return 0


def _submit_body(args: argparse.Namespace) -> bytes | None:
    if not args.video_url:
        return None
    body = {"video_url": args.video_url}
    if args.audio_url:
        body["audio_url"] = args.audio_url
    return json.dumps(body).encode()


def _drift(args: argparse.Namespace) -> int:
    import httpx

    from vidu_lipsync_mock.proxy.cassette import CassetteError, read_cassette
    from vidu_lipsync_mock.proxy.drift import as_json, render, replay_cassette
    from vidu_lipsync_mock.proxy.probe import run_probe

    if args.cassette is not None:
        try:
            info, entries = read_cassette(args.cassette)
        except CassetteError as error:
            return fail(str(error))
        found = replay_cassette(info, entries)
    else:
        key = args.api_key or os.environ.get(KEY_VARIABLE)
        if not key:
            return fail(f"--upstream needs a key: --api-key or ${KEY_VARIABLE}")
        if args.allow_paid and not args.video_url:
            return fail("--allow-paid needs --video-url (a file the service can fetch)")
        try:
            found = run_probe(
                args.upstream,
                key,
                allow_paid=args.allow_paid,
                submit_body=_submit_body(args),
                poll_interval=args.poll_interval,
                deadline=args.deadline,
            )
        except httpx.HTTPError as error:
            return fail(f"the upstream {args.upstream} failed: {type(error).__name__}: {error}")
    print(as_json(found) if args.json else render(found))
    return 1 if any(d.drift for d in found) else 0


def run_command(args: argparse.Namespace) -> int | None:
    """Run `record` or `drift`; None for any other command."""
    if args.command == "record":
        return _record(args)
    if args.command == "drift":
        return _drift(args)
    return None
