"""Optional dependencies, named by the extra that brings them.

`pip install vidu-lipsync-mock` is lean: the server and the fixtures. Hypothesis and Faker
(the strategies and the Faker provider) come with the `strategies` extra, respx and
responses (the intercept fixture) with `intercept`. A module that needs one calls `require`
before importing it, so a missing library fails with the install command that fixes it
rather than a bare `No module named 'hypothesis'`.
"""

from __future__ import annotations

import importlib.util

__all__ = ["MissingExtraError", "require"]


class MissingExtraError(ModuleNotFoundError):
    """A library of an optional extra is not installed; the message says how to get it."""


def require(extra: str, *modules: str, needed_by: str) -> None:
    """Raise `MissingExtraError` naming `extra` unless every one of `modules` can be
    imported. Checked with `find_spec`, so nothing is imported here."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtraError(
            f"{needed_by} needs {' and '.join(missing)}, which come with the {extra!r} extra: "
            f"pip install 'vidu-lipsync-mock[{extra}]'",
            name=missing[0],
        )
