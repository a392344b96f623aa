"""When a rule fires (schedules, exact counts), in which order rules are consulted, what
they match, and seeded replay — all observed through the API, in-process."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import pytest

from vidu_lipsync_mock import make_api_key

N = 10
VIDEO = "https://example.com/presenter.mp4"


@pytest.fixture
def world(make_mock: Callable[..., Any], api: Any) -> Any:
    """A seeded mock, its client, and one task to poll (polls answer 200 unless faulted)."""
    client = api(make_mock(seed=1234))
    client.task_id = client.submit()
    return client


def poll_statuses(client: Any, n: int = N) -> list[int]:
    return [client.poll(client.task_id).status_code for _ in range(n)]


def fired_at(statuses: list[int], status: int = 503) -> list[int]:
    """1-based positions of the requests that got the fault."""
    return [i for i, s in enumerate(statuses, start=1) if s == status]


# -- schedules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ({}, list(range(1, N + 1))),  # always
        ({"once": True}, [1]),
        ({"times": 3}, [1, 2, 3]),
        ({"after": 3}, list(range(4, N + 1))),
        ({"after": 0}, list(range(1, N + 1))),
        ({"every": 3}, [3, 6, 9]),
        ({"probability": 0.0}, []),
        ({"probability": 1.0}, list(range(1, N + 1))),
    ],
    ids=["always", "once", "times-3", "after-3", "after-0", "every-3", "p-0", "p-1"],
)
def test_schedule_fires_on_exactly_these_requests(world, schedule, expected):
    rule = world.mock.add_fault("error", status=503, route="poll", **schedule)

    statuses = poll_statuses(world)

    assert fired_at(statuses) == expected
    assert set(statuses) <= {200, 503}
    (described,) = world.mock.fault_rules()
    assert (described["seen"], described["hits"]) == (N, len(expected))
    trace = world.mock.fault_trace()
    assert [t["rule"] for t in trace] == [rule.id] * len(expected)
    assert all(t["kind"] == "error" and t["status"] == 503 for t in trace)


def test_nested_schedule_form_is_the_same_as_the_shorthand(world):
    world.mock.add_fault(
        {
            "fault": {"kind": "error", "status": 503},
            "match": {"route": "poll"},
            "schedule": {"kind": "every", "n": 4},
        }
    )
    assert fired_at(poll_statuses(world)) == [4, 8]


def test_probability_follows_the_seeded_generator(world):
    world.mock.add_fault("error", status=503, route="poll", probability=0.3)

    statuses = poll_statuses(world, 200)

    draws = random.Random(1234)  # the engine's one generator, seeded with the mock's seed
    expected = [i for i in range(1, 201) if draws.random() < 0.3]
    assert fired_at(statuses) == expected
    assert 40 <= len(expected) <= 80  # and it is about 30 %
    (described,) = world.mock.fault_rules()
    assert (described["seen"], described["hits"]) == (200, len(expected))


def test_a_schedule_counts_only_requests_its_match_accepts(world):
    world.mock.add_fault("error", status=503, route="poll", every=2)
    for _ in range(3):
        world.submit()  # submits do not match, so they do not count
    assert fired_at(poll_statuses(world, 4)) == [2, 4]


# -- rule order ---------------------------------------------------------------------------------


def test_first_firing_rule_answers_and_later_rules_still_count(world):
    first = world.mock.add_fault("error", status=503, route="poll", every=2)
    second = world.mock.add_fault("error", status=500, route="poll")

    statuses = poll_statuses(world, 6)

    assert statuses == [500, 503, 500, 503, 500, 503]
    rules = {r["id"]: r for r in world.mock.fault_rules()}
    assert (rules[first.id]["seen"], rules[first.id]["hits"]) == (6, 3)
    assert (rules[second.id]["seen"], rules[second.id]["hits"]) == (6, 3)
    assert [t["rule"] for t in world.mock.fault_trace()] == [second.id, first.id] * 3


def test_a_shadowed_rule_keeps_its_quota_until_it_can_fire(world):
    shadow = world.mock.add_fault("error", status=503, route="poll")
    limited = world.mock.add_fault("error", status=500, route="poll", times=2)

    assert poll_statuses(world, 4) == [503] * 4
    rules = {r["id"]: r for r in world.mock.fault_rules()}
    assert (rules[limited.id]["seen"], rules[limited.id]["hits"]) == (4, 0)

    assert world.mock.remove_fault(shadow.id) is True
    assert [r["id"] for r in world.mock.fault_rules()] == [limited.id]
    assert poll_statuses(world, 4) == [500, 500, 200, 200]


def test_remove_unknown_rule_and_clear(world):
    world.mock.add_fault("error", status=503, route="poll")
    world.mock.add_fault("error", status=500, route="submit")

    assert world.mock.remove_fault("no-such-rule") is False
    assert len(world.mock.fault_rules()) == 2
    assert poll_statuses(world, 1) == [503]

    world.mock.clear_faults()

    assert world.mock.fault_rules() == []
    assert poll_statuses(world, 3) == [200, 200, 200]
    assert world.submit_raw().status_code == 200


def test_rule_ids_are_unique_and_user_ids_are_kept(world):
    a = world.mock.add_fault("error", status=503, route="poll", once=True)
    b = world.mock.add_fault({"id": "mine", "fault": "error", "status": 502, "route": "poll"})
    c = world.mock.add_fault("error", status=500, route="poll")
    assert b.id == "mine"
    assert len({a.id, b.id, c.id}) == 3
    with pytest.raises(ValueError, match="already exists"):
        world.mock.add_fault({"id": "mine", "fault": "error"})


def test_latency_adds_to_an_error_that_answers(world):
    world.mock.add_fault("latency", seconds=0.2, route="poll", once=True)
    world.mock.add_fault("error", status=503, route="poll", once=True)

    started = time.perf_counter()
    (status,) = poll_statuses(world, 1)  # real-time: the 0.2 s latency
    elapsed = time.perf_counter() - started

    assert status == 503
    assert elapsed >= 0.2
    assert world.mock.journal.last.fault == "latency,error:503"


@pytest.mark.parametrize(
    ("options", "low", "high"),
    [
        ({"seconds": 0.25}, 0.25, 0.25),
        ({"min": 0.1, "max": 0.3}, 0.1, 0.3),
        ({"median": 0.2, "sigma": 2.0, "max": 0.5}, 0.0, 0.5),
        ({"median": 0.2, "sigma": 2.0, "min": 0.05}, 0.05, 120.0),
    ],
    ids=["fixed", "uniform", "lognormal-max", "lognormal-min"],
)
def test_latency_draws_stay_within_their_bounds(make_mock, options, low, high):
    # The flaky-network profile relies on this: its latency is log-normal with max 0.5 s.
    mock = make_mock(seed=5)
    rule = mock.add_fault("latency", **options)
    draws = [mock.faults.delay_for(rule.fault) for _ in range(500)]
    assert low <= min(draws)
    assert max(draws) <= high


# -- seeded replay -------------------------------------------------------------------------------


def chaotic_session(client: Any) -> dict[str, Any]:
    """The same request sequence, whatever the mock: submit, poll, repeat."""
    mock = client.mock
    mock.add_fault("error", status=500, route="submit", probability=0.2)
    mock.add_fault("task_fail", route="submit", probability=0.5)
    mock.add_fault("error", status=503, route="poll", probability=0.3)
    seen_ids: list[str] = []
    statuses: list[int] = []
    for _ in range(30):
        response = client.submit_raw()
        statuses.append(response.status_code)
        if response.status_code == 200:
            seen_ids.append(response.json()["data"]["task_id"])
        if seen_ids:
            statuses.append(client.poll(seen_ids[-1]).status_code)
        mock.advance(1.0)
    return {
        "trace": mock.fault_trace(),
        "ids": seen_ids,
        "created": [t.task_id for t in mock.tasks()],
        "outcomes": [(t.task_id, t.status.value, t.error_message) for t in mock.tasks()],
        "statuses": statuses,
    }


def test_same_seed_same_faults_and_task_ids(make_mock, api):
    runs = []
    for _ in range(2):
        mock = make_mock(seed=99)
        mock.set_time(1_900_000_020.0)
        runs.append(chaotic_session(api(mock)))

    first, second = runs
    assert first == second
    assert len(first["trace"]) >= 10  # the run really was faulted
    assert {t["kind"] for t in first["trace"]} == {"error", "task_fail"}
    assert first["ids"] == first["created"]


def test_different_seed_different_faults(make_mock, api):
    traces = []
    for seed in (99, 100):
        mock = make_mock(seed=seed)
        traces.append(chaotic_session(api(mock)))
    assert traces[0]["trace"] != traces[1]["trace"]
    assert traces[0]["ids"][:1] != traces[1]["ids"][:1]


def test_trace_says_what_fired_where(world):
    rule = world.mock.add_fault("error", status=502, route="poll", once=True)
    poll_statuses(world, 2)
    assert world.mock.fault_trace() == [
        {
            "route": "poll",
            "path": f"/api/v1/tasks/{world.task_id}",
            "rule": rule.id,
            "phase": "before",
            "kind": "error",
            "status": 502,
        }
    ]


# -- match ---------------------------------------------------------------------------------------


@pytest.fixture
def every_route(world: Any) -> Callable[..., dict[str, int]]:
    """`every_route(key=None, video_url=VIDEO)`: one request of each route, its status."""
    done = world.submit()
    world.mock.run_until_terminal()
    download = world.data(done)["result"]["resources"][0]["url"]

    def run(key: str | None = None, video_url: str = VIDEO) -> dict[str, int]:
        return {
            "submit": world.submit_raw({"video_url": video_url}, key=key).status_code,
            "poll": world.poll(done, key=key).status_code,
            "download": world.get(download).status_code,
            "sample": world.get("/media/face.jpg").status_code,
        }

    return run


@pytest.mark.parametrize("route", ["submit", "poll", "download", "sample"])
def test_match_by_route(world, every_route, route):
    world.mock.add_fault("error", status=503, route=route)
    statuses = every_route()
    assert statuses == {name: 503 if name == route else 200 for name in statuses}


def test_match_any_route(world, every_route):
    world.mock.add_fault("error", status=503, route="any")
    assert set(every_route().values()) == {503}


@pytest.mark.parametrize(
    ("method", "faulted"), [("GET", {"poll", "download", "sample"}), ("post", {"submit"})]
)
def test_match_by_method(world, every_route, method, faulted):
    world.mock.add_fault("error", status=503, method=method)
    statuses = every_route()
    assert statuses == {name: 503 if name in faulted else 200 for name in statuses}


def test_match_by_api_key(world, every_route):
    other = make_api_key("otherteam")
    world.mock.add_fault("error", status=503, api_key=other)

    assert every_route() == {"submit": 200, "poll": 200, "download": 200, "sample": 200}
    # Downloads and samples carry no key, so a key rule cannot match them.
    assert every_route(key=other) == {"submit": 503, "poll": 503, "download": 200, "sample": 200}


def test_match_by_body_fields(world, every_route):
    special = "https://example.com/special.mp4"
    world.mock.add_fault("error", status=503, body={"video_url": special})

    assert every_route() == {"submit": 200, "poll": 200, "download": 200, "sample": 200}
    assert every_route(video_url=special)["submit"] == 503
    assert (
        world.submit_raw({"video_url": special, "audio_url": "https://e.com/a.mp3"}).status_code
        == 503
    )


def test_match_by_several_body_fields_needs_all(world):
    audio = "https://example.com/voice.mp3"
    world.mock.add_fault("error", status=503, body={"video_url": VIDEO, "audio_url": audio})
    assert world.submit_raw({"video_url": VIDEO}).status_code == 200
    assert (
        world.submit_raw({"video_url": VIDEO, "audio_url": "https://x.com/b.mp3"}).status_code
        == 200
    )
    assert world.submit_raw({"video_url": VIDEO, "audio_url": audio}).status_code == 503


def test_match_all_conditions_together(world):
    key = make_api_key("teamb")
    world.mock.add_fault(
        "error", status=503, route="submit", method="POST", api_key=key, body={"video_url": VIDEO}
    )
    assert world.submit_raw({"video_url": VIDEO}).status_code == 200  # wrong key
    theirs = world.submit_raw({"video_url": "https://example.com/x.mp4"}, key=key)
    assert theirs.status_code == 200
    task_id = theirs.json()["data"]["task_id"]  # a key polls its own team's task
    assert world.poll(task_id, key=key).status_code == 200  # wrong route
    assert world.submit_raw({"video_url": VIDEO}, key=key).status_code == 503
