"""Ids: unguessable without a seed, replayable with one, in the shapes clients accept."""

from __future__ import annotations

import os
import random
import re
import secrets

import pytest

from vidu_lipsync_mock.service.ids import BLOCK, IdSource

# The official CLI's checks: task ids may hold `/`, file ids may not.
CLI_TASK_ID = re.compile(r"[A-Za-z0-9._~:/+@=-]{1,512}")
CLI_FILE_ID = re.compile(r"[A-Za-z0-9._~:+@=-]{1,512}")


def test_ids_have_the_documented_shapes() -> None:
    ids = IdSource()
    task_id, file_id, token = ids.task_id(), ids.file_id(), ids.link_token()
    assert re.fullmatch(r"task-[0-9a-f]{24}", task_id)
    assert re.fullmatch(r"file-[0-9a-f]{24}", file_id)
    assert re.fullmatch(r"[0-9a-f]{32}", token)
    assert CLI_TASK_ID.fullmatch(task_id)
    assert CLI_FILE_ID.fullmatch(file_id)


def test_without_a_seed_ids_come_from_the_system_generator(monkeypatch) -> None:
    drawn: list[int] = []
    read: list[int] = []

    def fake_randbits(bits: int) -> int:
        drawn.append(bits)
        return 0xABC

    def fake_urandom(size: int) -> bytes:
        read.append(size)
        return bytes.fromhex("000000000000000000000abc") * (size // 12)

    monkeypatch.setattr(secrets, "randbits", fake_randbits)
    monkeypatch.setattr(os, "urandom", fake_urandom)
    ids = IdSource()
    assert not ids.seeded
    assert ids.task_id() == "task-" + "0" * 21 + "abc"
    assert ids.file_id() == "file-" + "0" * 21 + "abc"
    assert ids.link_token() == "0" * 29 + "abc"
    assert drawn == [96, 128]
    assert read == [12 * BLOCK]  # task ids: 96 bits each, a block of them in one draw


def test_unseeded_task_ids_are_drawn_afresh_past_each_block(monkeypatch) -> None:
    blocks = iter(range(1, 100))

    def numbered_urandom(size: int) -> bytes:
        return next(blocks).to_bytes(12, "big") * (size // 12)

    monkeypatch.setattr(os, "urandom", numbered_urandom)
    ids = IdSource()
    drawn = [ids.task_id() for _ in range(2 * BLOCK + 1)]
    assert [int(i[5:], 16) for i in drawn[BLOCK - 1 : BLOCK + 2]] == [1, 2, 2]
    assert int(drawn[-1][5:], 16) == 3


def test_unseeded_task_ids_do_not_repeat() -> None:
    ids = IdSource()
    drawn = [ids.task_id() for _ in range(3 * BLOCK)]
    assert len(set(drawn)) == len(drawn)
    assert all(re.fullmatch(r"task-[0-9a-f]{24}", task_id) for task_id in drawn)


def test_without_a_seed_two_sources_do_not_repeat_each_other() -> None:
    first, second = IdSource(), IdSource()
    assert [first.task_id() for _ in range(5)] != [second.task_id() for _ in range(5)]


def test_a_seed_replays_the_same_ids() -> None:
    first, second = IdSource(7), IdSource(7)
    assert first.seeded
    sequence = [first.task_id(), first.file_id(), first.link_token(), first.task_id()]
    assert sequence == [second.task_id(), second.file_id(), second.link_token(), second.task_id()]
    assert IdSource(8).task_id() != IdSource(7).task_id()


def test_seeded_task_ids_are_the_ones_the_state_always_handed_out() -> None:
    legacy = random.Random(42)
    ids = IdSource(42)
    count = BLOCK + 3  # past a block too
    assert [ids.task_id() for _ in range(count)] == [
        f"task-{legacy.getrandbits(96):024x}" for _ in range(count)
    ]


def test_uploads_do_not_shift_the_task_ids_of_a_seeded_run() -> None:
    plain, busy = IdSource(3), IdSource(3)
    expected = [plain.task_id(), plain.task_id()]
    first = busy.task_id()
    busy.file_id()
    busy.link_token()
    assert [first, busy.task_id()] == expected


@pytest.mark.parametrize("seed", [0, 1, 2**40])
def test_file_ids_and_tokens_differ_from_task_ids_of_the_same_seed(seed: int) -> None:
    ids = IdSource(seed)
    assert ids.task_id()[5:] != ids.file_id()[5:]
