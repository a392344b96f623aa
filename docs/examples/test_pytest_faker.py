"""Realistic, repeatable example data with the plugin's Faker provider."""

from __future__ import annotations

import httpx
from faker import Faker

from vidu_lipsync_mock.pytest_plugin.providers import LipSyncProvider

SUBMIT = "/api/v1/vidu/lip-sync/async"


def make_faker(seed: int) -> Faker:
    fake = Faker()
    fake.add_provider(LipSyncProvider)
    fake.seed_instance(seed)
    return fake


def test_bodies_read_like_real_jobs(lipsync_client: httpx.Client) -> None:
    fake = make_faker(1)
    body = fake.submit_body(optional=True)
    assert set(body) == {"video_url", "audio_url", "reference_face_image_url"}
    assert body["video_url"].startswith("https://")
    assert lipsync_client.post(SUBMIT, json=body).status_code == 200


def test_the_same_seed_gives_the_same_data() -> None:
    first, again = make_faker(7), make_faker(7)
    assert [first.video_url(), first.modellix_api_key()] == [
        again.video_url(),
        again.modellix_api_key(),
    ]
