"""The benchmark's own helpers, without any load: the wrk report parser on captured output,
the profile and pytest parsers, and the in-process measurements on a tiny N.

wrk itself is not run here (that is `python benchmarks/bench.py --quick`, run by CI on its
own), so this file stays fast.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bench_inprocess  # noqa: E402
import bench_memory  # noqa: E402
import bench_profile  # noqa: E402
import bench_wrk  # noqa: E402

WRK_SAMPLE = """\
Running 3s test @ http://127.0.0.1:39187/api/v1/tasks/task-xfjt3r2gq1x8nkni5yxvfjq1
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    13.52ms   11.23ms 156.87ms   93.07%
    Req/Sec     2.56k   484.75     3.17k    66.67%
  Latency Distribution
     50%   11.79ms
     75%   16.29ms
     90%   20.77ms
     99%   69.86ms
  7733 requests in 3.04s, 4.06MB read
Requests/sec:   2547.59
Transfer/sec:      1.34MB
"""

WRK_SAMPLE_WITH_ERRORS = """\
Running 2s test @ http://127.0.0.1:40000/files/x/result.mp4
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   940.00us    1.37ms   1.02s    84.89%
    Req/Sec     2.67k   514.28     4.82k    83.33%
  Latency Distribution
     50%  203.00us
     75%    1.28ms
     90%    3.00ms
     99%    1.50s
  7974 requests in 3.01s, 169.25MB read
  Socket errors: connect 0, read 3, write 1, timeout 2
  Non-2xx or 3xx responses: 17
Requests/sec:   2651.83
Transfer/sec:     56.28MB
"""


def test_wrk_report_is_read():
    result = bench_wrk.parse_wrk_output(WRK_SAMPLE)
    assert result.requests == 7733
    assert result.requests_per_s == pytest.approx(2547.59)
    assert result.p50_ms == pytest.approx(11.79)
    assert result.p99_ms == pytest.approx(69.86)
    assert result.mean_ms == pytest.approx(13.52)
    assert result.max_ms == pytest.approx(156.87)
    assert (result.errors, result.non_2xx) == (0, 0)
    assert result.clean


def test_wrk_units_and_errors_are_read():
    result = bench_wrk.parse_wrk_output(WRK_SAMPLE_WITH_ERRORS)
    assert result.p50_ms == pytest.approx(0.203)
    assert result.p99_ms == pytest.approx(1500.0)
    assert result.max_ms == pytest.approx(1020.0)
    assert result.errors == 6
    assert result.non_2xx == 17
    assert not result.clean


@pytest.mark.parametrize(
    ("text", "ms"),
    [("203.00us", 0.203), ("11.79ms", 11.79), ("1.02s", 1020.0), ("1.00m", 60_000.0)],
)
def test_wrk_durations(text, ms):
    assert bench_wrk.parse_duration_ms(text) == pytest.approx(ms)


def test_output_that_is_not_a_wrk_report_is_refused():
    with pytest.raises(bench_wrk.WrkError):
        bench_wrk.parse_wrk_output("unable to connect to 127.0.0.1:1 Connection refused\n")
    without_latency = WRK_SAMPLE.replace("Latency Distribution", "").replace("     50%", "")
    with pytest.raises(bench_wrk.WrkError):
        bench_wrk.parse_wrk_output(without_latency)


def test_submit_script_and_command(tmp_path):
    script = bench_wrk.submit_script(
        tmp_path / "submit.lua",
        '{"video_url":"https://example.com/a.mp4"}',
        {"Content-Type": "application/json", "Authorization": "Bearer mdlx-x"},
    )
    text = script.read_text()
    assert 'wrk.method = "POST"' in text
    assert 'wrk.body = "{\\"video_url\\":\\"https://example.com/a.mp4\\"}"' in text
    assert 'wrk.headers["Authorization"] = "Bearer mdlx-x"' in text
    command = bench_wrk.wrk_command(
        "http://127.0.0.1:1/x", connections=32, seconds=2.4, script=script, core=None
    )
    assert command[:4] == ["wrk", "-t1", "-c32", "-d2s"]
    assert "--latency" in command
    assert command[-1] == "http://127.0.0.1:1/x"


def test_only_loopback_is_loaded():
    with pytest.raises(bench_wrk.WrkError, match="loopback"):
        bench_wrk.run_wrk("http://192.0.2.1:80/", connections=1, seconds=1)


def test_collapsed_stacks_are_summarized():
    text = (
        "main (app.py:1);handle (app.py:10);dumps (json/__init__.py:231) 3\n"
        "main (app.py:1);handle (app.py:12) 1\n"
        "main (app.py:2);idle (loop.py:5) 4\n"
    )
    summary = bench_profile.summarize_profile(bench_profile.parse_collapsed(text))
    assert summary.samples == 8
    assert summary.self_share[0] == ("idle (loop.py)", 0.5)
    assert summary.share("handle") == pytest.approx(0.5)
    assert summary.share("main") == pytest.approx(1.0)
    assert summary.share("absent") == 0.0


def test_pytest_closing_line_is_read():
    assert bench_inprocess.parse_pytest_seconds("300 passed in 0.91s\n") == (300, 0.91)
    line = "==== 300 passed, 1 warning in 1.25s ===="
    assert bench_inprocess.parse_pytest_seconds(line) == (300, 1.25)
    assert bench_inprocess.parse_pytest_seconds("no tests ran in 0.01s") is None


def _sane(timing, most_us):
    assert timing.n > 0
    assert 0 < timing.min_us <= timing.median_us <= timing.p99_us
    assert math.isfinite(timing.mean_us)
    assert timing.median_us < most_us


def test_roundtrip_measurements_on_a_tiny_n():
    _sane(bench_inprocess.measure_async_roundtrip(5), most_us=1_000_000)
    _sane(bench_inprocess.measure_async_roundtrip(5, plugin=True), most_us=1_000_000)
    _sane(bench_inprocess.measure_sync_roundtrip(5), most_us=1_000_000)


def test_fixture_measurements_on_a_tiny_n():
    results = bench_inprocess.measure_fixture_overhead(20)
    assert set(results) == {
        "empty function",
        "mock_for (cached config)",
        "config build + mock_for",
        "server reset (lipsync_live)",
    }
    for timing in results.values():
        _sane(timing, most_us=1_000_000)
    assert results["empty function"].median_us < results["mock_for (cached config)"].median_us


def test_server_start_measurement():
    samples = bench_inprocess.measure_server_start(1)
    assert len(samples) == 1
    assert 0 < samples[0] < 10_000


def test_memory_measurements_on_a_tiny_n():
    tasks = bench_memory.measure_tasks(200, 1)
    (cycle,) = tasks["cycles"]
    assert cycle["finished"] == 200
    assert cycle["evicted"] == 200
    assert cycle["left"] == 0
    assert tasks["baseline"] > 0
    full = bench_memory.measure_full_store(50, 2)
    assert full["submit_us_empty"] > 0
    assert full["submit_us_full"] > 0


def test_generated_pytest_files_compile(tmp_path):
    path = bench_inprocess._write_tests(tmp_path, "test_gen.py", 3, "lipsync_mock")
    source = path.read_text()
    compile(source, str(path), "exec")
    assert source.count("def test_") == 3
    assert "def test_2(lipsync_mock):" in source


def test_layer_measurements_on_a_tiny_n():
    layers = bench_inprocess.measure_asgi_layers(5)
    assert list(layers) == [
        "bare Starlette (fixed bytes)",
        "our full app, no fault rule",
        "our full app",
    ]
    for kinds in layers.values():
        assert set(kinds) == {"poll", "submit"}
        for timing in kinds.values():
            _sane(timing, most_us=1_000_000)


@pytest.mark.parametrize("which", ["ours", "starlette"])
@pytest.mark.parametrize("kind", ["poll", "submit"])
def test_the_instruction_count_child_runs_its_requests(which: str, kind: str) -> None:
    """What callgrind measures must itself work (valgrind is not run here)."""
    import bench_instructions

    bench_instructions._requests(which, kind, 5)


def test_the_instruction_counter_reads_callgrinds_total() -> None:
    import bench_instructions

    line = "==123== Collected : 1,234,567\n".replace(",", "")
    found = bench_instructions._COLLECTED.search(line)
    assert found is not None
    assert int(found.group(1)) == 1234567


def test_the_server_counter_reads_a_callgrind_dumps_totals() -> None:
    import bench_instructions

    dump = "events: Ir\nfn=(1) main\n5 10\nsummary: 987654\ntotals: 987654\n"
    found = bench_instructions._TOTALS.search(dump)
    assert found is not None
    assert int(found.group(1)) == 987654


def test_the_reference_app_answers_the_mocks_quota_headers() -> None:
    """The ceiling writes what the mock writes: its bodies and its headers."""
    import asyncio

    mock = bench_inprocess.bench_mock()

    async def run() -> None:
        requests, reference = await bench_inprocess.asgi_requests(mock)
        for kind in ("poll", "submit"):
            ours = await bench_inprocess._asgi_call(mock.app, *requests[kind])
            theirs = await bench_inprocess._asgi_call(reference, *requests[kind])
            names = [name for name, _ in ours[0]["headers"]]
            quota = [name for name in names if name.startswith(b"x-ratelimit-")]
            assert len(quota) == 3
            # the same headers (X-Request-Id too); the values are the first answer's
            assert sorted(name for name, _ in theirs[0]["headers"]) == sorted(names)
            assert len(theirs[-1]["body"]) == len(ours[-1]["body"])

    asyncio.run(run())


def test_the_ratio_row_judges_throughput_and_cpu_against_the_targets() -> None:
    import bench

    def result(rps: float, p99: float, non_2xx: int = 0) -> bench_wrk.WrkResult:
        return bench_wrk.WrkResult(1000, rps, 1.0, 1.0, 1.0, p99, 1.0, p99, 0, non_2xx)

    report = bench.Report()
    results = {
        ("submit", 32, bench.OURS): result(8000, 4.0),
        ("submit", 32, bench.STARLETTE): result(10000, 3.0),
    }
    cpu = {("submit", 32, bench.OURS): 40.0, ("submit", 32, bench.STARLETTE): 32.0}
    row = bench._ratio_row(report, results, cpu, "submit", 32, results[("submit", 32, bench.OURS)])
    assert row[3] == "80%"
    assert row[5] == "1.25x"
    assert row[6].startswith(">= 75%")
    assert row[7] == "yes"
    assert row[8] == "yes"
    assert "<= 5: yes" in row[9]
    cpu[("submit", 32, bench.OURS)] = 44.0  # 1.38 times Starlette's: over 1/0.75
    row = bench._ratio_row(report, results, cpu, "submit", 32, results[("submit", 32, bench.OURS)])
    assert row[8] == "**no**"
    assert not report.failures
    bad = result(9000, 4.0, non_2xx=5)
    row = bench._ratio_row(report, results, cpu, "submit", 32, bad)
    assert "invalid" in row[7]
    assert report.failures
