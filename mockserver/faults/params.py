"""A fault's parameter: its type, default and accepted range, checked the same way wherever
a fault enters (the `X-Mock-Fault` header, admin-API JSON, `add_fault`, a TOML file).

Each fault kind declares its parameters with `Param` (see `kinds`), so a value out of range
is refused with the same message at every entry point, and the docs and the Hypothesis
strategies read the very ranges the check uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_DELAY_SECONDS", "FaultError", "Param"]

#: Upper bound on any deliberate wait, so a fault can never pin a server worker for long.
MAX_DELAY_SECONDS = 120.0


class FaultError(ValueError):
    """A rule, schedule or fault that cannot work as written."""


@dataclass(frozen=True)
class Param:
    """One option of a fault kind.

    Numbers must lie in `low`..`high` (`low` itself excluded when `above`); text may be
    limited to `choices`. `default` None means the option is absent unless given (the
    effect then works the value out, as an `error` fault's message from its status).
    """

    type: type[Any]
    doc: str
    default: Any = None
    low: float | None = None
    high: float | None = None
    #: `low` itself is refused (a factor must be positive, not zero).
    above: bool = False
    choices: tuple[str, ...] = ()
    #: Seconds someone really waits (the server or the client): the strategies keep
    #: these short, and a test that draws them stays fast.
    waits: bool = False
    #: Typical values, for the docs and for the strategies to draw from.
    examples: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.type not in (int, float, str):
            raise TypeError(f"a fault parameter is int, float or str, not {self.type!r}")
        if self.type is not str and (self.low is None or self.high is None):
            raise TypeError("a numeric fault parameter needs a range (low and high)")
        if self.default is not None and not self.accepts(self.default):
            raise TypeError(f"default {self.default!r} is outside {self.accepted()}")

    def accepts(self, value: Any) -> bool:
        """Whether a value of the right type lies in the accepted range."""
        if self.choices:
            return value in self.choices
        if self.type is str:
            return isinstance(value, str)
        if isinstance(value, float) and not math.isfinite(value):
            return False
        low, high = self.low or 0.0, self.high or 0.0  # set for every number (__post_init__)
        return bool(value > low if self.above else value >= low) and bool(value <= high)

    def accepted(self) -> str:
        """The accepted values in words, for error messages and the docs."""
        if self.choices:
            return "one of " + ", ".join(repr(choice) for choice in self.choices)
        if self.type is str:
            return "text"
        number = "a whole number" if self.type is int else "a finite number"
        return f"{number} {'>' if self.above else '>='} {self.low:g} and <= {self.high:g}"

    def check(self, kind: str, name: str, value: Any) -> Any:
        """The value as the fault keeps it (an int given for a float becomes a float), or a
        `FaultError` saying what is accepted."""
        shown = _shown(value)
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            try:
                value = float(value)
            except OverflowError:
                refusal = f"fault {kind}: {name} must be {self.accepted()}, not {shown}"
                raise FaultError(refusal) from None
        if not isinstance(value, self.type) or isinstance(value, bool):
            raise FaultError(f"fault {kind}: {name} must be {self.type.__name__}, not {shown}")
        if not self.accepts(value):
            raise FaultError(f"fault {kind}: {name} must be {self.accepted()}, not {shown}")
        return value

    def parse(self, raw: str) -> Any:
        """A value written as text (in the `X-Mock-Fault` header), typed but not checked;
        `ValueError` if a number does not parse."""
        return raw if self.type is str else self.type(raw)


def _shown(value: Any, limit: int = 40) -> str:
    """A refused value as a message repeats it: its repr, cut (a client may send megabytes)."""
    text = (
        repr(value) if not isinstance(value, int) or value.bit_length() < 128 else "a huge number"
    )
    return text if len(text) <= limit else text[:limit] + "…"
