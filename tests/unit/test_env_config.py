"""Settings from VIDU_LIPSYNC_MOCK_* variables, and the server's sources merged with their
precedence (flags, variables, the TOML file, defaults) and provenance."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from vidu_lipsync_mock.cli import main
from vidu_lipsync_mock.config import ConfigError, MockConfig
from vidu_lipsync_mock.env_config import from_environment, merge, variable_for

KEY = "mdlx-" + "Ab1" * 16
REPO = Path(__file__).resolve().parents[2]


def as_variable_text(value: Any) -> str:
    """How a user writes a value in a variable: lists comma-separated, structures as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple) and all(isinstance(v, str) for v in value) and value:
        return ",".join(value)
    if isinstance(value, (tuple, dict)):
        return json.dumps(value)
    return str(value)


@pytest.mark.parametrize("field", dataclasses.fields(MockConfig), ids=lambda f: f.name)
def test_every_setting_has_a_variable(field: dataclasses.Field[Any]) -> None:
    """Generic over the fields: a setting added to MockConfig gets its variable for free."""
    value = getattr(MockConfig(), field.name)
    variable = variable_for(field.name)
    assert variable == "VIDU_LIPSYNC_MOCK_" + field.name.upper()
    # An unset setting is an empty variable; any other is written as a user would.
    parsed = from_environment({variable: "" if value is None else as_variable_text(value)})
    assert set(parsed) == {field.name}
    assert MockConfig.build(parsed) == MockConfig()


def test_values_of_every_shape() -> None:
    environ = {
        "VIDU_LIPSYNC_MOCK_PORT": "9001",
        "VIDU_LIPSYNC_MOCK_SPEED": "60",
        "VIDU_LIPSYNC_MOCK_CLOCK": "manual",
        "VIDU_LIPSYNC_MOCK_ACCESS_LOG": "1",
        "VIDU_LIPSYNC_MOCK_RETRY_AFTER_HEADER": "TRUE",
        "VIDU_LIPSYNC_MOCK_API_KEYS": f"{KEY}, {KEY.replace('Ab1', 'Cd2')}",
        "VIDU_LIPSYNC_MOCK_TEAMS": json.dumps({"ops": [KEY]}),
        "VIDU_LIPSYNC_MOCK_FAULTS": '[{"fault": "error", "status": 503, "route": "poll"}]',
        "VIDU_LIPSYNC_MOCK_SEED": "7",
        "VIDU_LIPSYNC_MOCK_PUBLIC_BASE_URL": "",
        "PATH": "/bin",  # other variables are not settings
    }
    config = merge(environ=environ).config
    assert (config.port, config.speed, config.clock) == (9001, 60.0, "manual")
    assert config.access_log is True
    assert config.retry_after_header is True
    assert config.api_keys == (KEY, KEY.replace("Ab1", "Cd2"))
    assert config.teams == {"ops": (KEY,)}
    assert config.faults == ({"fault": "error", "status": 503, "route": "poll"},)
    assert config.seed == 7
    assert config.public_base_url is None  # empty unsets an optional setting


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PORT", "eighty", "VIDU_LIPSYNC_MOCK_PORT must be a whole number, not 'eighty'"),
        ("SPEED", "fast", "VIDU_LIPSYNC_MOCK_SPEED must be a number, not 'fast'"),
        ("TLS", "yes", "VIDU_LIPSYNC_MOCK_TLS must be true, false, 1 or 0, not 'yes'"),
        ("CLOCK", "wall", "VIDU_LIPSYNC_MOCK_CLOCK must be one of system, manual, not 'wall'"),
        ("TEAMS", "{ops: 1}", "VIDU_LIPSYNC_MOCK_TEAMS must be JSON (an object, e.g."),
        ("FAULTS", "error", "VIDU_LIPSYNC_MOCK_FAULTS must be JSON (a list of tables, e.g."),
        (
            "PROT",
            "1",
            "VIDU_LIPSYNC_MOCK_PROT is not a setting; did you mean VIDU_LIPSYNC_MOCK_PORT?",
        ),
        ("SPEED", "0", "speed must be positive (from env VIDU_LIPSYNC_MOCK_SPEED)"),
        ("FAULTS", '[{"fault": "nope"}]', "unknown fault 'nope'; known: "),
    ],
)
def test_a_bad_variable_is_one_error_naming_it(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        merge(environ={"VIDU_LIPSYNC_MOCK_" + variable: value})
    assert message in str(caught.value)


def test_flags_win_over_variables_over_the_file_over_defaults() -> None:
    merged = merge(
        file={"port": 1, "speed": 2.0, "pending_seconds": 3.0},
        file_name="mock.toml",
        environ={"VIDU_LIPSYNC_MOCK_PORT": "10", "VIDU_LIPSYNC_MOCK_SPEED": "20"},
        flags={"port": 100, "seed": None},
    )
    assert (merged.config.port, merged.config.speed, merged.config.pending_seconds) == (100, 20, 3)
    assert merged.sources["port"] == "flag --port"
    assert merged.sources["speed"] == "env VIDU_LIPSYNC_MOCK_SPEED"
    assert merged.sources["pending_seconds"] == "file mock.toml"
    assert merged.sources["seed"] == "default"


def test_a_preset_from_a_variable_fills_timings_nothing_else_gave() -> None:
    merged = merge(file={"pending_seconds": 5.0}, environ={"VIDU_LIPSYNC_MOCK_PRESET": "realistic"})
    assert (merged.config.pending_seconds, merged.config.processing_seconds) == (5.0, 112.0)
    assert merged.sources["processing_seconds"] == "preset"


def test_print_config_shows_the_merged_settings_their_sources_and_no_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    config = tmp_path / "mock.toml"
    config.write_text("pending_seconds = 5\n")
    monkeypatch.setenv("VIDU_LIPSYNC_MOCK_API_KEYS", KEY)
    monkeypatch.setenv("VIDU_LIPSYNC_MOCK_SPEED", "60")
    assert main(["serve", "--config", str(config), "--seed", "3", "--print-config"]) == 0
    out = capsys.readouterr().out
    lines = {line.split(" = ")[0]: line for line in out.splitlines()}
    assert set(lines) == {f.name for f in dataclasses.fields(MockConfig)}
    assert lines["seed"].endswith("# flag --seed")
    assert lines["speed"].startswith("speed = 60.0 ")
    assert lines["speed"].endswith("# env VIDU_LIPSYNC_MOCK_SPEED")
    assert lines["pending_seconds"].endswith(f"# file {config}")
    assert lines["port"].endswith("# default")
    assert KEY not in out
    assert lines["api_keys"].endswith("# env VIDU_LIPSYNC_MOCK_API_KEYS")


def test_a_bad_variable_stops_serve_with_status_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIDU_LIPSYNC_MOCK_RATE_LIMIT", "many")
    assert main(["serve", "--print-config"]) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        "vidu-lipsync-mock: VIDU_LIPSYNC_MOCK_RATE_LIMIT must be a whole number, not 'many'\n"
    )
    assert captured.out == ""


def test_the_quickstart_shows_what_print_config_prints(tmp_path: Path) -> None:
    """docs/quickstart.md's --print-config block, run as written (the console script on
    PATH), prints what the page shows under it."""
    page = (REPO / "docs" / "quickstart.md").read_text(encoding="utf-8")
    found = re.search(
        r"```bash\n(VIDU_LIPSYNC_MOCK_.*?--print-config.*?)\n```\n\nprints:\n\n```text\n(.*?)```",
        page,
        re.S,
    )
    assert found is not None, "the quickstart lost its --print-config example"
    command, shown = found.groups()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("VIDU_LIPSYNC_MOCK_")}
    environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environ.get('PATH', '')}"
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == shown
