"""Hypothesis strategies for testing Modellix lip-sync clients (and the mock itself).

Bodies are derived from the provider's bundled api_schema at call time, not written out
here, so a schema change (a new optional field, a tighter `maxLength`) changes what is
generated without touching this package, and a second model dropped into
`mockserver/service/specs/` is reachable with `model_id=`. Fault rules are drawn from the
fault kinds' declarations (`vidu_lipsync_mock.faults.FAULT_KINDS`) for the same reason.

Conventions follow Hypothesis: every public name is a function returning a strategy, named
by a plural noun, with keyword-only options. Options that shape a *part* of the value
(`urls`, `statuses`, `delays`, `schedules`, `rules`) take strategies; options that pick
*which* names may appear (`routes`, `kinds`, `defects`) take collections of names, as
`st.characters(categories=...)` does. Arguments are checked when the function is called,
so a typo fails at the call site rather than inside a test run.

Hypothesis comes with the `strategies` extra (`pip install 'vidu-lipsync-mock[strategies]'`);
importing this package without it says so.
"""

# ruff: noqa: E402 - the submodules import Hypothesis: they come after the check naming the extra
from ..extras import require

require("strategies", "hypothesis", needed_by="vidu_lipsync_mock.pytest_plugin.strategies")

from .bodies import http_urls, submit_bodies
from .invalid import (
    DEFECTS,
    InvalidBody,
    invalid_submit_bodies,
)
from .keys import api_keys, task_ids
from .rules import fault_rules, fault_schedules

__all__ = [
    "DEFECTS",
    "InvalidBody",
    "api_keys",
    "fault_rules",
    "fault_schedules",
    "http_urls",
    "invalid_submit_bodies",
    "submit_bodies",
    "task_ids",
]
