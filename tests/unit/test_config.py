"""Settings: defaults, presets, type checks, and the TOML file the CLI reads."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from vidu_lipsync_mock.config import PRESETS, ConfigError, MockConfig, load_toml


def test_defaults_follow_the_provider_and_a_quick_lifecycle() -> None:
    config = MockConfig()
    assert config.host == "127.0.0.1"
    assert config.port == 8000
    assert config.clock == "system"
    assert config.speed == 1.0
    assert config.progression == "clock"
    assert (config.pending_seconds, config.processing_seconds) == (1.0, 2.0)
    assert (config.processing_on_poll, config.terminal_on_poll) == (2, 4)
    assert config.retention_seconds == 604_800.0  # the provider: outputs expire after 7 days
    assert config.billing_amount == "0.2400"
    assert config.api_keys is None
    assert config.seed is None
    assert config.preset is None
    assert MockConfig.build() == config
    assert config.as_dict() == {}


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


def test_every_setting_is_documented() -> None:
    for f in dataclasses.fields(MockConfig):
        assert f.metadata.get("help"), f.name


# --- presets ------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_a_preset_sets_the_timings(preset: str) -> None:
    config = MockConfig.build(preset=preset)
    assert config.pending_seconds == PRESETS[preset]["pending_seconds"]
    assert config.processing_seconds == PRESETS[preset]["processing_seconds"]


def test_realistic_matches_what_the_real_model_takes() -> None:
    config = MockConfig.build({"preset": "realistic"})
    assert (config.pending_seconds, config.processing_seconds) == (8.0, 112.0)


@pytest.mark.parametrize(
    ("settings", "overrides"),
    [
        ({"preset": "realistic", "pending_seconds": 3}, {}),
        ({"pending_seconds": 3}, {"preset": "realistic"}),
        ({"preset": "realistic"}, {"pending_seconds": 3}),
    ],
)
def test_explicit_timings_win_over_the_preset(settings: dict, overrides: dict) -> None:
    config = MockConfig.build(settings, **overrides)
    assert config.pending_seconds == 3.0
    assert config.processing_seconds == 112.0  # the preset still fills what was not given


def test_unknown_preset_is_refused_with_the_choices() -> None:
    with pytest.raises(ConfigError, match="preset must be one of quick, realistic, not 'slow'"):
        MockConfig.build(preset="slow")


def test_replacing_the_preset_changes_the_timings_it_set() -> None:
    # The realistic timings were never given explicitly, so switching the preset must
    # switch them too (LipSyncMock(config, preset=...) goes through the same merge).
    config = MockConfig.build(preset="realistic").replace(preset="quick")
    assert config.preset == "quick"
    assert (config.pending_seconds, config.processing_seconds) == (1.0, 2.0)


# --- unknown keys and types --------------------------------------------------------------------


def test_unknown_keys_are_refused_by_name() -> None:
    with pytest.raises(ConfigError, match=r"^unknown setting\(s\): pending, speeed$"):
        MockConfig.build({"speeed": 2, "pending": 1})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"pending_seconds": "5"}, "pending_seconds must be a number, not '5'"),
        ({"speed": True}, "speed must be a number, not True"),
        ({"port": True}, "port must be a whole number, not True"),
        ({"port": 8000.5}, "port must be a whole number, not 8000.5"),
        ({"max_tasks": "10"}, "max_tasks must be a whole number, not '10'"),
        ({"host": 127}, "host must be a string, not 127"),
        ({"api_keys": [1, 2]}, "api_keys must be a list of strings"),
        ({"host": None}, "host cannot be empty"),
        ({"seed": "abc"}, "seed must be a whole number, not 'abc'"),
    ],
)
def test_type_errors_name_the_setting(settings: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        MockConfig.build(settings)
    assert str(caught.value) == message


def test_numbers_are_coerced_to_the_field_type() -> None:
    config = MockConfig.build({"pending_seconds": 5, "retention_seconds": 60})
    assert config.pending_seconds == 5.0
    assert isinstance(config.pending_seconds, float)
    assert isinstance(config.retention_seconds, float)


def test_a_single_api_key_becomes_a_one_key_allow_list() -> None:
    key = "mdlx-" + "a" * 48
    assert MockConfig.build(api_keys=key).api_keys == (key,)
    assert MockConfig.build({"api_keys": [key, key.upper()]}).api_keys == (key, key.upper())


def test_none_overrides_mean_not_given() -> None:
    # The CLI passes every flag, unset ones as None: they must not erase file settings.
    config = MockConfig.build({"port": 9000}, port=None, seed=None)
    assert config.port == 9000


# --- value checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"clock": "wall"}, "clock must be one of system, manual, not 'wall'"),
        ({"progression": "instant"}, "progression must be one of clock, polls, manual"),
        ({"log_level": "loud"}, "log_level must be one of"),
        ({"pending_seconds": -1}, "pending_seconds must not be negative"),
        ({"processing_seconds": -0.5}, "processing_seconds must not be negative"),
        ({"retention_seconds": -1}, "retention_seconds must not be negative"),
        ({"speed": 0}, "speed must be positive"),
        ({"port": 70_000}, "port must be between 0 and 65535"),
        ({"processing_on_poll": 5, "terminal_on_poll": 4}, "processing_on_poll <= terminal"),
        ({"processing_on_poll": 0}, "1 <= processing_on_poll"),
        ({"max_tasks": 0}, "max_tasks and max_body_bytes must be positive"),
        ({"public_base_url": "mock.local:8000"}, "public_base_url must start with http"),
    ],
)
def test_unusable_values_are_refused(settings: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        MockConfig.build(settings)


@pytest.mark.parametrize("clock", ["system", "manual"])
def test_clock_choices_are_accepted(clock: str) -> None:
    assert MockConfig.build(clock=clock).clock == clock


def test_the_constructor_checks_values_too() -> None:
    with pytest.raises(ConfigError, match="clock must be one of"):
        MockConfig(clock="sundial")


# --- as_dict / replace -----------------------------------------------------------------------


def test_as_dict_round_trips_through_build() -> None:
    config = MockConfig.build(
        clock="manual", seed=7, pending_seconds=0.5, api_keys=["mdlx-" + "b" * 40]
    )
    assert config.as_dict() == {
        "clock": "manual",
        "seed": 7,
        "pending_seconds": 0.5,
        "api_keys": ("mdlx-" + "b" * 40,),
    }
    assert MockConfig.build(config.as_dict()) == config


def test_replace_keeps_other_settings_and_rechecks() -> None:
    config = MockConfig.build(clock="manual", seed=3)
    changed = config.replace(port=0)
    assert (changed.clock, changed.seed, changed.port) == ("manual", 3, 0)
    assert config.port == 8000  # frozen: the original is untouched
    with pytest.raises(ConfigError):
        config.replace(port=-1)


# --- TOML ------------------------------------------------------------------------------------


def test_a_toml_file_configures_the_mock(tmp_path: Path) -> None:
    path = tmp_path / "mock.toml"
    path.write_text(
        'clock = "manual"\n'
        "port = 0\n"
        'preset = "realistic"\n'
        "processing_seconds = 30\n"
        'api_keys = ["mdlx-' + "c" * 48 + '"]\n'
        "seed = 42\n",
        encoding="utf-8",
    )
    config = MockConfig.build(load_toml(path))
    assert config.clock == "manual"
    assert config.port == 0
    assert (config.pending_seconds, config.processing_seconds) == (8.0, 30.0)
    assert config.api_keys == ("mdlx-" + "c" * 48,)
    assert config.seed == 42


def test_a_typo_in_the_toml_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "mock.toml"
    path.write_text("retention = 10\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown setting\(s\): retention"):
        MockConfig.build(load_toml(path))


def test_a_wrong_type_in_the_toml_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "mock.toml"
    path.write_text('port = "8000"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="port must be a whole number, not '8000'"):
        MockConfig.build(load_toml(path))


def test_invalid_toml_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('clock = "manual\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"config file .*broken\.toml is not valid TOML"):
        load_toml(path)


def test_a_missing_toml_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read config file .*absent\.toml"):
        load_toml(tmp_path / "absent.toml")


def test_fault_rules_in_the_config_are_checked_when_loaded(tmp_path):
    path = tmp_path / "mock.toml"
    path.write_text('[[faults]]\nfault = "error"\nstatus = 503\nroute = "poll"\ntimes = 1\n')
    config = MockConfig.build(load_toml(path))
    assert config.faults == ({"fault": "error", "status": 503, "route": "poll", "times": 1},)
    path.write_text('[[faults]]\nfault = "nope"\n')
    with pytest.raises(ConfigError, match=r"faults\[0\]: unknown fault 'nope'"):
        MockConfig.build(load_toml(path))
