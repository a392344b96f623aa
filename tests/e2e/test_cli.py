"""The standalone server as a black box: `python -m vidu_lipsync_mock` and the `vidu-lipsync-mock`
console script in a subprocess, reached only over HTTP."""

from __future__ import annotations

import json
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

SUBMIT_PATH = "/api/v1/vidu/lip-sync/async"
BODY = {"video_url": "https://example.com/v.mp4"}
BANNER = re.compile(r"vidu-lipsync-mock listening on (http://127\.0\.0\.1:(\d+))")
KEY = "mdlx-" + "K3y" * 16
OTHER_KEY = "mdlx-" + "Zz9" * 16
AUTH = {"Authorization": f"Bearer {KEY}"}
STARTUP_TIMEOUT = 20.0


PROGRAMS = ("console-script", "python-m")


def program_argv(program: str) -> list[str]:
    if program == "python-m":
        return [sys.executable, "-m", "vidu_lipsync_mock"]
    script = Path(sys.executable).parent / "vidu-lipsync-mock"
    assert script.is_file(), f"the console script is not installed next to {sys.executable}"
    return [str(script)]


class ServerProcess:
    """One `serve` subprocess: its first stdout line read with a timeout, stderr kept."""

    def __init__(self, argv: list[str], stderr_path: Path) -> None:
        self.argv = argv
        self.stderr_path = stderr_path
        self._stderr: IO[bytes] = open(stderr_path, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name="cli-test-stdout", daemon=True)
        self._reader.start()
        self.stdout_lines: list[str] = []

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self._lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self._lines.put(None)

    def next_line(self, timeout: float = STARTUP_TIMEOUT) -> str:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no output from {self.argv} within {timeout} s; stderr: {self.stderr}")
        if line is None:
            self.proc.wait(5)
            pytest.fail(
                f"{self.argv} exited ({self.proc.returncode}) before printing; "
                f"stderr: {self.stderr}"
            )
        self.stdout_lines.append(line)
        return line

    def url(self) -> str:
        """The base URL from the banner, which must be the first line of output."""
        first = self.next_line()
        match = BANNER.fullmatch(first)
        assert match, f"unexpected first line {first!r}"
        return match.group(1)

    @property
    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.argv} ignored {sig.name} for {timeout} s")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(15)
        self._reader.join(15)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self._stderr.close()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def start(*args: str, program: str = "python-m") -> ServerProcess:
        argv = [*program_argv(program), "serve", "--port", "0", *args]
        server = ServerProcess(argv, tmp_path / f"stderr-{len(started)}.txt")
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def run_cli(*args: str, program: str = "python-m") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*program_argv(program), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def submit(http: httpx.Client, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = http.post(SUBMIT_PATH, json=BODY, headers=AUTH if headers is None else headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def poll(http: httpx.Client, task_id: str) -> dict[str, Any]:
    response = http.get(f"/api/v1/tasks/{task_id}", headers=AUTH)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def port_closed(port: int) -> bool:
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=2)
    except ConnectionRefusedError:
        return True
    sock.close()
    return False


# --- serve --------------------------------------------------------------------------------


@pytest.mark.parametrize("program", PROGRAMS)
def test_serve_with_zero_timings_finishes_tasks_at_once(start_server, program):
    server = start_server("--pending-seconds", "0", "--processing-seconds", "0", program=program)
    url = server.url()
    with httpx.Client(base_url=url, timeout=10) as http:
        task = submit(http)
        assert task["get_result"]["url"] == f"{url}/api/v1/tasks/{task['task_id']}"
        data = poll(http, task["task_id"])
        assert data["status"] == "success"
        assert data["duration"] == 0
        video = http.get(data["result"]["resources"][0]["url"])
        assert video.status_code == 200
        assert video.content[4:8] == b"ftyp"
        assert http.get("/openapi.json").json()["openapi"] == "3.1.0"
    assert server.stop() in (0, -signal.SIGTERM)


def test_speed_runs_a_realistic_task_in_a_fraction_of_a_second(start_server):
    server = start_server("--speed", "1000", "--preset", "realistic")
    url = server.url()
    with httpx.Client(base_url=url, timeout=10) as http:
        started = time.monotonic()
        task = submit(http)
        seen: list[str] = []
        deadline = started + 15.0
        while time.monotonic() < deadline:
            data = poll(http, task["task_id"])
            if not seen or seen[-1] != data["status"]:
                seen.append(data["status"])
            if data["status"] in ("success", "failed"):
                break
            time.sleep(0.01)  # real-time: black-box subprocess, wall clock is the only clock
        elapsed = time.monotonic() - started
    assert seen[-1] == "success", f"not done after {elapsed:.2f} s: {seen}"
    assert seen == ["pending", "processing", "success"][-len(seen) :]
    # The realistic preset: 8 s pending + 112 s processing of clock time ...
    assert data["duration"] == 120_000
    assert data["end_time"] - data["submit_time"] == 120_000
    # ... which at x1000 cannot take less than 0.12 s of wall time.
    assert elapsed >= 0.11


def test_config_file_sets_the_progression_and_flags_win_over_it(start_server, tmp_path):
    config = tmp_path / "mock.toml"
    config.write_text('progression = "polls"\nterminal_on_poll = 6\nclock = "system"\n')
    server = start_server("--config", str(config), "--terminal-on-poll", "4")
    url = server.url()
    echoed = [server.next_line() for _ in range(3)]  # the settings echoed after the banner
    assert any('"kind": "polls"' in line and '"terminal_on": 4' in line for line in echoed)
    with httpx.Client(base_url=url, timeout=10) as http:
        task_id = submit(http)["task_id"]
        seen = [poll(http, task_id)["status"] for _ in range(5)]
    assert seen == ["pending", "processing", "processing", "success", "success"]


def test_api_key_allow_list(start_server):
    server = start_server("--api-key", KEY, "--api-key", OTHER_KEY.replace("Zz9", "Yy8"))
    url = server.url()
    with httpx.Client(base_url=url, timeout=10) as http:
        task_id = submit(http)["task_id"]
        other = {"Authorization": f"Bearer {OTHER_KEY}"}
        refused = http.post(SUBMIT_PATH, json=BODY, headers=other)
        assert refused.status_code == 401
        assert refused.json() == {"code": 401, "message": "Authentication failed: invalid API key"}
        polled = http.get(f"/api/v1/tasks/{task_id}", headers=other)
        assert polled.status_code == 401
        second = {"Authorization": "Bearer " + OTHER_KEY.replace("Zz9", "Yy8")}
        assert http.post(SUBMIT_PATH, json=BODY, headers=second).status_code == 200


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_server_exits_cleanly_on_signal(start_server, sig):
    server = start_server("--log-level", "info")
    url = server.url()
    port = int(url.rsplit(":", 1)[1])
    with httpx.Client(base_url=url, timeout=10) as http:
        assert http.get("/openapi.json").status_code == 200
    code = server.stop(sig)
    stderr = server.stderr
    # uvicorn shuts down gracefully, then may re-raise the signal so a supervisor sees it.
    assert code in (0, -sig), (code, stderr)
    assert "Traceback" not in stderr, stderr
    assert "Finished server process" in stderr, stderr
    assert port_closed(port)


def test_port_in_use_exits_2_with_a_message(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = run_cli("serve", "--port", str(port))
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "listening" not in result.stdout


# --- the other commands -------------------------------------------------------------------


@pytest.mark.parametrize("program", PROGRAMS)
def test_openapi_prints_the_served_document(program, openapi_document):
    result = run_cli("openapi", program=program)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == openapi_document


def test_key_prints_a_fresh_well_formed_key():
    first, second = run_cli("key", program="console-script"), run_cli("key")
    for result in (first, second):
        assert result.returncode == 0, result.stderr
        assert re.fullmatch(r"mdlx-[A-Za-z0-9]{48}\n", result.stdout), result.stdout
    assert first.stdout != second.stdout


def test_config_prints_the_effective_settings(tmp_path):
    config = tmp_path / "mock.toml"
    config.write_text('progression = "polls"\npreset = "realistic"\n')
    result = run_cli("config", "--config", str(config), "--pending-seconds", "3")
    assert result.returncode == 0, result.stderr
    settings = json.loads(result.stdout)
    assert settings["progression"] == "polls"
    assert settings["pending_seconds"] == 3.0  # a flag wins over the preset
    assert settings["processing_seconds"] == 112.0  # the preset fills what is not given


@pytest.mark.parametrize(
    ("toml", "args", "message"),
    [
        pytest.param(None, ["--speed", "0"], "speed must be positive", id="speed-zero"),
        pytest.param(
            None,
            ["--pending-seconds", "-1"],
            "pending_seconds must not be negative",
            id="negative-timing",
        ),
        pytest.param(
            'progression = "sometimes"\n',
            [],
            "progression must be one of clock, polls, manual, not 'sometimes'",
            id="toml-choice",
        ),
        pytest.param('speed = "fast"\n', [], "speed must be a number, not 'fast'", id="toml-type"),
        pytest.param('colour = "blue"\n', [], "unknown setting(s): colour", id="toml-unknown"),
        pytest.param("progression = \n", [], "is not valid TOML", id="toml-syntax"),
    ],
)
def test_bad_config_exits_2_with_a_message(tmp_path, toml, args, message):
    if toml is not None:
        config = tmp_path / "bad.toml"
        config.write_text(toml)
        args = ["--config", str(config), *args]
    result = run_cli("serve", "--port", "0", *args)
    assert result.returncode == 2
    assert result.stderr.startswith("vidu-lipsync-mock: ")
    assert message in result.stderr
    assert result.stdout == ""


def test_missing_config_file_exits_2(tmp_path):
    result = run_cli("serve", "--config", str(tmp_path / "absent.toml"))
    assert result.returncode == 2
    assert "cannot read config file" in result.stderr


def test_bad_flag_value_exits_2_with_usage():
    result = run_cli("serve", "--progression", "sometimes")
    assert result.returncode == 2
    assert "invalid choice: 'sometimes'" in result.stderr
    assert result.stdout == ""


def test_environment_variables_configure_a_served_mock(start_server, monkeypatch):
    """A CI service step or a compose file sets variables, not flags; a flag still wins."""
    monkeypatch.setenv("VIDU_LIPSYNC_MOCK_PROGRESSION", "polls")
    monkeypatch.setenv("VIDU_LIPSYNC_MOCK_TERMINAL_ON_POLL", "3")
    monkeypatch.setenv("VIDU_LIPSYNC_MOCK_API_KEYS", KEY)
    monkeypatch.setenv("VIDU_LIPSYNC_MOCK_PORT", "1")  # the fixture's --port 0 wins
    server = start_server()
    url = server.url()
    with httpx.Client(base_url=url, timeout=10) as http:
        task_id = submit(http)["task_id"]
        seen = [poll(http, task_id)["status"] for _ in range(3)]
        refused = http.post(
            SUBMIT_PATH, json=BODY, headers={"Authorization": f"Bearer {OTHER_KEY}"}
        )
    assert seen == ["pending", "processing", "success"]
    assert refused.status_code == 401
