"""Which task inputs the mock can read, and reading them.

A submit names its media by URL. The mock reads only what it can reach without surprising
anyone (see docs/media.md; the choices are ours):

* files uploaded to this mock: a URL whose path is an upload link,
  ``/uploads/<token>/<name>``, on any host (the token is the secret); the bytes are taken
  at submit, so deleting the file afterwards does not change the task;
* the mock's own sample media: a URL whose path is ``/media/<name>``;
* files under the user's ``media_root``: a ``file://`` URL or a path without a scheme,
  refused unless it stays inside the root once symbolic links are followed;
* URLs on hosts the user allow-lists (`fetch.FetchPolicy`), fetched when the task is built.

`InputReader.plan` decides from the strings alone, so a submit whose inputs are none of
these costs next to nothing; one unreadable input means the bundled sample result, never
half a result. `InputReader.load` reads on a builder thread and raises `MediaRejected`
when a readable input turns out to be unusable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from vidu_lipsync_mock.media.fetch import FetchFailed, FetchPolicy, fetch
from vidu_lipsync_mock.media.lipsync import ResultInputs
from vidu_lipsync_mock.media.probe import FAILED, MediaRejected, MediaSource, Role
from vidu_lipsync_mock.service.errors import echo

__all__ = ["ROLES", "InputPlan", "InputReader", "Source"]

#: The submit fields that name media, in the order a result needs them.
ROLES: tuple[Role, ...] = ("video_url", "audio_url", "reference_face_image_url")

SourceKind = Literal["upload", "sample", "file", "fetch"]


@dataclass(frozen=True)
class Source:
    """One readable input: where it comes from and what names it (the upload's bytes, a
    sample's path, a path under the media root, or a URL to fetch)."""

    role: Role
    kind: SourceKind
    value: str | bytes | Path


@dataclass(frozen=True)
class InputPlan:
    """Every input of a task that will be built; `video` is always there."""

    video: Source
    audio: Source | None = None
    image: Source | None = None

    @property
    def samples_only(self) -> bool:
        """Whether every input is one of the mock's own samples (their results are shared
        by every mock using the same sample library)."""
        return all(s is None or s.kind == "sample" for s in (self.video, self.audio, self.image))


class InputReader:
    """Plans and loads a task's inputs for one mock's settings."""

    def __init__(
        self,
        *,
        sample_path: Callable[[str], Path],
        upload_data: Callable[[str, str], bytes | None],
        media_root: str | None,
        fetch_policy: FetchPolicy,
    ) -> None:
        self._sample_path = sample_path
        self._upload_data = upload_data
        self._root = Path(media_root) if media_root else None
        self._fetch = fetch_policy
        #: Whether anything but the mock's own URLs can be read (else `may_read` suffices).
        self.outside = self._root is not None or bool(fetch_policy.allow)

    @staticmethod
    def may_read(video_url: object) -> bool:
        """Whether a `video_url` could be one of the mock's own (when `outside` is False,
        nothing else is readable): the check every submit makes, so a string test."""
        return isinstance(video_url, str) and ("/uploads/" in video_url or "/media/" in video_url)

    def plan(self, params: Mapping[str, Any]) -> InputPlan | None:
        """The sources of every media field given, or None when any one is not readable."""
        if not isinstance(params.get("video_url"), str):
            return None
        found: dict[Role, Source] = {}
        for role in ROLES:
            value = params.get(role)
            if value is None:
                continue
            source = self._classify(role, value) if isinstance(value, str) else None
            if source is None:
                return None
            found[role] = source
        return InputPlan(
            video=found["video_url"],
            audio=found.get("audio_url"),
            image=found.get("reference_face_image_url"),
        )

    def _classify(self, role: Role, url: str) -> Source | None:
        if "/uploads/" in url or "/media/" in url:
            own = self._own(role, url)
            if own is not None:
                return own
        if self._root is not None and (url.startswith("file:") or "://" not in url):
            return Source(role, "file", url)
        if self._fetch.allows(url):
            return Source(role, "fetch", url)
        return None

    def _own(self, role: Role, url: str) -> Source | None:
        """An upload link or a sample's URL of this mock, whatever host it names."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return None
        if parts.scheme not in ("http", "https"):
            return None
        segments = parts.path.split("/")
        if len(segments) == 4 and segments[1] == "uploads":
            data = self._upload_data(segments[2], unquote(segments[3]))
            return None if data is None else Source(role, "upload", data)
        if len(segments) == 3 and segments[1] == "media":
            try:
                return Source(role, "sample", self._sample_path(unquote(segments[2])))
            except KeyError:
                return None
        return None

    def load(self, plan: InputPlan) -> ResultInputs:
        """Read every input (files opened, URLs fetched): `MediaRejected` when one fails."""
        return ResultInputs(
            video=self._read(plan.video),
            audio=None if plan.audio is None else self._read(plan.audio),
            image=None if plan.image is None else self._read(plan.image),
        )

    def _read(self, source: Source) -> MediaSource:
        value, role = source.value, source.role
        if isinstance(value, (bytes, Path)):
            return value
        if source.kind == "file":
            return self._in_root(role, value)
        try:
            return fetch(value, self._fetch)
        except FetchFailed as failure:
            raise MediaRejected(
                f"{FAILED}: {role} could not be fetched: {failure.reason}"
            ) from None

    def _in_root(self, role: Role, text: str) -> Path:
        """The file a path or ``file:`` URL names, refused unless it lies inside the root
        once every symbolic link is followed."""
        assert self._root is not None
        named = unquote(urlsplit(text).path) if text.startswith("file:") else text
        try:
            root = self._root.resolve(strict=True)
            path = (root / named).resolve(strict=True)
        except (OSError, RuntimeError, ValueError):
            raise MediaRejected(
                f"{FAILED}: {role} names no file under the media root ({echo(named)})"
            ) from None
        if not path.is_relative_to(root):
            raise MediaRejected(f"{FAILED}: {role} is outside the media root ({echo(named)})")
        if not path.is_file():
            raise MediaRejected(f"{FAILED}: {role} is not a file ({echo(named)})")
        return path
