"""A mistake in the plugin's options, ini keys, marker or Python API is named where it is
made, with what is accepted: one usage error at the start of the run for the options, a
refusal with the reason for a setting that cannot apply, and a report that says when a
test waited on a clock that never moved."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vidu_lipsync_mock import LipSyncMock

REPO = Path(__file__).resolve().parents[2]

PASSING = """
def test_nothing(lipsync_mock):
    pass
"""


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        pytest.param(
            ["--lipsync-rate-limit", "many"],
            "",
            "--lipsync-rate-limit: expected a whole number, not 'many'",
            id="rate-limit",
        ),
        pytest.param(
            ["--lipsync-seed", "abc"],
            "",
            "--lipsync-seed: expected a whole number, not 'abc'",
            id="seed",
        ),
        pytest.param(
            ["--lipsync-pending-seconds", "soon"],
            "",
            "--lipsync-pending-seconds: expected a number of seconds, not 'soon'",
            id="seconds",
        ),
        pytest.param(
            ["--lipsync-profile", "flakey"],
            "",
            "--lipsync-profile: expected one of *, not 'flakey'",
            id="profile",
        ),
        pytest.param(
            [],
            "lipsync_progression = sometimes",
            "ini lipsync_progression: expected one of clock, polls, manual, not 'sometimes'",
            id="ini-choice",
        ),
        pytest.param(
            [],
            "lipsync_audit = maybe",
            "ini lipsync_audit: expected true or false (1/0, yes/no), not 'maybe'",
            id="ini-switch",
        ),
        pytest.param(
            [],
            "lipsync_seed = 1.5",
            "ini lipsync_seed: expected a whole number, not '1.5'",
            id="ini-seed",
        ),
        pytest.param(
            ["--lipsync-pending-seconds", "-1"],
            "",
            "lipsync options: pending_seconds must not be negative (from --lipsync-pending-seconds)",
            id="range",
        ),
        pytest.param(
            ["--lipsync-url", "localhost:8000"],
            "",
            "--lipsync-url: expected the base URL of a running mock (http://host:port), not *",
            id="url",
        ),
    ],
)
def test_a_bad_option_is_one_usage_error_at_start(
    pytester: pytest.Pytester, args: list[str], ini: str, message: str
) -> None:
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile(PASSING * 1)
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert len([line for line in result.stderr.lines if line.startswith("ERROR:")]) == 1
    assert "passed" not in result.stdout.str()


@pytest.mark.parametrize(
    ("marker", "fixture", "message"),
    [
        pytest.param(
            "audit={'max_attempt': 3}",
            "lipsync_mock",
            "*audit=...): unknown field(s) max_attempt; AuditPolicy has min_poll_interval, max_attempts*",
            id="audit-field",
        ),
        pytest.param(
            "audit='strict'",
            "lipsync_mock",
            "*audit=...) takes True or a dict of AuditPolicy fields, not 'strict'",
            id="audit-value",
        ),
        pytest.param(
            "faults=[{'fault': 'eror', 'route': 'poll'}]",
            "lipsync_mock",
            "*faults=...): rule 1 {'fault': 'eror', 'route': 'poll'}: unknown fault 'eror'; known: *",
            id="fault-kind",
        ),
        pytest.param(
            "faults=['error']",
            "lipsync_mock",
            "*faults=...) takes rule dicts, e.g. *, not 'error'",
            id="fault-shape",
        ),
        pytest.param(
            "progression='sometimes'",
            "lipsync_mock",
            "*lipsync: progression must be one of clock, polls, manual, not 'sometimes'",
            id="choice",
        ),
        pytest.param(
            "port=9000",
            "lipsync_mock",
            "*lipsync(port=...) cannot apply to lipsync_mock: the in-process mock has no socket",
            id="port-in-process",
        ),
        pytest.param(
            "port=9000, log_level='debug'",
            "lipsync_live",
            "*lipsync(log_level=..., port=...) cannot apply to lipsync_live: the session's server*",
            id="port-live",
        ),
        pytest.param(
            "speed=60",
            "lipsync_mock",
            "*lipsync(speed=60): speed scales a system clock, and this mock's clock is manual*",
            id="speed-manual-clock",
        ),
        pytest.param(
            "progression='polls', pending_seconds=5",
            "lipsync_mock",
            "*pending_seconds applies to the 'clock' progression, and this mock's is 'polls'*",
            id="timing-for-polls",
        ),
    ],
)
def test_a_marker_setting_is_named_or_refused_with_a_reason(
    pytester: pytest.Pytester, marker: str, fixture: str, message: str
) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.lipsync({marker})
        def test_marked({fixture}):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"E   {message}"])


def test_settings_that_apply_are_taken(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.lipsync(clock="system", speed=60)
        def test_speed_on_a_system_clock(lipsync_mock):
            assert lipsync_mock.config.speed == 60

        @pytest.mark.lipsync(progression="polls", processing_on_poll=1, terminal_on_poll=2)
        class TestPolls:
            @pytest.mark.lipsync(progression="manual")  # overrides the class's choice
            def test_closest_marker_wins(self, lipsync_mock):
                assert lipsync_mock.config.progression == "manual"
        """
    )
    pytester.runpytest("--lipsync-rate-limit", "0").assert_outcomes(passed=2)


def test_wrong_status_words_name_the_accepted_ones() -> None:
    mock = LipSyncMock(progression="manual")
    task_id = mock.submit("vidu/lip-sync", {"video_url": "https://a/v.mp4"}, mock.api_key).task_id
    with pytest.raises(ValueError, match="'queued' is not a valid TaskStatus") as caught:
        mock.force(task_id, "queued")
    assert "force() takes 'pending', 'processing', 'success', 'failed'" in str(caught.value)
    assert "a task starts 'pending', the provider's queued state" in str(caught.value)
    with pytest.raises(ValueError, match=r"tasks\(status=\.\.\.\) takes 'pending', 'processing'"):
        mock.tasks("done")


def test_the_report_says_when_a_test_waited_on_a_clock_that_never_moved(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        SUBMIT = "/api/v1/vidu/lip-sync/async"

        def poll_until_done(client, url, tries=5):
            for _ in range(tries):
                status = client.get(url).json()["data"]["status"]
                if status in ("success", "failed"):
                    return status
            return status

        def test_waits_forever(lipsync_client):
            url = lipsync_client.post(SUBMIT, json={"video_url": "https://a/v.mp4"}).json()["data"]["get_result"]["url"]
            assert poll_until_done(lipsync_client, url) == "success"

        def test_moves_the_clock_but_fails_otherwise(lipsync_mock, lipsync_client):
            url = lipsync_client.post(SUBMIT, json={"video_url": "https://a/v.mp4"}).json()["data"]["get_result"]["url"]
            lipsync_mock.advance(1)
            assert poll_until_done(lipsync_client, url) == "failed"
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    # What docs/pytest.md shows, line for line (the task id varies).
    page = (REPO / "docs" / "pytest.md").read_text(encoding="utf-8")
    shown = re.search(r"```text\n(clock: manual, .*?)```", page, re.DOTALL)
    assert shown is not None, "docs/pytest.md lost the clock hint"
    expected = [line.replace("task-…", "task-*") for line in shown.group(1).splitlines()]
    result.stdout.fnmatch_lines(["*- lipsync -*", *expected], consecutive=False)
    assert result.stdout.str().count("clock: manual, and it has not moved") == 1
