"""The models the emulator serves: each one a provider api_schema file plus a short
description of our own.

Modellix routes every model through `POST /api/v1/{provider}/{model}[/async]`. A model is
two files with one stem in `specs/` (or a folder given to `Registry.from_directory`):
`<stem>.api_schema.json`, the provider's schema as published, which drives the submit
route, validation and `/openapi.json`; and `<stem>.model.json`, what the schema does not
say: the listing's fields, the body field that carries magic inputs (`magic_field`,
optional) and what a successful task hands out (`result`, `ResultSpec`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidu_lipsync_mock.service.validation import Validator, compile_schema

if TYPE_CHECKING:
    from importlib.abc import Traversable

__all__ = ["ModelCard", "ModelSpec", "Registry", "ResultSpec", "load_spec"]

#: What a model description's `result` says, each a non-empty string.
_RESULT_KEYS = ("type", "format", "file_name", "content_type", "sample")

SCHEMA_SUFFIX = ".api_schema.json"
CARD_SUFFIX = ".model.json"


@dataclass(frozen=True)
class ResultSpec:
    """What a successful task of a model hands out: the resource entry's `type` and
    `format`, the name its URL ends in, the type it is served with, and the sample file
    (a name in the media library) every task of the model gets."""

    type: str
    format: str
    file_name: str
    content_type: str
    sample: str


@dataclass(frozen=True)
class ModelCard:
    """A model as a listing shows it (the fields of `GET /api/v1/models`), and its result."""

    slug: str
    name: str
    provider_slug: str
    category: str
    description: str
    docs_url: str
    result: ResultSpec


@dataclass(frozen=True)
class ModelSpec:
    """One model: the provider's schema, and our description of it (`card`).

    `magic_field` is the body field whose `mock=` values force outcomes (see `magic`), or
    None for a model that takes none.
    """

    model_id: str
    summary: str
    description: str
    operation_id: str
    request_schema: Mapping[str, Any]
    request_examples: Mapping[str, Any]
    responses: Mapping[str, Any]
    source: str
    card: ModelCard
    magic_field: str | None
    validator: Validator = field(repr=False, compare=False)

    @property
    def provider(self) -> str:
        return self.model_id.split("/", 1)[0]

    @property
    def model(self) -> str:
        return self.model_id.split("/", 1)[1]


def _model_id_of(document: Mapping[str, Any], source: str) -> str:
    """The provider names the model in `x-mint.href`; the server URL is the fallback."""
    post = document.get("post", {})
    href = post.get("x-mint", {}).get("href")
    if isinstance(href, str) and href.count("/") == 1:
        return href
    for server in document.get("servers", []):
        found = re.search(r"/api/v1/([^/]*)/([^/]*)", str(server.get("url", "")))
        if found:
            return f"{found[1]}/{found[2]}"
    raise ValueError(f"{source}: cannot tell which provider/model this schema describes")


def _text(card: Mapping[str, Any], key: str, source: str) -> str:
    value = card.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{source}: the model description needs a non-empty '{key}'")
    return value


def _card(card: Mapping[str, Any], model_id: str, source: str) -> ModelCard:
    if card.get("slug") != model_id:
        raise ValueError(
            f"{source}: the description's slug {card.get('slug')!r} is not the schema's "
            f"model {model_id!r}"
        )
    result = card.get("result")
    if not isinstance(result, Mapping):
        raise ValueError(f"{source}: the model description needs a 'result' object")
    texts = {key: _text(card, key, source) for key in ("name", "category", "description")}
    return ModelCard(
        slug=model_id,
        provider_slug=model_id.split("/", 1)[0],
        docs_url=_text(card, "docs_url", source),
        result=ResultSpec(**{key: _text(result, key, f"{source} result") for key in _RESULT_KEYS}),
        **texts,
    )


def _magic_field(card: Mapping[str, Any], schema: Mapping[str, Any], source: str) -> str | None:
    name = card.get("magic_field")
    if name is None:
        return None
    prop = schema.get("properties", {}).get(name)
    if not isinstance(prop, Mapping) or prop.get("type") != "string":
        raise ValueError(f"{source}: magic_field {name!r} is not a string field of the schema")
    return str(name)


def load_spec(
    document: Mapping[str, Any], source: str = "<memory>", *, card: Mapping[str, Any]
) -> ModelSpec:
    """A model from its provider schema `document` and our description `card`."""
    post = document.get("post")
    if not isinstance(post, Mapping):
        raise ValueError(f"{source}: an api_schema file must describe a 'post' operation")
    content = post.get("requestBody", {}).get("content", {}).get("application/json", {})
    schema = content.get("schema")
    if not isinstance(schema, Mapping):
        raise ValueError(f"{source}: no application/json request schema")
    model_id = _model_id_of(document, source)
    return ModelSpec(
        model_id=model_id,
        summary=str(post.get("summary", model_id)),
        description=str(post.get("description", "")),
        operation_id=str(post.get("operationId", model_id)),
        request_schema=schema,
        request_examples=dict(content.get("examples", {})),
        responses=dict(post.get("responses", {})),
        source=source,
        card=_card(card, model_id, source),
        magic_field=_magic_field(card, schema, source),
        validator=compile_schema(schema),
    )


def _read_json(entry: Traversable) -> Any:
    return json.loads(entry.read_text(encoding="utf-8"))


def _load_folder(folder: Traversable, where: str) -> list[ModelSpec]:
    """Every schema of a folder with the description of the same stem; a file of either
    kind without its partner is refused, since it is half a model."""
    entries = {entry.name: entry for entry in folder.iterdir()}
    stems = {
        name.removesuffix(suffix)
        for name in entries
        for suffix in (SCHEMA_SUFFIX, CARD_SUFFIX)
        if name.endswith(suffix)
    }
    specs = []
    for stem in sorted(stems):
        schema, card = entries.get(stem + SCHEMA_SUFFIX), entries.get(stem + CARD_SUFFIX)
        if schema is None or card is None:
            missing = stem + (SCHEMA_SUFFIX if schema is None else CARD_SUFFIX)
            raise ValueError(f"{where}/{missing}: missing; a model is both files")
        specs.append(load_spec(_read_json(schema), f"{where}/{schema.name}", card=_read_json(card)))
    return specs


class Registry:
    """Models keyed by `provider/model`; read-only once built, so shared freely.

    The first model is the `default_model`: the one a caller means when it names none.
    """

    def __init__(self, specs: Iterable[ModelSpec] = ()) -> None:
        self._specs: dict[str, ModelSpec] = {}
        for spec in specs:
            self.add(spec)

    def add(self, spec: ModelSpec) -> None:
        if spec.model_id in self._specs:
            raise ValueError(f"model {spec.model_id!r} is defined twice")
        self._specs[spec.model_id] = spec

    def get(self, model_id: str) -> ModelSpec | None:
        return self._specs.get(model_id)

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    @property
    def default_model(self) -> ModelSpec:
        """The first model (in the bundled registry, the bundled model)."""
        for spec in self._specs.values():
            return spec
        raise LookupError("the registry holds no model")

    def cards(self) -> list[ModelCard]:
        """Every model as a listing shows it, in registry order."""
        return [spec.card for spec in self._specs.values()]

    @classmethod
    def from_directory(cls, directory: Path) -> Registry:
        return cls(_load_folder(directory, str(directory)))

    @classmethod
    def bundled(cls) -> Registry:
        """The models shipped inside the package."""
        folder = resources.files("vidu_lipsync_mock.service").joinpath("specs")
        return cls(_load_folder(folder, "specs"))
