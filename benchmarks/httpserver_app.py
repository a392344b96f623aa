"""pytest-httpserver serving the same three routes with the same fixed bodies.

This is what a test suite gets when it mocks the provider by hand with pytest-httpserver
(werkzeug's development server, as that library configures it by default: one thread,
HTTP/1.0, a new connection per request). Its per-request log line is silenced, to give it
its best case. Run as

    python benchmarks/httpserver_app.py --poll-path P --poll-body F --submit-body F \
        --video-path P --video F

and it prints `pytest-httpserver listening on http://127.0.0.1:PORT` as its first line,
then serves until it is terminated.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from pytest_httpserver import HTTPServer

__all__ = ["build_server", "main"]

SUBMIT_PATH = "/api/v1/vidu/lip-sync/async"


def build_server(
    poll_path: str, poll_body: bytes, submit_body: bytes, video_path: str, video: bytes
) -> HTTPServer:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.expect_request(poll_path, method="GET").respond_with_data(
        poll_body, content_type="application/json"
    )
    server.expect_request(SUBMIT_PATH, method="POST").respond_with_data(
        submit_body, content_type="application/json"
    )
    server.expect_request(video_path, method="GET").respond_with_data(
        video, content_type="video/mp4"
    )
    return server


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--poll-path", required=True)
    parser.add_argument("--poll-body", type=Path, required=True)
    parser.add_argument("--submit-body", type=Path, required=True)
    parser.add_argument("--video-path", required=True)
    parser.add_argument("--video", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = build_server(
        args.poll_path,
        args.poll_body.read_bytes(),
        args.submit_body.read_bytes(),
        args.video_path,
        args.video.read_bytes(),
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    try:
        print(f"pytest-httpserver listening on http://127.0.0.1:{server.port}", flush=True)
        while not stop.wait(0.5):
            server.clear_log()  # its request log would otherwise grow without bound
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
