"""`--lipsync-har-dir DIR`: a failed test's exchanges as a HAR file, by the journal's one
HAR writer (the export's), valid HAR 1.2 with keys redacted; a passing test writes none."""

from __future__ import annotations

import json
from pathlib import Path

from jsonschema import Draft202012Validator

from vidu_lipsync_mock.pytest_plugin.har_report import har_file_name

SCHEMA = json.loads((Path(__file__).parent / "har-1.2.schema.json").read_text())

TESTS = """
SUBMIT = "/api/v1/vidu/lip-sync/async"

def test_fails(lipsync_client, lipsync_mock):
    lipsync_mock.add_fault("error", status=503, route="poll", times=1)
    task_id = lipsync_client.post(SUBMIT, json={"video_url": "https://e.com/a.mp4"}).json()[
        "data"]["task_id"]
    lipsync_client.get(f"/api/v1/tasks/{task_id}")
    lipsync_client.get(f"/api/v1/tasks/{task_id}", headers={"X-Request-Id": "mine"})
    assert False, "the client gave up"

def test_passes(lipsync_client):
    assert lipsync_client.get("/api/v1/models").status_code == 200
"""


def test_a_failed_test_leaves_a_har_file(pytester) -> None:
    pytester.makepyfile(test_client=TESTS)
    folder = pytester.path / "hars"
    result = pytester.runpytest("--lipsync-har-dir", str(folder))
    result.assert_outcomes(passed=1, failed=1)
    (written,) = folder.iterdir()
    assert written.name == har_file_name("test_client.py::test_fails")
    assert written.name == "test_client.py_test_fails.har"
    result.stdout.fnmatch_lines(["*lipsync HAR*", f"*{written}*"])
    text = written.read_text()
    har = json.loads(text)
    assert not list(Draft202012Validator(SCHEMA).iter_errors(har))
    entries = har["log"]["entries"]
    assert har["log"]["pages"][0]["title"] == "test_client.py::test_fails"
    assert [(e["_route"], e["response"]["status"]) for e in entries] == [
        ("submit", 200),
        ("poll", 503),
        ("poll", 200),
    ]
    assert entries[2]["_attempt"]["retry"] is True
    assert entries[2]["_requestId"] == "mine"
    assert "mdlx-vidulipsyncmock000" not in text  # the plugin's key, redacted


def test_without_the_option_nothing_is_written(pytester) -> None:
    pytester.makepyfile(test_client=TESTS)
    pytester.runpytest().assert_outcomes(passed=1, failed=1)
    assert not list(pytester.path.rglob("*.har"))


def test_file_names_are_safe_and_distinct() -> None:
    assert har_file_name("t.py::test_x[a/b c]") == "t.py_test_x_a_b_c.har"
    assert har_file_name("t.py::test", "setup", 2) == "t.py_test-2.setup.har"
    long_one, other = "t.py::" + "x" * 300, "t.py::" + "x" * 299 + "y"
    assert len(har_file_name(long_one)) < 140
    assert har_file_name(long_one) != har_file_name(other)
