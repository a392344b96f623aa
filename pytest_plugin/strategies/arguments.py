"""Checks of the strategies' own arguments, and the model a body is drawn for.

Arguments are checked when a strategy is built, so a typo fails at the call site rather
than inside a test run, with Hypothesis's `InvalidArgument`.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from vidu_lipsync_mock.service.registry import ModelSpec, Registry

__all__ = ["check_names", "check_size", "check_strategy", "model_spec"]


@lru_cache(maxsize=1)
def _registry() -> Registry:
    return Registry.bundled()


def model_spec(model_id: str | None) -> ModelSpec:
    """A bundled model; None: the first the registry bundles (the emulator's own)."""
    registry = _registry()
    if model_id is None:
        return next(iter(registry))
    spec = registry.get(model_id)
    if spec is None:
        known = ", ".join(s.model_id for s in registry)
        raise InvalidArgument(f"model_id={model_id!r} is not bundled; known: {known}")
    return spec


def check_strategy(name: str, value: object) -> None:
    if value is not None and not isinstance(value, st.SearchStrategy):
        raise InvalidArgument(f"{name} must be a strategy, not {value!r}")


def check_names(name: str, value: Collection[str] | None, known: Collection[str]) -> None:
    if value is None:
        return
    if isinstance(value, str):
        raise InvalidArgument(f"{name} takes a collection of names, not the string {value!r}")
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise InvalidArgument(f"unknown {name}: {', '.join(unknown)}; known: {', '.join(known)}")
    if not value:
        raise InvalidArgument(f"{name} must not be empty")


def check_size(min_size: int, max_size: int, low: int, high: int, what: str) -> None:
    if not low <= min_size <= max_size <= high:
        raise InvalidArgument(
            f"{what}: need {low} <= min_size ({min_size}) <= max_size ({max_size}) <= {high}"
        )
