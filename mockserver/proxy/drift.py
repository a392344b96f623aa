"""The drift check: the same requests to the service (recorded, or sent live) and to a
fresh mock, answer by answer, through `proxy.compare`.

Replaying a cassette cannot send what it does not hold, so a few things are put back in
the mock's terms, each the least that makes the comparison about the answer's form: keys
are gone from a cassette, so a request the upstream refused with 401 is sent with a key the
mock does not know and every other one with a key it does; ids the upstream made (tasks,
files, their URLs) are mapped to the ones the mock made for the same requests; a poll is
sent after the mock's task was brought to the status the upstream reported, since a
recording's timing is not the mock's; and an answer only the upstream's own condition
produces (429, 5xx) is asked of the mock with `X-Mock-Fault`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from vidu_lipsync_mock.journal.journal import BODY_LIMIT, Entry
from vidu_lipsync_mock.media.library import MediaLibrary
from vidu_lipsync_mock.mock import LipSyncMock
from vidu_lipsync_mock.proxy.cassette import CassetteInfo
from vidu_lipsync_mock.proxy.compare import Answer, Difference, differences
from vidu_lipsync_mock.service.admission import UPLOAD_ROUTE
from vidu_lipsync_mock.service.errors import ApiError
from vidu_lipsync_mock.service.keys import make_api_key
from vidu_lipsync_mock.service.tasks import TaskStatus, TransitionError

__all__ = ["REPLAY_KEY", "answer_of", "replay_cassette"]

#: The key replayed requests carry, and the well-formed one the replay mock does not know.
REPLAY_KEY = make_api_key("driftreplay")
UNKNOWN_KEY = make_api_key("driftunknown")

#: Statuses that come from the service's own condition, not from the request.
_CONDITIONS = frozenset({429, 500, 502, 503, 504})
_NOT_SENT = frozenset(
    {"authorization", "host", "content-length", "connection", "transfer-encoding", "keep-alive"}
)
_MAPPED_FIELDS = frozenset({"task_id", "file_id", "url"})
_REPLAYED_OUTCOMES = frozenset({"response"})


def answer_of(response: httpx.Response) -> Answer:
    """A live answer as the comparison reads it (a body only when it is JSON)."""
    text: str | None = None
    if "json" in response.headers.get("content-type", ""):
        text = response.text
    return Answer(
        status=response.status_code,
        headers={name.lower(): value for name, value in response.headers.items()},
        body=text,
    )


def _kept_whole(body: str) -> bool:
    """Whether the journal kept this body as it was sent: under its bound, and text."""
    return len(body.encode("utf-8")) < BODY_LIMIT and "\ufffd" not in body


#: The sample the mock has of each kind of upload, for one the cassette could not keep.
_SAMPLES = {"video": "input-video.mp4", "audio": "input-audio.mp3", "image": "face.jpg"}


def _stand_in_file(body: str, media: MediaLibrary) -> tuple[str, bytes, str]:
    """An upload whose file the cassette could not keep (too large, or not text) is sent
    with the mock's own sample of the same kind, under the recorded name and type."""
    name = re.search(r'filename="([^"]*)"', body)
    kind = re.search(r"(?i)content-type:\s*([\w.+-]+/[\w.+-]+)", body)
    content_type = kind.group(1) if kind else "application/octet-stream"
    sample = _SAMPLES.get(content_type.split("/", 1)[0], _SAMPLES["video"])
    return (name.group(1) if name else sample), media.read(sample), content_type


def recorded_answer(entry: Entry) -> Answer:
    return Answer(
        status=entry.status,
        headers={name.lower(): value for name, value in entry.response_headers.items()},
        body=entry.response_body,
    )


def learn_ids(upstream: Any, mock: Any, into: dict[str, str]) -> None:
    """Ids and links the upstream made, mapped to those the mock made in the same place."""
    if isinstance(upstream, dict) and isinstance(mock, dict):
        for name, value in upstream.items():
            ours = mock.get(name)
            if name in _MAPPED_FIELDS and isinstance(value, str) and isinstance(ours, str):
                if value and value != ours:
                    into[value] = ours
            else:
                learn_ids(value, ours, into)
    elif isinstance(upstream, list) and isinstance(mock, list):
        for value, ours in zip(upstream, mock, strict=False):
            learn_ids(value, ours, into)


def _substitute(text: str, mapping: Mapping[str, str]) -> str:
    if not mapping or not text:
        return text
    pattern = re.compile("|".join(re.escape(key) for key in sorted(mapping, key=len, reverse=True)))
    return pattern.sub(lambda match: mapping[match.group(0)], text)


@dataclass
class _Replay:
    """One replay's running state: the mock, its client, the ids learnt so far."""

    mock: LipSyncMock
    client: httpx.Client
    info: CassetteInfo
    ids: dict[str, str]

    def request_for(self, entry: Entry) -> httpx.Request:
        headers = {
            name: _substitute(value, self.ids)
            for name, value in entry.request_headers.items()
            if name.lower() not in _NOT_SENT and not name.lower().startswith("x-mock-")
        }
        if "authorization" in {name.lower() for name in entry.request_headers}:
            key = UNKNOWN_KEY if entry.status == 401 else REPLAY_KEY
            headers["Authorization"] = f"Bearer {key}"
        if entry.status in _CONDITIONS:
            headers["X-Mock-Fault"] = f"error; status={entry.status}"
        path = _substitute(entry.path, self.ids)
        query = _substitute(entry.query, self.ids)
        url = path + (f"?{query}" if query else "")
        text = entry.request_body or ""
        if entry.route == UPLOAD_ROUTE and not _kept_whole(text):
            headers.pop("content-type", None)
            files = {"file": _stand_in_file(text, self.mock.media)}
            return self.client.build_request(entry.method, url, headers=headers, files=files)
        body = _substitute(text, self.ids).encode("utf-8")
        return self.client.build_request(entry.method, url, headers=headers, content=body)

    def bring_to_recorded_status(self, entry: Entry, recorded: Answer) -> None:
        data = recorded.json().get("data") if isinstance(recorded.json(), dict) else None
        status = data.get("status") if isinstance(data, dict) else None
        task_id = self.ids.get(entry.task_id or "", entry.task_id)
        if (
            entry.route != "poll"
            or task_id is None
            or status not in ("processing", "success", "failed")
        ):
            return
        try:
            if self.mock.task(task_id).status.value != status:
                self.mock.force(task_id, TaskStatus(status))
        except (ApiError, TransitionError):  # an unknown or finished task: compare as it is
            return

    def replay(self, number: int, entry: Entry) -> list[Difference]:
        recorded = recorded_answer(entry)
        self.bring_to_recorded_status(entry, recorded)
        response = self.client.send(self.request_for(entry))
        ours = answer_of(response)
        learn_ids(recorded.json(), ours.json(), self.ids)
        self.mock.advance(1.0)  # a second apart: a long cassette stays inside the rate limit
        shown = re.sub(r"task-[A-Za-z0-9]+", "{id}", entry.path)
        return differences(
            f"#{number} {entry.method} {shown}",
            recorded,
            ours,
            complete=self.info.complete,
        )


def replay_cassette(info: CassetteInfo, entries: Sequence[Entry]) -> list[Difference]:
    """Replay every answered exchange of a cassette against a fresh mock; the drift found."""
    mock = LipSyncMock(clock="manual", progression="manual", api_keys=[REPLAY_KEY])
    base = mock.start()
    found: list[Difference] = []
    try:
        with httpx.Client(base_url=base, timeout=30.0) as client:
            replay = _Replay(mock=mock, client=client, info=info, ids={})
            for number, entry in _replayable(entries):
                found += replay.replay(number, entry)
    finally:
        mock.stop()
    return found


def _replayable(entries: Sequence[Entry]) -> Iterator[tuple[int, Entry]]:
    for number, entry in enumerate(entries, start=1):
        if entry.outcome in _REPLAYED_OUTCOMES and entry.status:
            yield number, entry


def _table(rows: Sequence[tuple[str, str, str, str]]) -> list[str]:
    header = ("exchange", "aspect", "upstream", "mock")
    shown = [header, *((a, b, c[:40], d[:40]) for a, b, c, d in rows)]
    widths = [max(len(row[i]) for row in shown) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in shown]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return [line.rstrip() for line in lines]


def render(found: Sequence[Difference]) -> str:
    """The differences as a table a terminal shows: drift first, then the notes (what only
    the mock has, where the source does not say); one line when there is no drift."""
    drift = [(d.where, d.aspect, d.upstream, d.mock) for d in found if d.drift]
    notes = [(d.where, d.aspect, d.upstream, d.mock) for d in found if not d.drift]
    lines = [*_table(drift), f"{len(drift)} difference(s)"] if drift else ["no drift"]
    if notes:
        lines += ["", f"{len(notes)} note(s): only the mock has these; the source does not say"]
        lines += _table(notes)
    return "\n".join(lines)


def as_json(found: Sequence[Difference]) -> str:
    return json.dumps([d.__dict__ for d in found], indent=2)
