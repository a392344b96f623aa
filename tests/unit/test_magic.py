"""Magic inputs read only the model's magic field, and only when it could name a scenario."""

from __future__ import annotations

import pytest

from vidu_lipsync_mock.service.errors import ApiError
from vidu_lipsync_mock.service.magic import (
    MAGIC_SCENARIOS,
    field_mentions_mock,
    task_effects_for,
)


@pytest.mark.parametrize(
    ("params", "field", "expected"),
    [
        ({"image_url": "https://a/b.png?mock=fail"}, "image_url", True),
        ({"image_url": "https://mockhost/b.png"}, "image_url", True),  # then found to name none
        ({"image_url": "https://a/b.png"}, "image_url", False),
        ({"image_url": ["mock"]}, "image_url", False),
        ({"video_url": "https://a/b.mp4?mock=fail"}, "image_url", False),
        ({"video_url": "https://a/b.mp4?mock=fail"}, None, False),
    ],
)
def test_only_a_string_magic_field_mentioning_mock_is_looked_into(
    params: dict, field: str | None, expected: bool
) -> None:
    assert field_mentions_mock(params, field) is expected


def test_the_scenarios_of_the_field_become_task_faults() -> None:
    params = {"clip_url": "https://a/c.mp4?x=1&mock=slow,fail#mock=result-404"}
    assert task_effects_for(params, "clip_url") == [
        MAGIC_SCENARIOS["slow"],
        MAGIC_SCENARIOS["fail"],
        MAGIC_SCENARIOS["result-404"],
    ]
    assert task_effects_for({"clip_url": "https://mockhost/c.mp4"}, "clip_url") == []
    assert task_effects_for(params, None) == []


def test_an_unknown_scenario_is_a_400() -> None:
    with pytest.raises(ApiError, match="unknown mock scenario 'nope'") as caught:
        task_effects_for({"clip_url": "https://a/c.mp4?mock=nope"}, "clip_url")
    assert caught.value.status == 400
