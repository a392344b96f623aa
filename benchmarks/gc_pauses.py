"""Run the mock's CLI with the garbage collector's pauses timed, to see what they do to
tail latency. Same arguments as `vidu-lipsync-mock`; on exit (Ctrl-C or SIGINT) it prints
to stderr how many collections of each generation ran and the longest pause:

    taskset -c 0 python benchmarks/gc_pauses.py serve --port 0 --rate-limit 0 \
        --starting-credit 1000000000 --progression manual
    # ... load it with wrk from another core, then Ctrl-C:
    gc gen2: 7 collections, longest 268.9 ms, total 953 ms; gen0/1: 1011, longest 6.5 ms
"""

from __future__ import annotations

import atexit
import gc
import sys
import time
from typing import Any

__all__ = ["GcPauses", "main"]


class GcPauses:
    """Collects the duration of every collection through `gc.callbacks`."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((int(info["generation"]), time.perf_counter() - self._started))

    def summary(self) -> str:
        old = [p * 1000 for g, p in self.pauses if g == 2]
        young = [p * 1000 for g, p in self.pauses if g != 2]
        return (
            f"gc gen2: {len(old)} collections, longest {max(old, default=0):.1f} ms, total "
            f"{sum(old):.0f} ms; gen0/1: {len(young)}, longest {max(young, default=0):.1f} ms, "
            f"total {sum(young):.0f} ms"
        )


def main(argv: list[str]) -> int:
    pauses = GcPauses()
    gc.callbacks.append(pauses)
    atexit.register(lambda: print(pauses.summary(), file=sys.stderr, flush=True))
    from vidu_lipsync_mock.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
