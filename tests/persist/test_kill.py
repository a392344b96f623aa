"""The promise of `serve --state`: a server killed with SIGKILL (no shutdown, no flush)
and started again on the same file answers for everything it had answered: tasks, their
schedule, uploads, balances, fault rules and the clock."""

from __future__ import annotations

import json
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from vidu_lipsync_mock.service.keys import key_fingerprint

KEY = "mdlx-" + "K3y" * 16
AUTH = {"Authorization": f"Bearer {KEY}"}
SUBMIT_PATH = "/api/v1/vidu/lip-sync/async"
BODY = {"video_url": "https://example.com/v.mp4", "audio_url": "https://example.com/a.mp3"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
BANNER_PREFIX = "vidu-lipsync-mock listening on "
STARTUP_SECONDS = 30.0


class Server:
    """`vidu-lipsync-mock serve --port 0 ...` in a subprocess; its URL from the banner."""

    def __init__(self, *args: str) -> None:
        argv = [sys.executable, "-m", "vidu_lipsync_mock", "serve", "--port", "0", *args]
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._first_line, args=(lines,), daemon=True).start()
        try:  # real-time: the child process starts at its own pace; no clock to advance
            first = lines.get(timeout=STARTUP_SECONDS)
        except queue.Empty:
            self.kill()
            pytest.fail(f"no banner within {STARTUP_SECONDS} s")
        assert first.startswith(BANNER_PREFIX), first
        self.url = first.removeprefix(BANNER_PREFIX)

    def _first_line(self, lines: queue.Queue[str]) -> None:
        assert self.proc.stdout is not None
        lines.put(self.proc.stdout.readline().decode().rstrip("\n"))

    def kill(self) -> None:
        """SIGKILL: nothing runs after it, so only what was committed survives."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(15)
        for stream in (self.proc.stdout, self.proc.stderr):
            assert stream is not None
            stream.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(*args: str) -> Server:
        server = Server(*args)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.kill()


def test_a_killed_server_finds_everything_it_answered(serve, tmp_path: Path):
    state = str(tmp_path / "state.db")
    args = ("--state", state, "--pending-seconds", "100", "--processing-seconds", "100")
    first = serve(*args)
    with httpx.Client(base_url=first.url, headers=AUTH, timeout=10) as http:
        team = key_fingerprint(KEY)
        assert http.put(f"/_mock/accounts/{team}/balance", json={"balance": 500}).is_success
        answered = []
        for _ in range(40):
            response = http.post(SUBMIT_PATH, json=BODY)
            assert response.status_code == 200
            answered.append(response.json()["data"]["task_id"])
        done = answered[0]
        assert http.post(f"/_mock/tasks/{done}/force", json={"status": "success"}).is_success
        resources = http.get(f"/api/v1/tasks/{done}").json()["data"]["result"]["resources"]
        result_before = http.get(httpx.URL(resources[0]["url"]).path).content
        uploaded = http.post("/api/v1/media/files", files={"file": ("face.png", PNG)})
        assert uploaded.status_code == 200, uploaded.text
        link = httpx.URL(uploaded.json()["data"]["url"]).path
        assert http.post("/_mock/clock/advance", json={"seconds": 150}).is_success
        offset = http.get("/_mock/clock").json()["data"]["offset"]
        rule = http.post("/_mock/faults", json={"fault": "error", "status": 503, "route": "models"})
        assert rule.is_success
        balance = http.get("/api/v1/team/balance").json()["data"]["balance"]
        assert balance == 500 - 40 * 0.24  # 39 held and one spent
    first.kill()

    second = serve(*args)
    with httpx.Client(base_url=second.url, headers=AUTH, timeout=10) as http:
        for task_id in answered:
            polled = http.get(f"/api/v1/tasks/{task_id}")
            assert polled.status_code == 200, (task_id, polled.text)
        finished = http.get(f"/api/v1/tasks/{done}").json()["data"]
        assert finished["status"] == "success"
        result = http.get(httpx.URL(finished["result"]["resources"][0]["url"]).path)
        assert result.status_code == 200
        assert result.content == result_before  # the same result file, byte for byte
        # pending at the kill, 150 s into 200 s of lifecycle: processing, then done on time
        assert http.get(f"/api/v1/tasks/{answered[1]}").json()["data"]["status"] == "processing"
        assert http.get("/_mock/clock").json()["data"]["offset"] == offset == 150
        assert http.post("/_mock/clock/advance", json={"seconds": 50}).is_success
        ended = http.get(f"/api/v1/tasks/{answered[1]}").json()["data"]
        assert ended["status"] == "success"
        assert abs(ended["end_time"] - ended["submit_time"] - 200_000) <= 1  # on its schedule
        assert http.get(link).content == PNG  # the file's key-less link still serves it
        assert http.get("/api/v1/team/balance").json()["data"]["balance"] == balance
        rules = http.get("/_mock/faults").json()["data"]
        assert [(r["fault"]["status"], r["match"]["route"]) for r in rules] == [(503, "models")]
        assert http.get("/api/v1/models").status_code == 503  # and the rule still fires
    second.kill()


def test_serve_refuses_a_foreign_file_with_one_line(tmp_path: Path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"not a database at all\n" * 8)
    before = path.read_bytes()
    result = subprocess.run(
        [sys.executable, "-m", "vidu_lipsync_mock", "serve", "--port", "0", "--state", str(path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines == [f"vidu-lipsync-mock: state file {path}: is not a SQLite database "
                     "(damaged, or another kind of file)"]  # fmt: skip
    assert path.read_bytes() == before


def test_a_killed_server_finds_every_submit_it_answered_in_one_batch(serve, tmp_path: Path):
    """Submits that arrive together are committed together (one commit per turn of the
    event loop): every one answered is in the file when the process is killed."""
    args = ("--state", str(tmp_path / "state.db"), "--pending-seconds", "100")
    first = serve(*args)
    host, port = httpx.URL(first.url).host, httpx.URL(first.url).port
    body = json.dumps(BODY).encode()
    head = (
        f"POST {SUBMIT_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall((head + body) * 20)
        stream = sock.makefile("rb")
        answered = []
        for _ in range(20):
            status = stream.readline()
            assert status.startswith(b"HTTP/1.1 200"), status
            length = 0
            while (line := stream.readline()) != b"\r\n":
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            answered.append(json.loads(stream.read(length))["data"]["task_id"])
    first.kill()

    second = serve(*args)
    with httpx.Client(base_url=second.url, headers=AUTH, timeout=10) as http:
        for task_id in answered:
            assert http.get(f"/api/v1/tasks/{task_id}").status_code == 200, task_id
    second.kill()
