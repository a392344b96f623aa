"""The plugin's fixtures, exercised from a user's point of view through pytester."""

from __future__ import annotations

import pytest

SUBMIT = "/api/v1/vidu/lip-sync/async"


def test_in_process_mock_is_fresh_for_every_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        SUBMIT = "/api/v1/vidu/lip-sync/async"

        def test_first(lipsync_mock, lipsync_client):
            assert lipsync_client.post(SUBMIT, json={"video_url": "https://a/v.mp4"}).status_code == 200
            lipsync_mock.add_fault("error", status=503, route="poll")
            assert len(lipsync_mock.tasks()) == 1

        def test_second(lipsync_mock, lipsync_client):
            assert lipsync_mock.tasks() == []
            assert lipsync_mock.fault_rules() == []
            assert len(lipsync_mock.journal) == 0
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_sync_client_runs_the_whole_lifecycle_on_virtual_time(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from vidu_lipsync_mock.media.mp4info import probe_mp4

        def test_lifecycle(lipsync_mock, lipsync_client):
            r = lipsync_client.post("/api/v1/vidu/lip-sync/async", json={"video_url": "https://a/v.mp4"})
            task_id = r.json()["data"]["task_id"]
            assert lipsync_client.get(f"/api/v1/tasks/{task_id}").json()["data"]["status"] == "pending"
            lipsync_mock.run_until_terminal(task_id)
            data = lipsync_client.get(f"/api/v1/tasks/{task_id}").json()["data"]
            assert data["status"] == "success"
            video = lipsync_client.get(data["result"]["resources"][0]["url"])
            assert probe_mp4(video.content).video.width == data["result"]["resources"][0]["width"]
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_async_client_works_in_an_async_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.anyio
        async def test_async(lipsync_mock, lipsync_async_client):
            async with lipsync_async_client as client:
                r = await client.post("/api/v1/vidu/lip-sync/async", json={"video_url": "https://a/v.mp4"})
                assert r.status_code == 200
                lipsync_mock.force(r.json()["data"]["task_id"], "failed", "no face")
                poll = await client.get(r.json()["data"]["get_result"]["url"])
                assert poll.json()["data"]["status"] == "failed"
                assert poll.json()["data"]["error_message"] == "no face"

        @pytest.fixture
        def anyio_backend():
            return "asyncio"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_live_server_env_and_media_for_any_http_client(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import json, os, urllib.request

        def call(method, url, body=None):
            request = urllib.request.Request(
                url, method=method, data=None if body is None else json.dumps(body).encode(),
                headers={"Authorization": "Bearer " + os.environ["MODELLIX_API_KEY"],
                         "Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.load(response)

        def test_env_points_at_the_live_server(lipsync_env, lipsync_live, lipsync_media):
            base = os.environ["MODELLIX_BASE_URL"]
            assert base.startswith("http://127.0.0.1:")
            body = lipsync_media.submit_body(base)
            data = call("POST", base + "/api/v1/vidu/lip-sync", body)["data"]
            with urllib.request.urlopen(body["video_url"], timeout=5) as response:
                assert response.read() == lipsync_media.video.read_bytes()
            lipsync_live.run_until_terminal()
            assert call("GET", data["get_result"]["url"])["data"]["status"] == "success"

        def test_next_test_sees_a_reset_server(lipsync_live, lipsync_url):
            assert lipsync_live.tasks() == []
            assert lipsync_url == lipsync_live.url
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=2)


def test_a_crash_inside_the_mock_fails_the_test_at_teardown(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_client_ignores_500(lipsync_mock, lipsync_client, monkeypatch):
            def broken(model_id):
                raise RuntimeError("bug in the mock")
            monkeypatch.setattr(lipsync_mock, "result_media", broken)
            r = lipsync_client.post("/api/v1/vidu/lip-sync/async", json={"video_url": "https://a/v.mp4"})
            poll = lipsync_client.get(f"/api/v1/tasks/{r.json()['data']['task_id']}")
            assert poll.json() == {"code": 500, "message": "Internal server error"}
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*the mock crashed handling GET /api/v1/tasks/*", "*bug in the mock*"]
    )


def test_plugin_can_be_disabled(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_needs_it(lipsync_mock):\n    pass\n")
    result = pytester.runpytest("-p", "no:lipsync")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'lipsync_mock' not found*"])
