"""Under `pytest -n 2` every worker gets its own server, port and state."""

from __future__ import annotations

import pytest

pytest.importorskip("xdist")


def test_live_server_per_worker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        **{
            f"test_worker_{n}": f"""
            import os

            def test_isolated_{n}(lipsync_live, lipsync_client):
                assert lipsync_live.tasks() == []
                lipsync_client.post("/api/v1/vidu/lip-sync/async", json={{"video_url": "https://v"}})
                print("PORT", os.environ.get("PYTEST_XDIST_WORKER"), lipsync_live.url)
            """
            for n in range(6)
        }
    )
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider", "-s", "-v")
    result.assert_outcomes(passed=6)
    output = "\n".join(result.outlines)
    assert "gw0" in output
    assert "gw1" in output
