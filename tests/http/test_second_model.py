"""A second model costs one schema file plus a short description: a test-only image model,
made here in a scratch folder, is served beside the bundled one with no code of its own —
submit, poll, the resource entry, the download, /openapi.json, the banner, magic inputs."""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from vidu_lipsync_mock.cli import banner
from vidu_lipsync_mock.media.library import MediaLibrary
from vidu_lipsync_mock.media.pnginfo import PNG_SIGNATURE
from vidu_lipsync_mock.service.registry import Registry

SUBMIT_PATH = "/api/v1/acme/imager/async"
BODY = {"image_url": "https://example.com/sketch.png", "prompt": "a lighthouse"}
LIPSYNC_BODY = {"video_url": "https://example.com/v.mp4"}
WIDTH, HEIGHT = 6, 4

SCHEMA_DOCUMENT = {
    "servers": [{"url": "https://api.modellix.ai/api/v1/acme/imager/async"}],
    "post": {
        "summary": "Acme Imager",
        "description": "Turns a sketch into a picture.",
        "operationId": "acmeImagerAsync",
        "x-mint": {"href": "acme/imager"},
        "requestBody": {
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["image_url"],
                        "properties": {
                            "image_url": {"type": "string", "minLength": 1},
                            "prompt": {"type": "string", "maxLength": 200},
                        },
                    }
                }
            }
        },
    },
}
DESCRIPTION = {
    "slug": "acme/imager",
    "name": "Acme Imager",
    "category": "image",
    "description": "Turns a sketch into a picture.",
    "docs_url": "https://docs.example.com/acme/imager",
    "magic_field": "image_url",
    "result": {
        "type": "image",
        "format": "png",
        "file_name": "result.png",
        "content_type": "image/png",
        "sample": "imager-result.png",
    },
}


def make_png(width: int, height: int) -> bytes:
    """A real, decodable RGB PNG made with the standard library alone."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + bytes(3 * width) for _ in range(height))
    return (
        PNG_SIGNATURE
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PNG = make_png(WIDTH, HEIGHT)


@pytest.fixture
def two_models(make_mock: Any, tmp_path: Path) -> Any:
    """A mock serving the bundled model and the image model, its result among the samples."""
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "acme-imager.api_schema.json").write_text(json.dumps(SCHEMA_DOCUMENT), "utf-8")
    (specs / "acme-imager.model.json").write_text(json.dumps(DESCRIPTION), "utf-8")
    media = tmp_path / "media"
    shutil.copytree(MediaLibrary().directory, media)
    (media / "imager-result.png").write_bytes(PNG)
    registry = Registry([*Registry.bundled(), *Registry.from_directory(specs)])
    return make_mock(registry=registry, media=MediaLibrary(media))


@pytest.fixture
def http(make_client: Any, two_models: Any) -> Any:
    return make_client(two_models)


@pytest.fixture
def document(http: Any) -> dict[str, Any]:
    response = http.get("/openapi.json")
    assert response.status_code == 200
    served: dict[str, Any] = response.json()
    return served


@pytest.fixture
def checks(check: Any, contract: Any, document: dict[str, Any]) -> Any:
    """The shared contract checks, against the document this two-model mock serves."""
    return type(check)(type(contract)(document))


def finished(http: Any, mock: Any, checks: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    data = checks.success(http.post(path, json=body, headers=mock.auth_headers))
    mock.run_until_terminal(data["task_id"])
    polled: dict[str, Any] = checks.success(
        http.get(f"/api/v1/tasks/{data['task_id']}", headers=mock.auth_headers)
    )
    return polled


def test_the_image_model_submits_polls_and_describes_its_png(http, two_models, checks):
    submitted = checks.success(http.post(SUBMIT_PATH, json=BODY, headers=two_models.auth_headers))
    assert submitted["model_id"] == "acme/imager"
    assert submitted["status"] == "pending"
    data = finished(http, two_models, checks, SUBMIT_PATH, BODY)
    assert data["status"] == "success"
    assert data["model_id"] == "acme/imager"
    assert data["result"]["resources"] == [
        {
            "url": f"http://testserver/files/{data['task_id']}/result.png",
            "type": "image",
            "width": WIDTH,
            "height": HEIGHT,
            "format": "png",
        }
    ]


def test_the_bundled_model_still_hands_out_its_video_beside_it(http, two_models, checks):
    data = finished(http, two_models, checks, "/api/v1/vidu/lip-sync/async", LIPSYNC_BODY)
    resource = data["result"]["resources"][0]
    assert resource["url"].endswith(f"/files/{data['task_id']}/result.mp4")
    assert (resource["type"], resource["format"]) == ("video", "mp4")
    assert (resource["width"], resource["height"]) == (1280, 720)


def test_the_download_serves_the_png_with_ranges(http, two_models, checks):
    data = finished(http, two_models, checks, SUBMIT_PATH, BODY)
    url = data["result"]["resources"][0]["url"]
    whole = http.get(url)
    checks.contract.check(whole)
    assert whole.status_code == 200
    assert whole.headers["content-type"] == "image/png"
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.content == PNG
    head = http.get(url, headers={"Range": "bytes=0-7"})
    checks.contract.check(head)
    assert head.status_code == 206
    assert head.headers["content-type"] == "image/png"
    assert head.headers["content-range"] == f"bytes 0-7/{len(PNG)}"
    assert head.content == PNG_SIGNATURE
    tail = http.get(url, headers={"Range": "bytes=-12"})
    assert tail.status_code == 206
    assert tail.content == PNG[-12:]
    checks.error(http.get(url, headers={"Range": f"bytes={len(PNG)}-"}), 416)


def test_each_task_answers_only_under_its_own_model_s_file_name(http, two_models, checks):
    image = finished(http, two_models, checks, SUBMIT_PATH, BODY)["task_id"]
    video = finished(http, two_models, checks, "/api/v1/vidu/lip-sync/async", LIPSYNC_BODY)
    message = f"Resource not found: no such file for task '{image}'"
    checks.error(http.get(f"/files/{image}/result.mp4"), 404, message)
    checks.error(http.get(f"/files/{video['task_id']}/result.png"), 404)
    assert http.get(f"/files/{video['task_id']}/result.mp4").status_code == 200


def test_openapi_lists_both_models_and_both_result_files(document):
    paths = document["paths"]
    for model in ("vidu/lip-sync", "acme/imager"):
        assert f"/api/v1/{model}/async" in paths
        assert f"/api/v1/{model}" in paths
    imager = paths[SUBMIT_PATH]["post"]
    assert imager["operationId"] == "acmeImagerAsync"
    schema = imager["requestBody"]["content"]["application/json"]["schema"]
    assert schema == SCHEMA_DOCUMENT["post"]["requestBody"]["content"]["application/json"]["schema"]
    png = paths["/files/{task_id}/result.png"]["get"]["responses"]["200"]["content"]
    mp4 = paths["/files/{task_id}/result.mp4"]["get"]["responses"]["200"]["content"]
    assert (list(png), list(mp4)) == (["image/png"], ["video/mp4"])
    resource = document["components"]["schemas"]["Task"]["properties"]["result"]["properties"]
    entry = resource["resources"]["items"]["properties"]
    assert entry["type"]["enum"] == ["image", "video"]
    assert entry["format"]["enum"] == ["mp4", "png"]
    assert "acme/imager" in document["info"]["description"]


def test_the_banner_lists_every_model_served(two_models):
    text = banner(two_models, "http://127.0.0.1:8000")
    lines = text.splitlines()
    assert lines[0] == "vidu-lipsync-mock listening on http://127.0.0.1:8000"
    submits = [line for line in lines if line.startswith("  submit: ")]
    assert len(submits) == 2
    assert "POST http://127.0.0.1:8000/api/v1/vidu/lip-sync/async" in submits[0]
    assert submits[0].endswith("Vidu Lip Sync: mp4 video")
    assert "POST http://127.0.0.1:8000/api/v1/acme/imager/async" in submits[1]
    assert submits[1].endswith("Acme Imager: png image")
    assert "  poll:   GET http://127.0.0.1:8000/api/v1/tasks/<id>" in lines


def test_a_magic_input_works_on_the_image_model(http, two_models, checks):
    body = {**BODY, "image_url": "https://example.com/sketch.png?mock=fail"}
    data = finished(http, two_models, checks, SUBMIT_PATH, body)
    assert data["status"] == "failed"
    refused = http.post(
        SUBMIT_PATH,
        json={"image_url": "https://example.com/s.png#mock=explode"},
        headers=two_models.auth_headers,
    )
    message = checks.error(refused, 400)
    assert message.startswith("Invalid parameters: unknown mock scenario 'explode'")


def test_magic_inputs_are_read_only_from_the_model_s_magic_field(http, two_models, checks):
    # `prompt` is no magic field, and `video_url` is the bundled model's, not this one's.
    body = {**BODY, "prompt": "see ?mock=fail"}
    assert finished(http, two_models, checks, SUBMIT_PATH, body)["status"] == "success"
    lipsync = {**LIPSYNC_BODY, "audio_url": "https://example.com/a.mp3?mock=fail"}
    path = "/api/v1/vidu/lip-sync/async"
    assert finished(http, two_models, checks, path, lipsync)["status"] == "success"
