"""The model listing (`GET /api/v1/models`) as the provider answers it, from the registry.

The official CLI reads a top-level `models` array with a string `slug` in each entry; it
filters on `type`, takes the provider from `provider` or `provider_slug`, and finds `model
describe <slug>` in this same list (there is no single-model endpoint). Other clients send
`category` (or `type`), `page` and `page_size`: filters narrow the list, unknown parameters
are ignored as the provider ignores them, and a page number or size out of range is the
provider's 400 with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from vidu_lipsync_mock.service.errors import echo, invalid_parameters
from vidu_lipsync_mock.service.registry import ModelCard

__all__ = ["MAX_PAGE_SIZE", "ModelPage", "list_models", "model_entry"]

#: The most entries one page may ask for.
MAX_PAGE_SIZE = 100
#: Without `page_size`, one page holds every model a client can ask for at once, so a
#: client that sends no parameters (the CLI) sees the whole list.
DEFAULT_PAGE_SIZE = MAX_PAGE_SIZE
#: Page numbers past this are refused rather than computed.
MAX_PAGE = 1_000_000

_DIGITS = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True)
class ModelPage:
    """One page of the listing: the entries, how many match in all, and the page asked
    for (the wire puts these at the top level, beside `models`)."""

    models: list[dict[str, str]]
    total: int
    page: int
    page_size: int


def model_entry(card: ModelCard) -> dict[str, str]:
    """A model as the listing shows it. `type` is the field clients filter on (the card's
    category); `provider` and `provider_slug` are both there, as the CLI reads either."""
    return {
        "slug": card.slug,
        "name": card.name,
        "provider": card.provider_slug,
        "provider_slug": card.provider_slug,
        "type": card.category,
        "category": card.category,
        "description": card.description,
        "docs_url": card.docs_url,
    }


def _whole_number(query: Mapping[str, str], name: str, default: int, highest: int) -> int:
    value = query.get(name)
    if value is None:
        return default
    if not _DIGITS.fullmatch(value) or not 1 <= int(value) <= highest:
        raise invalid_parameters(
            f"parameter '{name}' must be an integer from 1 to {highest}, got '{echo(value)}'"
        )
    return int(value)


def _matches(entry: Mapping[str, str], field: str, wanted: str | None) -> bool:
    return not wanted or entry[field].lower() == wanted.lower()


def list_models(cards: Iterable[ModelCard], query: Mapping[str, str]) -> ModelPage:
    """The page of models `query` asks for (a query string's parameters, one value
    each); raises `ApiError` 400 for a bad `page` or `page_size`. An empty filter value
    filters nothing; a filter nothing matches gives an empty page, not an error."""
    page = _whole_number(query, "page", 1, MAX_PAGE)
    page_size = _whole_number(query, "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    matching = [
        entry
        for entry in map(model_entry, cards)
        if _matches(entry, "category", query.get("category"))
        and _matches(entry, "type", query.get("type"))
    ]
    start = (page - 1) * page_size
    return ModelPage(
        models=matching[start : start + page_size],
        total=len(matching),
        page=page,
        page_size=page_size,
    )
