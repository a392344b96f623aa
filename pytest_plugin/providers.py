"""A Faker provider for realistic-looking Modellix lip-sync test data.

Where `strategies` explores (Hypothesis searches for the body that breaks a client), this
module decorates: example data for fixtures, docs and smoke tests that should read like a
real job, stay the same from run to run under `Faker.seed`, and never trip the mock's
magic inputs by accident. Every value comes from the provider's own random generator, so
seeding the Faker instance (or the class) makes the whole sequence repeat.

    from faker import Faker
    from vidu_lipsync_mock.pytest_plugin.providers import LipSyncProvider

    fake = Faker()
    fake.add_provider(LipSyncProvider)
    fake.submit_body()  # {"video_url": "https://…/….mp4", "audio_url": "https://…/….mp3"}

Faker comes with the `strategies` extra (`pip install 'vidu-lipsync-mock[strategies]'`);
importing this module without it says so.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from vidu_lipsync_mock.service.registry import Registry

from .extras import require

require("strategies", "faker", needed_by="vidu_lipsync_mock.pytest_plugin.providers")

from faker.providers import BaseProvider  # noqa: E402 - after the check that names the extra

__all__ = ["LipSyncProvider"]

_ALNUM = string.ascii_letters + string.digits
_LOWER_ALNUM = string.ascii_lowercase + string.digits

#: Hosts under the reserved example domains (RFC 2606): plausible, and never anyone's.
_HOSTS = (
    "cdn.example.com",
    "media.example.com",
    "assets.example.net",
    "uploads.example.org",
    "storage.example.com",
    "static.example.net",
)
_FOLDERS = ("uploads", "media", "input", "jobs", "campaigns", "renders", "users")
_STEMS: Mapping[str, Sequence[str]] = {
    "video": ("presenter", "talking-head", "interview", "product-demo", "lecture", "vlog"),
    "audio": ("voiceover", "dub", "narration", "speech", "translation", "script-read"),
    "image": ("face-reference", "headshot", "portrait", "profile", "avatar"),
}
_EXTENSIONS: Mapping[str, Sequence[str]] = {
    "video": ("mp4", "mov"),
    "audio": ("mp3", "wav", "m4a"),
    "image": ("jpg", "png"),
}
#: Which kind of media a URL field wants, by a word in its name (the schema's names are
#: read at run time; only this vocabulary is fixed).
_FIELD_WORDS = (("video", "video"), ("audio", "audio"), ("image", "image"), ("face", "image"))


@lru_cache(maxsize=1)
def _registry() -> Registry:
    return Registry.bundled()


class LipSyncProvider(BaseProvider):
    """`video_url`, `audio_url`, `face_image_url`, `modellix_api_key`, `modellix_task_id`
    and `submit_body`, deterministic under `Faker.seed` / `seed_instance`."""

    def _media_url(self, kind: str) -> str:
        host = self.random_element(_HOSTS)
        folder = self.random_element(_FOLDERS)
        job = "".join(self.random_choices(_LOWER_ALNUM, length=8))
        stem = self.random_element(_STEMS[kind])
        extension = self.random_element(_EXTENSIONS[kind])
        return f"https://{host}/{folder}/{job}/{stem}.{extension}"

    def video_url(self) -> str:
        """A source video (mp4 or mov, what the model takes with H.264)."""
        return self._media_url("video")

    def audio_url(self) -> str:
        """A replacement audio track (mp3, wav or m4a)."""
        return self._media_url("audio")

    def face_image_url(self) -> str:
        """A reference face image (jpg or png)."""
        return self._media_url("image")

    def modellix_api_key(self) -> str:
        """`mdlx-` and 48 letters/digits, never one of the mock's magic `mdlx-mock…` keys."""
        while True:
            body = "".join(self.random_choices(_ALNUM, length=48))
            if not body.startswith("mock"):
                return "mdlx-" + body

    def modellix_task_id(self) -> str:
        """`task-` and 24 lowercase letters/digits, like the ids the service hands out."""
        return "task-" + "".join(self.random_choices(_LOWER_ALNUM, length=24))

    def _url_for(self, field: str) -> str:
        for word, kind in _FIELD_WORDS:
            if word in field:
                return self._media_url(kind)
        return self._media_url("video")

    def submit_body(
        self, *, model_id: str | None = None, optional: bool | None = None
    ) -> dict[str, Any]:
        """A body the schema of a bundled model (by default, the registry's default model)
        accepts.

        Required fields always appear; optional ones all (`optional=True`), none
        (`False`) or each on a coin flip (`None`). URL fields get media of the kind their
        name says; other string fields a short word.
        """
        registry = _registry()
        spec = registry.default_model if model_id is None else registry.get(model_id)
        if spec is None:
            known = ", ".join(s.model_id for s in registry)
            raise ValueError(f"model {model_id!r} is not bundled (bundled: {known})")
        schema = spec.request_schema
        required = set(schema.get("required", []))
        body: dict[str, Any] = {}
        for name, prop in dict(schema.get("properties", {})).items():
            wanted = name in required or (
                optional if optional is not None else self.random_int(0, 1) == 1
            )
            if not wanted:
                continue
            if "enum" in prop:
                body[name] = self.random_element(list(prop["enum"]))
            elif name.endswith("_url") or prop.get("format") in ("uri", "url"):
                body[name] = self._url_for(name)
            else:
                body[name] = self.random_element(_STEMS["video"])
        return body
