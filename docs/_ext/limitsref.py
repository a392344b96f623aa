"""The "Limits and security" table: every bound of the mock, generated from the code.

Each row names what is bounded, where its value lives (a `MockConfig` field, whose default,
TOML key and `serve` flag are read from the settings table and the real CLI parser, or a
constant of a module, whose value is imported) and what happens beyond it. Only the words
live here. The build warns (and the strict build fails) when a row's source does not
resolve, or when a `MockConfig` field that is a bound (a `max_…` or `…_bytes` field, a
timeout, the rate limit, retention) has no row, so a new bound cannot be left off the page.

Directive:

``mock-limits``   the table
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from dataclasses import dataclass
from typing import Any

from mockref import MarkdownDirective, _cli_flags, cell, code, table
from sphinx.application import Sphinx

__all__ = ["LIMITS", "Bound", "setup"]


@dataclass(frozen=True)
class Bound:
    """One row: `source` is a `MockConfig` field name, `module:NAME` of a constant (a
    module under `vidu_lipsync_mock`), or None with the value in `fixed`."""

    what: str
    source: str | None
    beyond: str
    fixed: str = ""


LIMITS: tuple[Bound, ...] = (
    # -- a real server's connections (in-process clients have no socket) --
    Bound("time to send the request line and headers", "head_timeout_seconds",
          "408 if part of a request came, then the connection is closed"),
    Bound("time to send a request body, once its headers are in", "body_timeout_seconds",
          "408, then the connection is closed"),
    Bound("idle time between two requests on a keep-alive connection", "keep_alive_seconds",
          "the connection is closed"),
    Bound("request line plus headers, in bytes", "max_header_bytes",
          "431, then the connection is closed; never read past the limit"),
    Bound("open client connections (`0`: no cap)", "max_connections",
          "a request on an extra connection gets 503, then it is closed"),
    Bound("time requests in flight get on SIGTERM or Ctrl-C of `serve`", "shutdown_seconds",
          "they are cut off and the server exits"),
    Bound("server processes", None, "`serve --workers N` is refused for any N but 1",
          fixed="1"),
    # -- what one request may send --
    Bound("request body, in bytes", "max_body_bytes",
          "413 at once; the rest of the body is read and dropped, never stored"),
    Bound("a file uploaded to `POST /api/v1/media/files`, in bytes", "max_upload_bytes", "413"),
    Bound("a submit field the model's schema declares: characters of a string, bytes of "
          "compact JSON of a list or an object", "service.validation:FIELD_LIMIT",
          "400 `Value out of range: parameter '…' must be at most 16384 characters long`"),
    Bound("requests per minute per API key (`0`: off)", "rate_limit",
          "429 with `X-RateLimit-Limit`, `-Remaining`, `-Reset`"),
    Bound("unfinished tasks per API key (`0`: no limit)", "max_concurrent_tasks", "429"),
    Bound("a client's value repeated in an error message, in characters",
          "service.errors:ECHO_LIMIT", "cut, ending in `…`; control characters escaped"),
    Bound("a fault's wait in seconds (`latency`, `slow_body`, `hang`, …), wherever a "
          "rule is made: `X-Mock-Fault`, the admin API, Python, the config file",
          "faults.params:MAX_DELAY_SECONDS",
          "refused (400 over HTTP); every other fault parameter has its range too, listed "
          "in the [fault table](faults.md#fault-kinds)"),
    # -- what the mock keeps --
    Bound("task records kept at once", "max_tasks",
          "the task that ended first goes, else the oldest"),
    Bound("how long a finished task, its result file and an upload are kept, in seconds",
          "retention_seconds", "expired: the task or file answers 404"),
    Bound("a task's fields its schema does not declare, in bytes of compact JSON",
          "service.kept:EXTRAS_LIMIT",
          "the first that does not fit and all after it are summed up in `_mock_omitted`"),
    Bound("teams with an account of their own", "max_teams", "the least recent one goes"),
    Bound("journal entries", "journal_max_entries",
          "the oldest go first, counted in `dropped`"),
    Bound("journal bytes in all (each entry: its bodies, headers, path and query, plus 512)",
          "journal_max_bytes", "the oldest go first, counted in `dropped`; the newest stays"),
    Bound("each body a journal entry keeps (request, response), in bytes",
          "journal.journal:BODY_LIMIT", "cut; the entry lists it in `truncated`"),
    Bound("request headers a journal entry keeps, in bytes", "journal.journal:HEADERS_LIMIT",
          "each value cut to 1 KiB and kept while they fit, `Authorization` first; listed in "
          "`truncated`"),
    Bound("path, and query string, a journal entry keeps, in characters each",
          "journal.journal:LINE_LIMIT", "cut; listed in `truncated`"),
    Bound("faults remembered in the fault trace", "faults.engine:TRACE_LIMIT",
          "the oldest go first"),
    # -- real results (the `media` extra; see the media page) --
    Bound("an input fetched from a `fetch_allow` host, in bytes", "fetch_max_bytes",
          "the fetch stops; the task ends `failed`, saying why"),
    Bound("one fetch from a `fetch_allow` host, redirects included, in seconds",
          "fetch_timeout_seconds", "the fetch stops; the task ends `failed`, saying why"),
    Bound("memory built results hold, in bytes", "result_budget_bytes",
          "a task whose result does not fit ends `failed` with a message naming the setting"),
    Bound("how long the poll due to answer `success` waits for a result still being built, "
          "in seconds", "result_wait_seconds",
          "the task answers `processing` until its result is ready"),
)  # fmt: skip

#: `MockConfig` fields named like bounds that are not bounds.
NOT_BOUNDS = frozenset({"pending_seconds", "processing_seconds"})


def _is_bound(name: str) -> bool:
    return name not in NOT_BOUNDS and (
        name.startswith("max_")
        or "_max_" in name
        or name.endswith(("_seconds", "_bytes"))
        or name in ("rate_limit", "max_concurrent_tasks")
    )


def _constant(source: str) -> Any:
    module, _, name = source.partition(":")
    return getattr(importlib.import_module(f"vidu_lipsync_mock.{module}"), name)


class LimitsTable(MarkdownDirective):
    def markdown(self) -> str:
        from vidu_lipsync_mock.config import MockConfig

        fields = {f.name: f for f in dataclasses.fields(MockConfig)}
        flags = _cli_flags()
        rows = []
        for bound in LIMITS:
            if bound.source is None:
                rows.append([cell(bound.what), "fixed", "", code(bound.fixed), cell(bound.beyond)])
            elif ":" in bound.source:
                try:
                    value = _constant(bound.source)
                except (ImportError, AttributeError) as error:
                    self.warn(f"mock-limits: {bound.source} does not resolve: {error}")
                    continue
                module, _, name = bound.source.partition(":")
                where = f"fixed: {code(name)} in {code(module)}"
                rows.append([cell(bound.what), where, "", code(f"{value:,}"), cell(bound.beyond)])
            elif bound.source in fields:
                f = fields[bound.source]
                options = [o for o in flags.get(f.name, []) if o[2:].replace("-", "_") == f.name]
                flag = ", ".join(code(o) for o in options) or "TOML only"
                rows.append(
                    [cell(bound.what), code(f.name), flag, code(json.dumps(f.default)),
                     cell(bound.beyond)]
                )  # fmt: skip
            else:
                self.warn(f"mock-limits: {bound.source} is not a MockConfig field")
        listed = {bound.source for bound in LIMITS}
        for name in fields:
            if _is_bound(name) and name not in listed:
                self.warn(f"mock-limits: MockConfig.{name} looks like a bound but has no row")
        return table(["bound", "setting", "`serve` flag", "default", "beyond it"], rows)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("mock-limits", LimitsTable)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
