"""The Faker provider: plausible values, accepted by the mock, repeatable under a seed."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from faker import Faker

from vidu_lipsync_mock import LipSyncMock
from vidu_lipsync_mock.pytest_plugin.providers import LipSyncProvider
from vidu_lipsync_mock.service.keys import KEY_PATTERN, KeyPolicy
from vidu_lipsync_mock.service.registry import Registry

SPEC = Registry.bundled().get("vidu/lip-sync")
assert SPEC is not None
MEDIA_URL = re.compile(r"https://[a-z.]+\.example\.(com|net|org)/[a-z]+/[a-z0-9]{8}/[a-z-]+\.(\w+)")


@pytest.fixture
def fake() -> Faker:
    made = Faker()
    made.add_provider(LipSyncProvider)
    made.seed_instance(20240611)
    return made


def extension_of(url: str) -> str:
    match = MEDIA_URL.fullmatch(url)
    assert match is not None, url
    return match.group(2)


@pytest.mark.parametrize(
    ("method", "extensions"),
    [
        ("video_url", {"mp4", "mov"}),
        ("audio_url", {"mp3", "wav", "m4a"}),
        ("face_image_url", {"jpg", "png"}),
    ],
)
def test_media_urls_have_the_right_extensions(
    fake: Faker, method: str, extensions: set[str]
) -> None:
    seen = {extension_of(getattr(fake, method)()) for _ in range(200)}
    assert seen == extensions  # every extension turns up, and no other


def test_urls_never_carry_the_mock_s_magic(fake: Faker) -> None:
    for _ in range(100):
        url = fake.video_url()
        assert "?" not in url
        assert "#" not in url


def test_api_keys_are_well_formed_and_accepted(fake: Faker) -> None:
    keys = {fake.modellix_api_key() for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert KEY_PATTERN.fullmatch(key)
        assert len(key) == 53
        assert KeyPolicy().authenticate(f"Bearer {key}") == key


def test_a_magic_looking_key_is_drawn_again(fake: Faker, monkeypatch: pytest.MonkeyPatch) -> None:
    provider = next(p for p in fake.providers if isinstance(p, LipSyncProvider))
    bodies = iter(["mock401".ljust(48, "0"), "A" * 48])
    monkeypatch.setattr(provider, "random_choices", lambda *a, **k: list(next(bodies)))
    assert fake.modellix_api_key() == "mdlx-" + "A" * 48


def test_task_ids_look_like_the_service_s(fake: Faker) -> None:
    for _ in range(50):
        assert re.fullmatch(r"task-[a-z0-9]{24}", fake.modellix_task_id())


def test_submit_bodies_pass_the_schema(fake: Faker) -> None:
    assert SPEC is not None
    shapes = set()
    for _ in range(60):
        body = fake.submit_body()
        SPEC.validator.validate(body)
        assert extension_of(body["video_url"]) in {"mp4", "mov"}
        if "audio_url" in body:
            assert extension_of(body["audio_url"]) in {"mp3", "wav", "m4a"}
        if "reference_face_image_url" in body:
            assert extension_of(body["reference_face_image_url"]) in {"jpg", "png"}
        shapes.add(frozenset(body))
    assert len(shapes) == 4  # each optional field comes and goes on its own


def test_optional_fields_on_request(fake: Faker) -> None:
    assert set(fake.submit_body(optional=True)) == {
        "video_url",
        "audio_url",
        "reference_face_image_url",
    }
    assert set(fake.submit_body(optional=False)) == {"video_url"}


def test_an_unknown_model_is_refused(fake: Faker) -> None:
    with pytest.raises(ValueError, match="acme/nothing"):
        fake.submit_body(model_id="acme/nothing")


def draw(fake: Faker) -> list[Any]:
    return [
        fake.video_url(),
        fake.audio_url(),
        fake.face_image_url(),
        fake.modellix_api_key(),
        fake.modellix_task_id(),
        fake.submit_body(),
    ]


def test_seed_instance_repeats_the_sequence() -> None:
    first, second, other = Faker(), Faker(), Faker()
    for made, seed in ((first, 7), (second, 7), (other, 8)):
        made.add_provider(LipSyncProvider)
        made.seed_instance(seed)
    a, b, c = draw(first), draw(second), draw(other)
    assert a == b
    assert a != c


@pytest.fixture
def restore_faker_seed() -> Iterator[None]:
    yield
    Faker.seed()  # back to an unseeded shared generator for whoever comes next


@pytest.mark.usefixtures("restore_faker_seed")
def test_the_class_seed_repeats_the_sequence() -> None:
    fake = Faker()
    fake.add_provider(LipSyncProvider)
    Faker.seed(1234)
    a = draw(fake)
    Faker.seed(1234)
    b = draw(fake)
    assert a == b


def test_the_mock_accepts_what_it_makes(fake: Faker) -> None:
    mock = LipSyncMock(clock="manual")
    key = fake.modellix_api_key()
    bodies = [fake.submit_body() for _ in range(5)]

    async def submit_all() -> list[int]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=mock.app),
            base_url="http://testserver",
            headers={"Authorization": f"Bearer {key}"},
        ) as http:
            return [
                (await http.post("/api/v1/vidu/lip-sync/async", json=body)).status_code
                for body in bodies
            ]

    assert asyncio.run(submit_all()) == [200] * 5
    assert [t.params for t in mock.tasks()] == bodies
    assert not mock.crashes
