"""Reference tables generated from the code at build time, so the docs cannot drift from it.

Each directive below reads a table the code itself runs on (the `MockConfig` fields, the
CLI parser, the served OpenAPI document, the admin route table, `FAULT_KINDS`, `PROFILES`,
the magic inputs, the plugin's `OPTIONS`, the module imports) and renders it as Markdown,
which MyST parses into the page (the pages also hold a committed copy of each output, for
readers of the repository: see `generated.py`). Where the code has no machine-readable
description (the admin handlers' request bodies), the description lives here, in
`ADMIN_DOCS`, and the build warns (so the strict build fails) as soon as the route table
and that dictionary disagree.

Directives:

``mock-config``            every `MockConfig` field: TOML key, CLI flag, type, default, help
``mock-cli-help``          `vidu-lipsync-mock <args>` output, captured by running it
``mock-api-routes``        the public routes of `build_openapi(Registry.bundled())`
``mock-api-schemas``       the response schemas of that document
``mock-admin-routes``      `AdminApi(...).routes()` with the state method each one calls
``mock-fault-kinds``       `FAULT_KINDS`: group, doc line, parameters with range and default
``mock-fault-messages``    the default message of an `error` fault, by status
``mock-profiles``          `PROFILES`, each rule as JSON
``mock-magic``             `MAGIC_SCENARIOS` and `MAGIC_KEYS`
``mock-error-messages``    every error constructor's message (`service.errors`)
``mock-presets``           the lifecycle presets
``mock-pytest-options``    the plugin's `OPTIONS`: flag, ini key, type, help
``mock-module-map``        every module, its layer, docstring summary and internal imports,
                           with the rules of `tools/architecture.py` checked
``mock-architecture-exceptions``  what those rules tolerate, and why
``mock-module-api``        a module's `__all__`: signatures, docstrings, `#:` comments
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

LOG = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]

# -- Markdown helpers -----------------------------------------------------------------------


def code(value: object, *, in_table: bool = True) -> str:
    """Inline code that survives any backticks (and, in a table cell, pipes) in the value."""
    text = str(value).replace("|", "\\|") if in_table else str(value)
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def cell(text: object) -> str:
    return str(text).replace("\n", " ").replace("|", "\\|")


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def first_line(doc: str | None) -> str:
    if not doc:
        return ""
    return inspect.cleandoc(doc).split("\n\n", 1)[0].replace("\n", " ")


def rst_to_md(text: str) -> str:
    """Docstrings here use RST's double backticks; MyST wants single ones."""
    return text.replace("``", "`")


class MarkdownDirective(SphinxDirective):
    """A directive whose output is Markdown text generated from the code."""

    has_content = False
    optional_arguments = 1
    final_argument_whitespace = True

    def markdown(self) -> str:
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        for source in [Path(__file__), *self.sources()]:
            self.env.note_dependency(str(source))
        return self.parse_text_to_nodes(self.markdown())

    def sources(self) -> list[Path]:
        return [REPO / "mockserver" / "config.py"]

    def warn(self, message: str) -> None:
        LOG.warning(message, location=(self.env.docname, self.lineno))


# -- configuration and CLI ------------------------------------------------------------------


def _cli_flags() -> dict[str, list[str]]:
    """dest -> option strings, read off the real `serve` parser."""
    import argparse

    from vidu_lipsync_mock.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    serve = sub.choices["serve"]
    flags: dict[str, list[str]] = {}
    for action in serve._actions:
        if action.dest and action.option_strings:
            flags.setdefault(action.dest, []).extend(action.option_strings)
    return flags


def _type_name(annotation: object) -> str:
    text = str(annotation)
    return {
        "tuple[dict[str, Any], ...]": "list of tables",
        "tuple[str, ...] | None": "list of strings",
    }.get(text, text)


class ConfigTable(MarkdownDirective):
    def markdown(self) -> str:
        from vidu_lipsync_mock.config import MockConfig
        from vidu_lipsync_mock.env_config import variable_for

        flags = _cli_flags()
        rows = []
        for f in dataclasses.fields(MockConfig):
            options = flags.get(f.name, [])
            if f.name == "api_keys":
                flag = code("--api-key KEY") + " (repeat)"
            elif options:
                flag = ", ".join(code(o) for o in options if o.replace("-", "_")[2:] == f.name)
            else:
                flag = "TOML only"
            choices = f.metadata.get("choices") or ()
            default = "unset" if f.default is None else code(json.dumps(f.default))
            if f.default_factory is not dataclasses.MISSING:  # pragma: no cover - none today
                default = code(json.dumps(f.default_factory()))
            help_text = cell(f.metadata["help"])
            if choices:
                help_text += " One of " + ", ".join(code(c) for c in choices) + "."
            variable = code(variable_for(f.name))
            rows.append(
                [code(f.name), flag, variable, cell(_type_name(f.type)), default, help_text]
            )
        extra = [
            [
                "",
                code("--config FILE"),
                "",
                "path",
                "unset",
                "TOML file of these settings; variables and flags win over it.",
            ],
            [
                code("preset"),
                code("--realistic"),
                "",
                "",
                "",
                "Shorthand for " + code("--preset realistic") + ".",
            ],
        ]
        return table(
            [
                "TOML key / `MockConfig` field",
                "`serve` flag",
                "environment variable",
                "type",
                "default",
                "meaning",
            ],
            [*rows, *extra],
        )


class CliHelp(MarkdownDirective):
    """Run the real console entry point with the given arguments and show its output."""

    required_arguments = 0
    optional_arguments = 10
    has_content = False

    def sources(self) -> list[Path]:
        return [REPO / "mockserver" / "cli.py", REPO / "mockserver" / "config.py"]

    def markdown(self) -> str:
        argv = list(self.arguments)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("VIDU_LIPSYNC_MOCK_")},
            "COLUMNS": "100",
            "NO_COLOR": "1",
            "PYTHON_COLORS": "0",
        }
        result = subprocess.run(
            [sys.executable, "-m", "vidu_lipsync_mock", *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            self.warn(
                f"vidu-lipsync-mock {' '.join(argv)} exited {result.returncode}: {result.stderr}"
            )
        text = f"$ vidu-lipsync-mock {' '.join(argv)}\n{result.stdout.rstrip()}"
        fence = "```"
        while fence in text:
            fence += "`"
        return f"{fence}text\n{text}\n{fence}\n"


class Presets(MarkdownDirective):
    def markdown(self) -> str:
        from vidu_lipsync_mock.config import PRESETS

        rows = [
            [
                code(name),
                f"{values['pending_seconds']:g} s",
                f"{values['processing_seconds']:g} s",
                f"{values['pending_seconds'] + values['processing_seconds']:g} s",
            ]
            for name, values in PRESETS.items()
        ]
        return table(["preset", "pending", "processing", "total"], rows)


# -- the HTTP API ---------------------------------------------------------------------------


def _openapi() -> dict[str, Any]:
    from vidu_lipsync_mock.http.openapi import build_openapi
    from vidu_lipsync_mock.service.registry import Registry

    return build_openapi(Registry.bundled())


def _schema_text(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return code(schema["$ref"].rsplit("/", 1)[-1])
    kind = schema.get("type", "any")
    extras = []
    for key in ("minLength", "maxLength", "format", "pattern", "enum", "const", "minimum"):
        if key in schema:
            extras.append(f"{key} {code(json.dumps(schema[key]))}")
    return cell(kind) + (f" ({', '.join(extras)})" if extras else "")


def _operation_markdown(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    out = [f"### {code(method.upper() + ' ' + path)}\n"]
    out.append(cell(operation.get("summary", "")) + "\n")
    facts = [f"operationId {code(operation['operationId'])}"]
    if operation.get("security"):
        facts.append("needs " + code("Authorization: Bearer mdlx-…"))
    else:
        facts.append("no authentication")
    out.append("; ".join(facts) + ".\n")
    params = operation.get("parameters", [])
    if params:
        rows = [
            [
                code(p["name"]),
                p["in"],
                "yes" if p.get("required") else "no",
                _schema_text(p.get("schema", {})),
                cell(p.get("description", "")),
            ]
            for p in params
        ]
        out.append(table(["parameter", "in", "required", "schema", "notes"], rows))
    body = operation.get("requestBody")
    if body:
        media, entry = next(iter(body["content"].items()))
        schema = entry["schema"]
        kind = "JSON" if media == "application/json" else "Form"
        required = set(schema.get("required", []))
        rows = [
            [
                code(name),
                "yes" if name in required else "no",
                _schema_text(prop),
                cell(first_line(prop.get("description"))),
            ]
            for name, prop in schema.get("properties", {}).items()
        ]
        need = "required" if body.get("required") else "optional"
        if rows:
            out.append(f"{kind} body ({need}):\n")
            out.append(table(["field", "required", "schema", "description"], rows))
        else:
            text = cell(schema.get("description", schema.get("type", "")))
            out.append(f"{kind} body ({need}): {text}\n")
    rows = []
    for status, response in operation["responses"].items():
        content = response.get("content", {})
        kinds = ", ".join(_schema_text(c["schema"]) + f" ({media})" for media, c in content.items())
        rows.append([code(status), cell(response.get("description", "")), kinds])
    out.append(table(["status", "meaning", "body"], rows))
    return out


def _is_admin(path: str) -> bool:
    from vidu_lipsync_mock.http.admin_routes import ADMIN_PREFIX

    return path.startswith(ADMIN_PREFIX + "/")


class ApiRoutes(MarkdownDirective):
    def sources(self) -> list[Path]:
        http = REPO / "mockserver" / "http"
        return [http / "openapi.py", http / "public_routes.py"]

    def markdown(self) -> str:
        document = _openapi()
        out = [
            f"Generated from {code('build_openapi(Registry.bundled())')}, the document the "
            f"server serves at {code('GET /openapi.json')} (OpenAPI {document['openapi']}).\n"
        ]
        for path, item in document["paths"].items():
            if _is_admin(path):
                continue
            for method, operation in item.items():
                out.extend(_operation_markdown(path, method, operation))
        return "\n".join(out)


class ApiSchemas(MarkdownDirective):
    def sources(self) -> list[Path]:
        return [REPO / "mockserver" / "http" / "openapi.py"]

    def markdown(self) -> str:
        schemas = _openapi()["components"]["schemas"]
        out = []
        for name, schema in schemas.items():
            out.append(f"### {code(name)}\n")
            if "properties" in schema:
                required = set(schema.get("required", []))
                rows = [
                    [
                        code(field),
                        "yes" if field in required else "no",
                        _schema_text(prop),
                        cell(prop.get("description", "")),
                    ]
                    for field, prop in schema["properties"].items()
                ]
                out.append(table(["field", "required", "schema", "notes"], rows))
        return "\n".join(out)


#: What `data` holds in each admin answer. The OpenAPI document types it only as "any
#: JSON", so it is written here; `AdminRoutes` warns when a handler is added or removed
#: without this table following.
ADMIN_ANSWERS: dict[str, str] = {
    "health": '`{status: "ok", tasks: <records kept>, uploads, accounts, results}` (results: '
    "the budget built results use, null before the first build)",
    "config": "every `MockConfig` field",
    "reset": "`{reset: true}`",
    "clock": "`{kind, now, offset, now_ms}` (and `speed` for a scaled clock)",
    "set_time": "the clock, as `GET /_mock/clock`",
    "advance": "the clock",
    "run_until_terminal": "the clock; 409 if a task moves by polls or only when pushed",
    "fault_rules": "the rules in order, with `seen` and `hits` counters",
    "add_fault": "the rule as stored (nested form, with its `id`)",
    "clear_faults": "`[]`",
    "fault_trace": "every fault that fired, in order",
    "remove_fault": "the remaining rules; 404 for an unknown id",
    "use_profile": "the profile's rules",
    "journal": "`{entries: [...], dropped: <count>}`",
    "clear_journal": "`{entries: [], dropped: 0}`",
    "journal_jsonl": "one journal entry per line (`application/x-ndjson`)",
    "tasks": "task records",
    "task": "one task record; 404 if unknown or expired",
    "force": "the task record; 409 if the lifecycle does not allow the move",
    "set_progression": "the task record",
    "crashes": "`[{method, path, traceback}]`",
    "accounts": "`[{team, name, keys: [{fingerprint, redacted}], balance, held, spent, holds}]`",
    "account": "one team, as in `GET /_mock/accounts`; 404 for a ref that is neither",
    "set_balance": "the team, as in `GET /_mock/accounts`",
    # The inspector's routes (`http/inspector_routes.py`; see inspector.md).
    "ui": "the inspector's page (HTML)",
    "ui_asset": "one of the page's files (`app.js`, `style.css`)",
    "journal_har": "the journal as HAR 1.2 (`journal.har`)",
    "journal_rows": "`{rows, last_seq, count, dropped}`: exchanges without headers or bodies",
    "journal_entry": "one journal entry, with its `attempt`; 404 if gone",
    "metrics": "Prometheus' text format",
    "fault_kinds": "`{groups, kinds: [{name, group, doc, params}], routes, schedules, phases}`",
    "delete_task": "`{task_id, deleted: true}`; 404 if unknown",
    "timelines": "every task with its `timeline` of status changes and `result_path`",
}

#: The Python each admin handler amounts to, where it is not `mock.<handler>(...)`.
ADMIN_PYTHON: dict[str, str] = {
    "health": "`len(mock.store)`",
    "config": "`mock.config`",
    "clock": "`mock.clock.describe()`",
    "journal": "`mock.journal.entries(...)`",
    "clear_journal": "`mock.journal.clear()`",
    "journal_jsonl": "`mock.journal.to_jsonl(...)`",
    "crashes": "`mock.crashes`",
    "accounts": "`mock.accounts.balances()`",
}


class AdminRoutes(MarkdownDirective):
    def sources(self) -> list[Path]:
        return [
            REPO / "mockserver" / "http" / "admin_routes.py",
            REPO / "mockserver" / "http" / "openapi.py",
            REPO / "mockserver" / "state.py",
        ]

    def markdown(self) -> str:
        from vidu_lipsync_mock.http.admin_routes import AdminApi
        from vidu_lipsync_mock.state import MockState

        routes = AdminApi(MockState()).routes()
        handlers = {r.name.removeprefix("admin_") for r in routes}
        missing = sorted(handlers - set(ADMIN_ANSWERS))
        stale = sorted(set(ADMIN_ANSWERS) - handlers)
        if missing:
            self.warn(f"admin handlers with no answer described in mockref.py: {missing}")
        if stale:
            self.warn(f"mockref.py describes admin handlers that are gone: {stale}")
        document = _openapi()
        served = {(r.path, m.lower()) for r in routes for m in (r.methods or ()) if m != "HEAD"}
        described = {
            (path, method)
            for path, item in document["paths"].items()
            if _is_admin(path)
            for method in item
        }
        out: list[str] = []
        if served - described:
            out.append(
                "These admin routes are served but not (yet) in `/openapi.json`; they are "
                "listed from `AdminApi(state).routes()`: "
                + ", ".join(code(f"{m.upper()} {p}") for p, m in sorted(served - described))
                + ".\n"
            )
        if described - served:
            self.warn(f"/openapi.json describes admin routes nobody serves: {described - served}")
        summaries = {
            (path, verb): operation.get("summary", "")
            for path, item in document["paths"].items()
            for verb, operation in item.items()
        }
        rows = []
        for route in routes:
            name = route.name.removeprefix("admin_")
            method = getattr(MockState, name, None)
            python = ADMIN_PYTHON.get(name) or (f"`mock.{name}(...)`" if method else "")
            for verb in sorted(route.methods or ()):
                if verb == "HEAD":
                    continue
                what = summaries.get((route.path, verb.lower())) or first_line(
                    getattr(method, "__doc__", None)
                )
                rows.append(
                    [code(f"{verb} {route.path}"), cell(what), python, ADMIN_ANSWERS.get(name, "")]
                )
        out.append(table(["route", "what it does", "Python", "`data` in the answer"], rows))
        out.append("\n## Each admin operation, as `/openapi.json` describes it\n")
        for path, item in document["paths"].items():
            if not _is_admin(path):
                continue
            for verb, operation in item.items():
                out.extend(_operation_markdown(path, verb, operation))
        return "\n".join(out)


# -- faults -------------------------------------------------------------------------------


def _param_cell(name: str, param: Any) -> str:
    """One parameter of a fault kind: its accepted values, default and meaning."""
    if param.choices:
        accepted = " or ".join(code(choice) for choice in param.choices)
    elif param.type is str:
        accepted = "text"
    else:
        low = f"> {param.low:g}" if param.above else f"{param.low:g}"
        accepted = f"{param.type.__name__} {low} to {param.high:g}"
    default = "" if param.default is None else f", default {code(param.default)}"
    return f"{code(name)} ({accepted}{default}): {cell(param.doc)}"


class FaultKinds(MarkdownDirective):
    """`FAULT_KINDS`: every declaration, with its parameters' ranges and defaults."""

    def sources(self) -> list[Path]:
        return [REPO / "mockserver" / "faults" / name for name in ("kinds.py", "params.py")]

    def markdown(self) -> str:
        from vidu_lipsync_mock.faults import FAULT_KINDS

        rows = []
        for kind in FAULT_KINDS.values():
            params = [_param_cell(name, param) for name, param in kind.params.items()]
            if kind.forms:
                forms = " · ".join(", ".join(code(name) for name in form) for form in kind.forms)
                params.append(f"combine as {forms}")
            rows.append([code(kind.name), kind.group, cell(kind.doc), "; ".join(params) or "—"])
        return table(["fault", "group", "what it does", "parameters"], rows)


class FaultMessages(MarkdownDirective):
    def sources(self) -> list[Path]:
        return [REPO / "mockserver" / "faults" / "effects.py"]

    def markdown(self) -> str:
        from vidu_lipsync_mock.faults import DEFAULT_MESSAGES

        rows = [[code(status), code(message)] for status, message in DEFAULT_MESSAGES.items()]
        return table(["status", "default message"], rows)


class Profiles(MarkdownDirective):
    def sources(self) -> list[Path]:
        return [REPO / "mockserver" / "faults" / "profiles.py"]

    def markdown(self) -> str:
        from vidu_lipsync_mock.faults.profiles import PROFILES

        out = []
        for name, rules in PROFILES.items():
            out.append(f"`{name}`\n")
            out.append("```json")
            out.extend(json.dumps(dict(rule)) for rule in rules)
            out.append("```\n")
        return "\n".join(out)


class Magic(MarkdownDirective):
    def sources(self) -> list[Path]:
        return [REPO / "mockserver" / "service" / "magic.py"]

    def markdown(self) -> str:
        from vidu_lipsync_mock.service.keys import make_api_key
        from vidu_lipsync_mock.service.magic import MAGIC_KEYS, MAGIC_SCENARIOS

        rows = [
            [code(f"?mock={name}"), code(fault.kind), code(json.dumps(dict(fault.options)))]
            for name, fault in MAGIC_SCENARIOS.items()
        ]
        out = [table(["in `video_url`", "fault", "options"], rows)]
        rows = [[code(make_api_key(prefix)), cell(effect)] for prefix, effect in MAGIC_KEYS.items()]
        out.append(table(["API key", "effect"], rows))
        return "\n".join(out)


class ErrorMessages(MarkdownDirective):
    """Call every error constructor with placeholder arguments and show what it says."""

    def sources(self) -> list[Path]:
        service = REPO / "mockserver" / "service"
        return [service / "errors.py", service / "quotas.py"]

    def markdown(self) -> str:
        from vidu_lipsync_mock.service import errors
        from vidu_lipsync_mock.service.quotas import Verdict, concurrency_error, rate_limit_error

        samples: dict[str, Any] = {
            "detail": "<detail>",
            "task_id": "<task_id>",
            "model_id": "<provider>/<model>",
            "method": "<METHOD>",
            "path": "<path>",
            "allowed": ["<METHOD>"],
            "limit": "<limit>",
            "content_type": "<type>",
            "size": "<size>",
        }
        rows = []
        for name in errors.__all__:
            function = getattr(errors, name)
            if not inspect.isfunction(function):
                continue
            params = inspect.signature(function).parameters
            kwargs = {p: samples[p] for p in params if p in samples}
            error = function(**kwargs)
            rows.append([code(error.status), code(error.message), code(f"errors.{name}")])
        limited = rate_limit_error(Verdict(100, 0, 0, 60))
        rows.append([code(429), code(limited.message), code("quotas.rate_limit_error")])
        busy = concurrency_error(3, None)
        rows.append([code(429), code(busy.message), code("quotas.concurrency_error")])
        rows.sort(key=lambda r: r[0])
        return table(["status", "message", "raised by"], rows)


# -- the pytest plugin ----------------------------------------------------------------------


class PytestOptions(MarkdownDirective):
    def sources(self) -> list[Path]:
        return [REPO / "pytest_plugin" / "settings.py", REPO / "pytest_plugin" / "plugin.py"]

    def markdown(self) -> str:
        from vidu_lipsync_mock.pytest_plugin.settings import OPTIONS

        rows = []
        for name, spec in OPTIONS.items():
            flag = "--lipsync-" + name.replace("_", "-")
            if spec.kind is not bool:
                flag += " " + name.upper()
            ini_type = (
                "true or false (1/0, yes/no)"
                if spec.kind is bool
                else f"string (read as {spec.kind.__name__})"
            )
            rows.append(
                [code(flag), code(f"lipsync_{name}"), ini_type, code(name), cell(spec.help)]
            )
        return table(["command line", "ini key", "ini type", "marker keyword", "meaning"], rows)


def _attr_docs(module_name: str) -> dict[tuple[str, str], str]:
    """`#:` comments of a module's attributes and dataclass fields, as Sphinx reads them."""
    import importlib
    import pkgutil

    from sphinx.pycode import ModuleAnalyzer

    package = importlib.import_module(module_name)
    names = [module_name] + [  # a package re-exports names its modules document
        f"{module_name}.{info.name}"
        for info in pkgutil.iter_modules(getattr(package, "__path__", []))
    ]
    found: dict[tuple[str, str], str] = {}
    for name in names:
        analyzer = ModuleAnalyzer.for_module(name)
        found.update(
            {key: " ".join(lines).strip() for key, lines in analyzer.find_attr_docs().items()}
        )
    return found


def _submodules(module: Any) -> list[str]:
    """The modules of a package (none for a plain module)."""
    import pkgutil

    return [
        f"{module.__name__}.{m.name}" for m in pkgutil.iter_modules(getattr(module, "__path__", []))
    ]


def _signature(obj: Any) -> str:
    try:
        text = str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "()"
    return text.replace("'", "")


def _shown(obj: object) -> str:
    try:
        return json.dumps(obj)
    except TypeError:
        return repr(obj).replace("typing.", "")


def _doc(obj: Any) -> str:
    return rst_to_md(inspect.getdoc(obj) or "")


def _dataclass_rows(cls: type, docs: dict[tuple[str, str], str]) -> list[list[str]]:
    rows = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.default is not dataclasses.MISSING:
            default: object = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = "required"
        if isinstance(default, (frozenset, set)):
            default = sorted(default)
        rows.append(
            [
                code(f.name),
                code(default) if default != "required" else "required",
                cell(rst_to_md(docs.get((cls.__name__, f.name), ""))),
            ]
        )
    return rows


class ModuleApi(MarkdownDirective):
    """Every public name of a module (`__all__`) with its signature and docstring."""

    required_arguments = 1
    optional_arguments = 0
    option_spec: ClassVar[dict[str, Callable[[str], Any]]] = {"module-docstring": directives.flag}

    def sources(self) -> list[Path]:
        import importlib.util

        spec = importlib.util.find_spec(self.arguments[0])
        if spec is None or not spec.origin:
            return []
        if spec.submodule_search_locations:  # a package: the `#:` notes are in its modules
            return sorted(Path(spec.origin).parent.glob("*.py"))
        return [Path(spec.origin)]

    def markdown(self) -> str:
        import importlib

        module_name = self.arguments[0]
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            self.warn(f"cannot import {module_name}: {error}")
            return ""
        docs: dict[tuple[str, str], str] = {}
        for part in [module_name, *_submodules(module)]:  # a package: its parts' comments too
            docs.update(_attr_docs(part))
        out = []
        if "module-docstring" in self.options:
            out.append(_doc(module) + "\n")
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                out.append(f"{code(name + _signature(obj), in_table=False)}\n")
                out.append(_doc(obj) + "\n")
            elif inspect.isclass(obj):
                bases = f"({obj.__bases__[0].__name__})" if obj.__bases__[0] is not object else ""
                out.append(f"class {code(name + bases, in_table=False)}\n")
                out.append(_doc(obj) + "\n")
                if dataclasses.is_dataclass(obj):
                    out.append(table(["field", "default", "meaning"], _dataclass_rows(obj, docs)))
                methods = [
                    (m, f)
                    for m, f in vars(obj).items()
                    if inspect.isfunction(f) and not m.startswith("_") and f.__doc__
                ]
                if methods:
                    rows = [
                        [code(m + _signature(f)), cell(first_line(rst_to_md(f.__doc__ or "")))]
                        for m, f in methods
                    ]
                    out.append(table(["method", "what it gives"], rows))
            elif isinstance(obj, type(inspect)):
                continue
            else:
                text = docs.get(("", name), "")
                shown = "" if isinstance(obj, dict) else _shown(obj)
                if isinstance(obj, dict) or (hasattr(obj, "items") and not shown):
                    rows = [[code(k), cell(rst_to_md(str(v)))] for k, v in obj.items()]
                    out.append(f"{code(name)}: {cell(rst_to_md(text))}\n")
                    out.append(table(["key", "value"], rows))
                else:
                    value = code(shown, in_table=False)
                    note = f": {rst_to_md(text)}" if text else ""
                    out.append(f"{code(name)} = {value}{note}\n")
        return "\n".join(out)


# -- architecture ---------------------------------------------------------------------------


def _architecture() -> Any:
    """`tools/architecture.py`, the rules the unit tests check too. `tools/` holds scripts,
    not a package: its folder goes on the path, never the repository root."""
    tools = str(REPO / "tools")
    if tools not in sys.path:
        sys.path.insert(0, tools)
    import architecture

    return architecture


def _installed_name(module: str) -> str:
    """A module as the layer rules name it (relative to `vidu_lipsync_mock`), except the
    plugin's, named in full: its folder's name alone reads like the old import name."""
    prefix = "pytest_plugin."
    return f"vidu_lipsync_mock.{module}" if module.startswith(prefix) else module


class ModuleMap(MarkdownDirective):
    def sources(self) -> list[Path]:
        return [
            REPO / "tools" / "architecture.py",
            *sorted((REPO / "mockserver").rglob("*.py")),
            *sorted((REPO / "pytest_plugin").rglob("*.py")),
        ]

    def markdown(self) -> str:
        rules = _architecture()
        facts = rules.module_facts()
        for problem in rules.check_architecture(facts):
            self.warn(f"architecture: {problem}")
        groups: dict[str | None, list[Any]] = {k: [] for k in [*rules.LAYER_ORDER, "pytest_plugin"]}
        for fact in facts.values():
            layer = rules.layer_of(fact.name) if fact.package == "mockserver" else fact.package
            groups.setdefault(layer, []).append(fact)
        out = []
        for title, members in groups.items():
            rows = [
                [
                    code(fact.where),
                    cell(rst_to_md(fact.summary)),
                    ", ".join(sorted(map(_installed_name, fact.internal))) or "—",
                    ", ".join(sorted(set(rules.FRAMEWORKS) & fact.external)) or "—",
                ]
                for fact in members
            ]
            out.append(f"**{title}**\n")
            out.append(
                table(
                    ["module", "what it is (docstring)", "imports (internal)", "frameworks"], rows
                )
            )
        return "\n".join(out)


class KnownExceptions(MarkdownDirective):
    def sources(self) -> list[Path]:
        return [REPO / "tools" / "architecture.py"]

    def markdown(self) -> str:
        rules = _architecture()
        rows = [[code(f"{a} → {b}"), cell(why)] for (a, b), why in rules.KNOWN_EXCEPTIONS.items()]
        rows += [
            [code(f"{name} imports time"), cell(why)] for name, why in rules.TIME_READERS.items()
        ]
        rows += [
            [code(f"{where}: over {rules.MAX_MODULE_LINES} lines"), cell(why)]
            for where, why in rules.OVERSIZED.items()
        ]
        return table(["what", "why it is allowed (for now)"], rows)


#: Every directive by name: the Sphinx build registers them, and `generated.py` runs them
#: to write the committed copies of their output into the pages.
DIRECTIVES: dict[str, type[MarkdownDirective]] = {
    "mock-config": ConfigTable,
    "mock-cli-help": CliHelp,
    "mock-presets": Presets,
    "mock-api-routes": ApiRoutes,
    "mock-api-schemas": ApiSchemas,
    "mock-admin-routes": AdminRoutes,
    "mock-fault-kinds": FaultKinds,
    "mock-fault-messages": FaultMessages,
    "mock-profiles": Profiles,
    "mock-magic": Magic,
    "mock-error-messages": ErrorMessages,
    "mock-pytest-options": PytestOptions,
    "mock-module-api": ModuleApi,
    "mock-module-map": ModuleMap,
    "mock-architecture-exceptions": KnownExceptions,
}


def setup(app: Sphinx) -> dict[str, Any]:
    from generated import use_directives

    for name, directive in DIRECTIVES.items():
        app.add_directive(name, directive)
    # The pages hold committed copies of the directives' output (for readers of the
    # repository, who see no build); the build runs the directives themselves instead.
    app.connect("source-read", use_directives)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
