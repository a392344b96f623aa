"""The downstream example project in docs/examples/downstream runs as a user would run it:
the sound client's suite passes, the buggy client's suite fails with the auditor's
findings (a double charge and ignored Retry-After), and the report says how to replay."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "downstream"


def run_suite(name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=EXAMPLES.parents[2],
        check=False,
    )


def test_the_sound_client_passes_its_suite_and_the_audit() -> None:
    result = run_suite("test_good_client.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


def test_the_buggy_client_fails_with_the_auditors_findings() -> None:
    result = run_suite("test_buggy_client.py")
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "ERROR at teardown of test_buggy_client_pays_twice" in out
    assert "double-submit" in out
    assert "the client paid twice for one job" in out
    assert "ERROR at teardown of test_buggy_client_ignores_retry_after" in out
    assert "ignored-retry-after" in out
    assert "said Retry-After: 30" in out
    assert "replay with --lipsync-seed" in out
