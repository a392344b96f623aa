"""The `lipsync` marker, the `--lipsync-*` options and `lipsync_*` ini keys."""

from __future__ import annotations

import pytest


def test_marker_sets_faults_timings_and_strict_keys(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from vidu_lipsync_mock import make_api_key

        GOOD = make_api_key("allowed")

        @pytest.mark.lipsync(
            faults=[{"fault": "error", "status": 503, "route": "poll", "times": 1}],
            pending_seconds=5, processing_seconds=10, strict_keys=[GOOD],
        )
        def test_marker(lipsync_mock, lipsync_client):
            headers = {"Authorization": f"Bearer {GOOD}"}
            assert lipsync_client.post("/api/v1/vidu/lip-sync/async", json={"video_url": "https://v"}).status_code == 401
            task = lipsync_client.post("/api/v1/vidu/lip-sync/async", json={"video_url": "https://v"}, headers=headers).json()["data"]
            assert lipsync_client.get(task["get_result"]["url"], headers=headers).status_code == 503
            lipsync_mock.advance(14.9)
            assert lipsync_client.get(task["get_result"]["url"], headers=headers).json()["data"]["status"] == "processing"
            lipsync_mock.advance(0.1)
            assert lipsync_client.get(task["get_result"]["url"], headers=headers).json()["data"]["status"] == "success"
        """
    )
    pytester.runpytest("--strict-markers").assert_outcomes(passed=1)


def test_command_line_options_and_ini_keys(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        """
        [pytest]
        lipsync_rate_limit = 3
        lipsync_progression = clock
        """
    )
    pytester.makepyfile(
        """
        def test_options(lipsync_mock, lipsync_client):
            assert lipsync_mock.config.rate_limit == 3
            assert lipsync_mock.config.progression == "polls"
            task = lipsync_client.post("/api/v1/vidu/lip-sync/async", json={"video_url": "https://v"}).json()["data"]
            statuses = [lipsync_client.get(task["get_result"]["url"]).status_code for _ in range(3)]
            assert statuses == [200, 200, 429]
        """
    )
    pytester.runpytest("--lipsync-progression", "polls").assert_outcomes(passed=1)


#: A test that appends the id of the task it submitted to $TASK_ID_FILE, so that several
#: runs can be compared.
WRITES_ITS_TASK_ID = """
import os

def test_ids(lipsync_client):
    r = lipsync_client.post("/api/v1/vidu/lip-sync/async", json={"video_url": "https://v"})
    with open(os.environ["TASK_ID_FILE"], "a") as out:
        out.write(r.json()["data"]["task_id"] + "\\n")
"""


def test_seed_is_printed_and_replays_the_same_ids(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(WRITES_ITS_TASK_ID)
    ids = pytester.path / "ids.txt"
    monkeypatch.setenv("TASK_ID_FILE", str(ids))
    first = pytester.runpytest("--lipsync-seed", "4242")
    first.stdout.fnmatch_lines(["lipsync: seed 4242 (replay with --lipsync-seed 4242)"])
    pytester.runpytest("--lipsync-seed", "4242")
    pytester.runpytest("--lipsync-seed", "4243")
    one, again, other = ids.read_text().split()
    assert one == again
    assert one != other


def test_profile_by_option_and_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        def test_option_profile(lipsync_mock):
            assert lipsync_mock.config.profile == "provider-outage"
            assert [r["fault"]["status"] for r in lipsync_mock.fault_rules()] == [503, 500]

        @pytest.mark.lipsync(profile="eventual-consistency")
        def test_marker_profile(lipsync_mock):
            assert [r["fault"]["kind"] for r in lipsync_mock.fault_rules()] == ["task_not_found"]
        """
    )
    pytester.runpytest("--lipsync-profile", "provider-outage").assert_outcomes(passed=2)


def test_fast_forward_turns_client_sleeps_into_virtual_time(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import time
        import pytest

        @pytest.mark.lipsync(fast_forward=True, preset="realistic")
        def test_polls_every_ten_seconds(lipsync_mock, lipsync_client):
            started = time.perf_counter()
            task = lipsync_client.post("/api/v1/vidu/lip-sync/async", json={"video_url": "https://v"}).json()["data"]
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                data = lipsync_client.get(task["get_result"]["url"]).json()["data"]
                if data["status"] == "success":
                    break
                time.sleep(10)  # real-time: no, fast-forward turns it into virtual time
            assert data["status"] == "success"
            polls = lipsync_mock.journal.entries(route="poll")
            gaps = [b.clock_time - a.clock_time for a, b in zip(polls, polls[1:])]
            assert gaps and all(gap == 10 for gap in gaps)
            assert data["duration"] == 120_000
        """
    )
    result = pytester.runpytest("--durations=1", "-vv")
    result.assert_outcomes(passed=1)


def test_bad_marker_usage_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.lipsync(no_such_setting=1)
        def test_typo(lipsync_mock):
            pass
        """
    )
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["*unknown setting(s) no_such_setting*"])
    assert result.ret != 0


def test_failure_report_shows_seed_faults_and_journal(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.lipsync(faults=[{"fault": "error", "status": 503, "route": "poll"}])
        def test_client_gets_503(lipsync_client):
            r = lipsync_client.post("/api/v1/vidu/lip-sync/async", json={"video_url": "https://v"})
            assert lipsync_client.get(r.json()["data"]["get_result"]["url"]).status_code == 200
        """
    )
    result = pytester.runpytest("--lipsync-seed", "77")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- lipsync -*",
            "seed: * run seed 77: replay with --lipsync-seed 77",
            "fault rules:",
            '  rule-1: {"kind": "error", "status": 503} on {"route": "poll"}*(matched 1, fired 1)',
            "faults fired (1, last 1):",
            "journal (2 requests, last 2):",
            "*POST   /api/v1/vidu/lip-sync/async -> 200*",
            "*GET    /api/v1/tasks/task-* -> 503  [fault=error:503*",
        ]
    )


def test_the_printed_run_seed_replays_a_run_that_had_no_seed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(WRITES_ITS_TASK_ID)
    ids = pytester.path / "ids.txt"
    monkeypatch.setenv("TASK_ID_FILE", str(ids))
    unseeded = pytester.runpytest()
    header = next(line for line in unseeded.outlines if line.startswith("lipsync: seed "))
    run_seed = header.split()[2]
    pytester.runpytest("--lipsync-seed", run_seed)
    original, replayed = ids.read_text().split()
    assert original == replayed
