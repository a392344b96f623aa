"""The memory benchmark's socket waves on a tiny scale: both servers start, each wave gets
the statuses it is meant to measure, and the report and verdict read the rows."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bench_memory  # noqa: E402


def test_the_socket_waves_run_against_the_mock_and_bare_starlette() -> None:
    rows = bench_memory.measure_over_socket(submits=3, polls=2, huge_header=2 << 20, soak=600)
    assert {row["server"] for row in rows} == {"mock", "bare Starlette"}
    mock = {row["wave"]: row for row in rows if row["server"] == "mock"}
    assert mock["(a) submit, 1 MB body"]["statuses"] == {200: 3}
    assert mock["(b) poll, 1 MB header"]["statuses"] == {431: 2}
    assert mock["(b) poll, 2 MiB header"]["statuses"] == {431: 1}
    soak = mock["(c) soak, journal reads"]
    assert soak["statuses"] == {200: 202, 404: 400}  # 200 submits, 2 journal reads, 400 polls
    assert "second_half_mib" in soak
    assert all(row["rss_after_mib"] > 0 for row in rows)
    report = bench_memory.markdown(rows)
    assert report.count("\n| mock |") == 4
    assert "per 200 one-megabyte submits" in bench_memory.verdict(rows)
