"""The model registry: each model is the provider's api_schema file plus our short
description (`<stem>.model.json`), loaded from the package or from any folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vidu_lipsync_mock.service.registry import ModelCard, Registry, ResultSpec, load_spec

SPECS = Path(__file__).resolve().parents[2] / "mockserver" / "service" / "specs"
SPEC_FILE = SPECS / "vidu-lip-sync.api_schema.json"
CARD_FILE = SPECS / "vidu-lip-sync.model.json"
DOCUMENT: dict[str, Any] = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
SCHEMA: dict[str, Any] = DOCUMENT["post"]["requestBody"]["content"]["application/json"]["schema"]


def message_for(validator: Any, value: object) -> str | None:
    error = validator.first_error(value)
    return None if error is None else error.message


def second_model_document(href: str | None = "acme/talker", server: str | None = None) -> dict:
    post: dict[str, Any] = {
        "summary": "Acme talker",
        "requestBody": {
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["text"],
                        "properties": {
                            "text": {"type": "string", "minLength": 1},
                            "count": {"type": "integer"},
                        },
                    }
                }
            }
        },
    }
    if href is not None:
        post["x-mint"] = {"href": href}
    document: dict[str, Any] = {"post": post}
    if server is not None:
        document["servers"] = [{"url": server}]
    return document


def card_for(slug: str = "acme/talker", **changes: Any) -> dict[str, Any]:
    card: dict[str, Any] = {
        "slug": slug,
        "name": "Acme Talker",
        "category": "image",
        "description": "Draws what it is told.",
        "docs_url": "https://docs.example.com/acme/talker",
        "magic_field": "text",
        "result": {
            "type": "image",
            "format": "png",
            "file_name": "result.png",
            "content_type": "image/png",
            "sample": "talker.png",
        },
    }
    card.update(changes)
    return {key: value for key, value in card.items() if value is not None}


def write_model(folder: Path, stem: str, document: dict, card: dict) -> None:
    (folder / f"{stem}.api_schema.json").write_text(json.dumps(document), "utf-8")
    (folder / f"{stem}.model.json").write_text(json.dumps(card), "utf-8")


def copy_bundled(folder: Path) -> None:
    for source in (SPEC_FILE, CARD_FILE):
        (folder / source.name).write_text(source.read_text(encoding="utf-8"), "utf-8")


# --- the bundled model ---------------------------------------------------------------------


def test_the_bundled_registry_serves_exactly_lip_sync_with_the_shipped_schema() -> None:
    registry = Registry.bundled()
    assert [spec.model_id for spec in registry] == ["vidu/lip-sync"]
    assert len(registry) == 1
    spec = registry.get("vidu/lip-sync")
    assert spec is not None
    assert (spec.provider, spec.model) == ("vidu", "lip-sync")
    assert spec.request_schema == SCHEMA
    assert spec.operation_id == "viduLipSyncAsync"
    assert set(spec.request_examples) == {"with_audio", "with_reference_face"}
    assert spec.validator.first_error({}) is not None
    assert registry.get("vidu/other") is None


def test_the_bundled_model_is_described_as_the_listing_shows_it() -> None:
    registry = Registry.bundled()
    spec = registry.default_model
    assert spec.model_id == "vidu/lip-sync"
    assert spec.magic_field == "video_url"
    assert registry.cards() == [spec.card]
    assert spec.card == ModelCard(
        slug="vidu/lip-sync",
        name="Vidu Lip Sync",
        provider_slug="vidu",
        category="video",
        description="Reanimates the lip movements in a video to match a replacement audio track.",
        docs_url="https://docs.modellix.ai/vidu/lip-sync",
        result=ResultSpec(
            type="video",
            format="mp4",
            file_name="result.mp4",
            content_type="video/mp4",
            sample="result.mp4",
        ),
    )


# --- models from a folder --------------------------------------------------------------------


def test_a_model_is_added_by_dropping_its_two_files_into_the_directory(tmp_path: Path) -> None:
    copy_bundled(tmp_path)
    write_model(tmp_path, "acme-talker", second_model_document(), card_for())
    (tmp_path / "notes.json").write_text("not a spec", "utf-8")  # ignored: wrong suffix
    registry = Registry.from_directory(tmp_path)
    assert sorted(spec.model_id for spec in registry) == ["acme/talker", "vidu/lip-sync"]
    talker = registry.get("acme/talker")
    assert talker is not None
    assert talker.summary == "Acme talker"
    assert talker.source.endswith("acme-talker.api_schema.json")
    assert message_for(talker.validator, {}) == "Invalid parameters: parameter 'text' is required"
    assert talker.validator.first_error({"text": "hi"}) is None
    assert talker.magic_field == "text"
    assert talker.card.provider_slug == "acme"
    assert talker.card.result == ResultSpec(
        type="image",
        format="png",
        file_name="result.png",
        content_type="image/png",
        sample="talker.png",
    )


def test_a_registry_of_several_sources_keeps_their_order_and_the_first_default(
    tmp_path: Path,
) -> None:
    write_model(tmp_path, "acme-talker", second_model_document(), card_for())
    registry = Registry([*Registry.bundled(), *Registry.from_directory(tmp_path)])
    assert registry.default_model.model_id == "vidu/lip-sync"
    assert [card.slug for card in registry.cards()] == ["vidu/lip-sync", "acme/talker"]


def test_an_empty_registry_has_no_default_model(tmp_path: Path) -> None:
    with pytest.raises(LookupError, match="no model"):
        _ = Registry.from_directory(tmp_path).default_model


@pytest.mark.parametrize("missing", [".api_schema.json", ".model.json"])
def test_half_a_model_is_refused_with_the_missing_file(tmp_path: Path, missing: str) -> None:
    write_model(tmp_path, "acme-talker", second_model_document(), card_for())
    (tmp_path / f"acme-talker{missing}").unlink()
    with pytest.raises(ValueError, match=f"acme-talker{missing}: missing"):
        Registry.from_directory(tmp_path)


def test_the_model_id_falls_back_to_the_server_url(tmp_path: Path) -> None:
    document = second_model_document(
        href=None, server="https://api.modellix.ai/api/v1/acme/dubber/async"
    )
    write_model(tmp_path, "dubber", document, card_for("acme/dubber"))
    assert [spec.model_id for spec in Registry.from_directory(tmp_path)] == ["acme/dubber"]


def test_an_href_that_is_not_provider_slash_model_falls_back_too() -> None:
    document = second_model_document(
        href="/docs/acme/dubber", server="https://api.modellix.ai/api/v1/acme/dubber"
    )
    assert load_spec(document, card=card_for("acme/dubber")).model_id == "acme/dubber"


def test_a_model_defined_twice_is_refused(tmp_path: Path) -> None:
    for stem in ("a", "b"):
        write_model(tmp_path, stem, second_model_document(), card_for())
    with pytest.raises(ValueError, match="'acme/talker' is defined twice"):
        Registry.from_directory(tmp_path)


def test_an_empty_directory_gives_an_empty_registry(tmp_path: Path) -> None:
    assert len(Registry.from_directory(tmp_path)) == 0


# --- files that cannot make a model ----------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "match"),
    [
        ({}, "must describe a 'post' operation"),
        ({"post": {"requestBody": {}}}, "no application/json request schema"),
        (second_model_document(href=None), "cannot tell which provider/model"),
        (
            second_model_document(href=None, server="https://api.modellix.ai/v2/acme"),
            "cannot tell which provider/model",
        ),
    ],
)
def test_unusable_spec_files_are_refused_with_their_name(document: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match) as caught:
        load_spec(document, "broken.api_schema.json", card=card_for())
    assert str(caught.value).startswith("broken.api_schema.json: ")


@pytest.mark.parametrize(
    ("card", "match"),
    [
        (card_for("acme/other"), "slug 'acme/other' is not the schema's model 'acme/talker'"),
        (card_for(name=None), "needs a non-empty 'name'"),
        (card_for(docs_url=""), "needs a non-empty 'docs_url'"),
        (card_for(result=None), "needs a 'result' object"),
        (card_for(result={"type": "image"}), "result: the model description needs .*'format'"),
        (card_for(magic_field="prompt"), "magic_field 'prompt' is not a string field"),
        (card_for(magic_field="count"), "magic_field 'count' is not a string field"),
    ],
)
def test_unusable_descriptions_are_refused_with_what_is_wrong(card: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match) as caught:
        load_spec(second_model_document(), "talker.api_schema.json", card=card)
    assert str(caught.value).startswith("talker.api_schema.json")


def test_a_model_without_a_magic_field_takes_no_magic_inputs() -> None:
    spec = load_spec(second_model_document(), card=card_for(magic_field=None))
    assert spec.magic_field is None
