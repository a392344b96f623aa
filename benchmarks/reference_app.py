"""The ceiling to compare against: a bare Starlette app on the mock's own uvicorn config.

It answers the same three routes with fixed bodies read from files (the bytes the mock
itself answered, so sizes match) and, on a poll and a submit, the same `X-RateLimit-*`
headers the mock's limiter puts on them and an `X-Request-Id` (fixed values, so the same
bytes go on the wire):
no journal, no faults, no state. Run as

    python benchmarks/reference_app.py --poll-body F --submit-body F --video F \
        [--quota-headers '{"X-RateLimit-Limit": "100", ...}']

and it prints `reference listening on http://127.0.0.1:PORT` as its first line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vidu_lipsync_mock.server import bind_socket, url_for, uvicorn_config

__all__ = ["create_reference_app", "main"]

JSON = "application/json"


def create_reference_app(
    poll_body: bytes, submit_body: bytes, video: bytes, quota: Mapping[str, str] | None = None
) -> Starlette:
    async def poll(request: Request) -> Response:
        return Response(poll_body, media_type=JSON, headers=quota)

    async def submit(request: Request) -> Response:
        await request.body()  # read the upload, as any real handler must
        return Response(submit_body, media_type=JSON, headers=quota)

    async def result_file(request: Request) -> Response:
        return Response(video, media_type="video/mp4")

    return Starlette(
        routes=[
            Route("/api/v1/tasks/{task_id}", poll, methods=["GET"]),
            Route("/api/v1/{provider}/{model}/async", submit, methods=["POST"]),
            Route("/files/{task_id}/{filename}", result_file, methods=["GET"]),
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--poll-body", type=Path, required=True)
    parser.add_argument("--submit-body", type=Path, required=True)
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--quota-headers", type=json.loads, default=None, metavar="JSON")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    app = create_reference_app(
        args.poll_body.read_bytes(),
        args.submit_body.read_bytes(),
        args.video.read_bytes(),
        args.quota_headers,
    )
    sock = bind_socket("127.0.0.1", args.port)
    print(f"reference listening on {url_for('127.0.0.1', sock.getsockname()[1])}", flush=True)
    server = uvicorn.Server(uvicorn_config(app, "warning"))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
