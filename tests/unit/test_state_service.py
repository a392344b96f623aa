"""The state's accounts, uploads and ids, through the Python API: seeded task ids keep
their sequence, a 402 creates nothing, forced outcomes settle at once, files belong to a
team, and the settings that configure all this."""

from __future__ import annotations

import random

import pytest

from vidu_lipsync_mock.config import ConfigError, MockConfig
from vidu_lipsync_mock.service.errors import ApiError
from vidu_lipsync_mock.service.keys import make_api_key
from vidu_lipsync_mock.state import MockState

KEY, OTHER = make_api_key("one"), make_api_key("two")
PARAMS = {"video_url": "https://example.com/v.mp4"}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(8)


def state(**settings: object) -> MockState:
    return MockState(MockConfig.build({"clock": "manual", **settings}))


def test_a_seeded_run_keeps_the_task_id_sequence_and_uploads_do_not_shift_it() -> None:
    expected = random.Random(5)
    mock = state(seed=5)
    first = mock.submit("vidu/lip-sync", PARAMS, KEY).task_id
    mock.upload(KEY, "a.png", PNG)
    second = mock.submit("vidu/lip-sync", PARAMS, KEY).task_id
    assert [first, second] == [f"task-{expected.getrandbits(96):024x}" for _ in range(2)]


def test_unseeded_ids_differ_between_mocks() -> None:
    assert state().new_task_id() != state().new_task_id()


def test_a_submit_the_balance_does_not_cover_is_402_and_creates_nothing() -> None:
    mock = state(starting_credit="0.3")
    mock.submit("vidu/lip-sync", PARAMS, KEY)
    with pytest.raises(ApiError) as refused:
        mock.submit("vidu/lip-sync", PARAMS, KEY)
    assert refused.value.status == 402
    assert len(mock.tasks()) == 1
    assert mock.balance(KEY) == pytest.approx(0.06)


def test_a_forced_outcome_settles_the_hold_at_once() -> None:
    mock = state()
    won = mock.submit("vidu/lip-sync", PARAMS, KEY).task_id
    lost = mock.submit("vidu/lip-sync", PARAMS, KEY).task_id
    mock.force(won, "success")
    mock.force(lost, "failed")
    account = mock.account(KEY)
    assert (account.holds, float(account.spent), float(account.balance)) == (0, 0.24, 999_999.76)


def test_files_belong_to_a_team_unless_sharing_is_on() -> None:
    mock = state()
    upload = mock.upload(KEY, "a.png", PNG)
    with pytest.raises(ApiError) as foreign:
        mock.delete_upload(OTHER, upload.file_id)
    assert foreign.value.status == 404
    assert mock.uploaded(upload.link_token, "a.png").data == PNG
    with pytest.raises(ApiError):
        mock.uploaded(upload.link_token, "b.png")  # the name is part of the link
    shared = state(share_tasks_across_keys=True)
    theirs = shared.upload(KEY, "a.png", PNG)
    assert shared.delete_upload(OTHER, theirs.file_id).file_id == theirs.file_id


def test_team_and_credit_settings_are_checked() -> None:
    config = MockConfig.build({"teams": {"studio": [KEY, OTHER]}, "starting_credit": "5"})
    assert config.teams == {"studio": (KEY, OTHER)}
    assert state(teams={"studio": [KEY, OTHER]}).accounts.team_of(OTHER) == "team:studio"
    for bad, match in [
        ({"teams": ["a"]}, "teams must be a table"),
        ({"teams": {"s": [KEY], "t": [KEY]}}, "already in another team"),
        ({"starting_credit": "lots"}, "must be a number"),
        ({"max_teams": 0}, "max_teams and max_upload_bytes must be positive"),
    ]:
        with pytest.raises(ConfigError, match=match):
            MockConfig.build(bad)
