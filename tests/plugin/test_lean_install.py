"""The lean install: `pip install vidu-lipsync-mock` (no extras) brings the server and the
fixtures. Hypothesis and Faker (the `strategies` extra) and respx and responses (the
`intercept` extra) are simulated absent by an import blocker in a fresh interpreter: the
plugin must load and its fixtures work without them, and the modules that need them must
name the extra. (docs/zero-to-green.md's test does the same from a real lean venv.)"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

#: Hide the optional libraries from every finder, as an environment without them would.
BLOCKER = """
import sys

BLOCKED = {"hypothesis", "_hypothesis_pytestplugin", "faker", "respx", "responses"}


class Hide:
    def __init__(self, finder):
        self.finder = finder

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            return None
        find = getattr(self.finder, "find_spec", None)
        return None if find is None else find(name, path, target)

    def __getattr__(self, name):
        return getattr(self.finder, name)


sys.meta_path[:] = [Hide(finder) for finder in sys.meta_path]
"""

USER_TEST = """
import pytest

SUBMIT = "/api/v1/vidu/lip-sync/async"


def test_lifecycle(lipsync_mock, lipsync_client):
    r = lipsync_client.post(SUBMIT, json={"video_url": "https://a/v.mp4"})
    task_id = r.json()["data"]["task_id"]
    lipsync_mock.run_until_terminal(task_id)
    assert lipsync_client.get(f"/api/v1/tasks/{task_id}").json()["data"]["status"] == "success"


def test_live_server(lipsync_live):
    import httpx

    answer = httpx.get(f"{lipsync_live.url}/_mock/health")
    assert answer.status_code == 200


@pytest.mark.parametrize(
    ("module", "library"),
    [
        ("vidu_lipsync_mock.pytest_plugin.strategies", "hypothesis"),
        ("vidu_lipsync_mock.pytest_plugin.strategies.rules", "hypothesis"),
        ("vidu_lipsync_mock.pytest_plugin.providers", "faker"),
    ],
)
def test_the_extra_is_named(module, library):
    import importlib

    with pytest.raises(ModuleNotFoundError) as caught:
        importlib.import_module(module)
    message = str(caught.value)
    assert library in message
    assert "pip install 'vidu-lipsync-mock[strategies]'" in message


def test_nothing_optional_was_imported():
    import sys

    loaded = {name.split(".")[0] for name in sys.modules}
    assert not loaded & {"hypothesis", "faker", "respx", "responses"}
"""


def test_plugin_and_fixtures_work_without_the_optional_extras(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(USER_TEST)
    runner = tmp_path / "run.py"
    runner.write_text(
        BLOCKER
        + textwrap.dedent(
            """
            import pytest

            # The hidden packages' own pytest plugins are entry points of this environment
            # (an environment without the packages has none): load only ours, and leave
            # assertion rewriting, whose import hook would sit in front of the blocker, off.
            raise SystemExit(pytest.main([
                "-q", "-p", "no:cacheprovider", "-p", "vidu_lipsync_mock.pytest_plugin.plugin",
                "--assert=plain", "-W", "error", "test_user.py",
            ]))
            """
        )
    )
    result = subprocess.run(
        [sys.executable, str(runner)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed" in result.stdout
