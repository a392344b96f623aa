"""The models the emulator serves, each loaded from a provider api_schema file.

Modellix routes every model through `POST /api/v1/{provider}/{model}[/async]`. Adding a
second model to the emulator means dropping its `*.api_schema.json` into `specs/`: the
submit route, validation and `/openapi.json` are all driven from what is loaded here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from vidu_lipsync_mock.service.validation import Validator, compile_schema

__all__ = ["ModelSpec", "Registry", "load_spec"]


@dataclass(frozen=True)
class ModelSpec:
    """One model as the provider documents it."""

    model_id: str
    summary: str
    description: str
    operation_id: str
    request_schema: Mapping[str, Any]
    request_examples: Mapping[str, Any]
    responses: Mapping[str, Any]
    source: str
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
        url = str(server.get("url", ""))
        marker = "/api/v1/"
        if marker in url:
            parts = url.split(marker, 1)[1].split("/")
            if len(parts) >= 2:
                return f"{parts[0]}/{parts[1]}"
    raise ValueError(f"{source}: cannot tell which provider/model this schema describes")


def load_spec(document: Mapping[str, Any], source: str = "<memory>") -> ModelSpec:
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
        validator=compile_schema(schema),
    )


class Registry:
    """Models keyed by `provider/model`; read-only once built, so shared freely."""

    def __init__(self, specs: list[ModelSpec] | None = None) -> None:
        self._specs: dict[str, ModelSpec] = {}
        for spec in specs or []:
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

    @classmethod
    def from_directory(cls, directory: Path) -> Registry:
        specs = [
            load_spec(json.loads(path.read_text(encoding="utf-8")), str(path))
            for path in sorted(directory.glob("*.api_schema.json"))
        ]
        return cls(specs)

    @classmethod
    def bundled(cls) -> Registry:
        """The models shipped inside the package."""
        specs = []
        folder = resources.files("vidu_lipsync_mock.service").joinpath("specs")
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".api_schema.json"):
                specs.append(load_spec(json.loads(entry.read_text(encoding="utf-8")), entry.name))
        return cls(specs)
