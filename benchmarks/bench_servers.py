"""The servers under load, each a subprocess pinned to its own core.

Every server prints `... listening on http://127.0.0.1:PORT` as its first line; `Server`
reads it, keeps draining the rest of the output (so a chatty server never blocks on a full
pipe), and always kills the process on the way out.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from bench_wrk import pinned

__all__ = [
    "HERE",
    "Server",
    "ServerError",
    "python_argv",
    "read_busy_seconds",
    "read_cpu_seconds",
    "read_rss_kib",
]

HERE = Path(__file__).resolve().parent


class ServerError(RuntimeError):
    """A server that did not come up."""


def read_rss_kib(pid: int | str = "self") -> int | None:
    """VmRSS of a process in KiB (Linux), None where /proc is not there."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def read_cpu_seconds(pid: int | str = "self") -> float | None:
    """User + system CPU time a process has used (all its threads), from /proc."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_busy_seconds() -> float | None:
    """CPU time the whole machine has spent busy (all cores, all processes), from
    /proc/stat: the load of the servers, of wrk, and of anybody else."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    # user nice system idle iowait irq softirq steal ...
    ticks = [int(v) for v in fields[1:9]]
    busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + ticks[7]
    return busy / os.sysconf("SC_CLK_TCK")


class Server:
    """`with Server(name, argv, core=0) as server:` ... `server.url`."""

    def __init__(
        self, name: str, argv: Sequence[str], *, core: int | None = 0, timeout: float = 20.0
    ) -> None:
        self.name = name
        self.argv = pinned(core, argv)
        self.timeout = timeout
        self.url = ""
        self.startup_s = 0.0
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self._drain: threading.Thread | None = None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise ServerError(f"{self.name} is not running")
        return self._process.pid

    def rss_kib(self) -> int | None:
        return read_rss_kib(self.pid)

    def cpu_seconds(self) -> float | None:
        return read_cpu_seconds(self.pid)

    def start(self) -> str:
        started = time.perf_counter()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._process = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=self._stderr, env=env
        )
        stdout = self._process.stdout
        assert stdout is not None
        deadline = started + self.timeout
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.perf_counter()
            if remaining <= 0 or self._process.poll() is not None:
                self.stop()
                raise ServerError(f"{self.name} did not start: {self.stderr_tail()}")
            ready, _, _ = select.select([stdout], [], [], min(remaining, 0.2))
            if ready:
                chunk = os.read(stdout.fileno(), 1)
                if not chunk:
                    continue
                line += chunk
        text = line.decode("utf-8", "replace").strip()
        if " listening on " not in text:
            self.stop()
            raise ServerError(f"{self.name} printed {text!r} instead of its address")
        self.url = text.rsplit(" ", 1)[1].rstrip("/")
        if not self.url.startswith("http://127.0.0.1:"):
            self.stop()
            raise ServerError(f"{self.name} is not on loopback: {self.url}")
        self.startup_s = time.perf_counter() - started
        self._drain = threading.Thread(target=_drain, args=(stdout,), daemon=True)
        self._drain.start()
        return self.url

    def stderr_tail(self, limit: int = 2000) -> str:
        with contextlib.suppress(OSError, ValueError):
            self._stderr.seek(0)
            return self._stderr.read().decode("utf-8", "replace")[-limit:]
        return ""

    def stop(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if process is not None and process.stdout is not None:
            process.stdout.close()
        self._process = None
        with contextlib.suppress(OSError):
            self._stderr.close()

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _drain(stream: object) -> None:
    read = getattr(stream, "read", None)
    if read is None:
        return
    with contextlib.suppress(OSError, ValueError):
        while read(65536):
            pass


def python_argv(*args: str) -> list[str]:
    return [sys.executable, *args]
