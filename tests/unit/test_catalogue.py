"""The model listing: entries the CLI can read, filters clients send, unknown parameters
tolerated, and a bad page or page size refused with the exact reason."""

from __future__ import annotations

import dataclasses

import pytest

from vidu_lipsync_mock.service.catalogue import MAX_PAGE_SIZE, list_models, model_entry
from vidu_lipsync_mock.service.errors import ApiError
from vidu_lipsync_mock.service.registry import ModelCard, Registry

BUNDLED = Registry.bundled().cards()
LIP_SYNC = BUNDLED[0]


def card(slug: str, category: str = "image") -> ModelCard:
    provider = slug.split("/")[0]
    return dataclasses.replace(
        LIP_SYNC,
        slug=slug,
        name=slug.title(),
        provider_slug=provider,
        category=category,
        description=f"The {slug} model.",
        docs_url=f"https://docs.example.com/{slug}",
    )


MANY = [card(f"acme/model-{index:03d}", "image" if index % 2 else "video") for index in range(250)]


def test_an_entry_has_every_field_the_cli_reads() -> None:
    assert model_entry(LIP_SYNC) == {
        "slug": "vidu/lip-sync",
        "name": "Vidu Lip Sync",
        "provider": "vidu",
        "provider_slug": "vidu",
        "type": "video",
        "category": "video",
        "description": (
            "Reanimates the lip movements in a video to match a replacement audio track."
        ),
        "docs_url": "https://docs.modellix.ai/vidu/lip-sync",
    }


def test_no_parameters_list_every_model_on_one_page() -> None:
    page = list_models(BUNDLED, {})
    assert [entry["slug"] for entry in page.models] == [c.slug for c in BUNDLED]
    assert (page.total, page.page, page.page_size) == (len(BUNDLED), 1, MAX_PAGE_SIZE)


def test_unknown_parameters_such_as_featured_are_tolerated() -> None:
    assert list_models(BUNDLED, {"featured": "true", "lang": "de"}) == list_models(BUNDLED, {})


@pytest.mark.parametrize("name", ["category", "type"])
def test_category_and_type_filter_case_insensitively(name: str) -> None:
    page = list_models(MANY, {name: "VIDEO"})
    assert page.total == 125
    assert {entry["type"] for entry in page.models} == {"video"}
    assert list_models(MANY, {name: "audio"}).models == []
    assert list_models(MANY, {name: ""}).total == 250  # an empty filter filters nothing


def test_category_and_type_together_must_both_match() -> None:
    assert list_models(MANY, {"category": "video", "type": "image"}).total == 0
    assert list_models(MANY, {"category": "image", "type": "image"}).total == 125


def test_pages_cut_the_list_in_order() -> None:
    first = list_models(MANY, {"page_size": "100"})
    third = list_models(MANY, {"page": "3", "page_size": "100"})
    assert [e["slug"] for e in first.models] == [c.slug for c in MANY[:100]]
    assert [e["slug"] for e in third.models] == [c.slug for c in MANY[200:]]
    assert list_models(MANY, {"page": "4", "page_size": "100"}).models == []
    small = list_models(MANY, {"page": "2", "page_size": "7", "category": "image"})
    assert [e["slug"] for e in small.models] == [c.slug for c in MANY if c.category == "image"][
        7:14
    ]
    assert (small.total, small.page, small.page_size) == (125, 2, 7)
    assert list_models(MANY, {"page": "01", "page_size": "007"}).page_size == 7


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"page": "0"}, "parameter 'page' must be an integer from 1 to 1000000, got '0'"),
        ({"page": "-1"}, "parameter 'page' must be an integer from 1 to 1000000, got '-1'"),
        ({"page": "1.5"}, "parameter 'page' must be an integer from 1 to 1000000, got '1.5'"),
        ({"page": ""}, "parameter 'page' must be an integer from 1 to 1000000, got ''"),
        (
            {"page": "1000001"},
            "parameter 'page' must be an integer from 1 to 1000000, got '1000001'",
        ),
        ({"page": "\u0663"}, "parameter 'page' must be an integer from 1 to 1000000, got '\u0663'"),
        ({"page": " 2"}, "parameter 'page' must be an integer from 1 to 1000000, got ' 2'"),
        ({"page_size": "0"}, "parameter 'page_size' must be an integer from 1 to 100, got '0'"),
        ({"page_size": "101"}, "parameter 'page_size' must be an integer from 1 to 100, got '101'"),
        ({"page_size": "ten"}, "parameter 'page_size' must be an integer from 1 to 100, got 'ten'"),
        (
            {"page_size": "9" * 40},
            "parameter 'page_size' must be an integer from 1 to 100, got '" + "9" * 40 + "'",
        ),
        (
            {"page": "x\ny"},
            "parameter 'page' must be an integer from 1 to 1000000, got 'x\\ny'",
        ),
    ],
)
def test_a_bad_page_or_page_size_is_refused_with_the_reason(query: dict, message: str) -> None:
    with pytest.raises(ApiError) as caught:
        list_models(MANY, query)
    assert (caught.value.status, caught.value.message) == (400, f"Invalid parameters: {message}")
