"""API keys and task ids shaped like the provider's."""

from __future__ import annotations

import string

from hypothesis import strategies as st

from .arguments import check_size

__all__ = ["api_keys", "task_ids"]

_ALNUM = string.ascii_letters + string.digits
_LOWER_ALNUM = string.ascii_lowercase + string.digits


def api_keys(*, min_size: int = 48, max_size: int = 48) -> st.SearchStrategy[str]:
    """Well-formed keys (`mdlx-` and letters/digits) that the mock accepts as ordinary.

    Keys starting `mdlx-mock` are left out: the mock reads some of them as magic keys that
    always answer 401 or 402 or have a tight rate limit.
    """
    check_size(min_size, max_size, 32, 64, "api_keys")
    return (
        st.text(_ALNUM, min_size=min_size, max_size=max_size)
        .filter(lambda body: not body.startswith("mock"))
        .map(lambda body: "mdlx-" + body)
    )


def task_ids() -> st.SearchStrategy[str]:
    """Ids shaped like the ones the service hands out (`task-` and 24 of [a-z0-9])."""
    return st.text(_LOWER_ALNUM, min_size=24, max_size=24).map(lambda body: "task-" + body)
