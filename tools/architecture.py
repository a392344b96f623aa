"""The architecture's rules, checked against the code: which layer each module is in, which
way its imports point, which frameworks it may use, who may read the time, how long a
module may grow.

The rules live here, in one place, because two readers enforce them: the docs build
(`docs/_ext/mockref.py` renders the module map and fails on a broken rule) and the unit
test `tests/unit/test_layers.py`. Both load this file by its path: `tools/` is not a
package, and putting the repository root on `sys.path` would make the source folders
importable under their folder names. Run it directly to list the problems:

    python tools/architecture.py
"""

from __future__ import annotations

import ast
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: The source folders and the names they are installed under.
PACKAGES: dict[str, str] = {
    "mockserver": "vidu_lipsync_mock",
    "pytest_plugin": "vidu_lipsync_mock.pytest_plugin",
}

#: The layers, in the direction of dependencies: a module may import from its own layer
#: and the layers before it in this list, never from a later one. A layer is a sub-package
#: of `mockserver/` (its folder name), or one of the top-level modules named below.
LAYER_ORDER = ["faults", "service", "journal", "media", "persist", "state", "http", "runner"]
TOP_LEVEL_LAYERS: dict[str, str] = {
    "config": "state",
    "env_config": "state",
    "state": "state",
    "state_verbs": "state",
    "timetravel": "runner",
    "server": "runner",
    "mock": "runner",
    "cli": "runner",
    "tls": "runner",
    "__main__": "runner",
    "__init__": "runner",
    "proxy": "runner",
}

#: Layers that are plain Python: testable without a socket, an event loop or pytest.
PURE_LAYERS = ("faults", "service", "journal", "media", "persist", "state")

#: HTTP frameworks and clients: only the `http` layer and the runner may import them.
FRAMEWORKS = ("starlette", "uvicorn", "httpx")

#: Imports against the direction, each with the reason it is tolerated.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}

#: Modules (named under `vidu_lipsync_mock`) that may import `time`, and why; every other
#: module takes time from a `Clock`.
TIME_READERS: dict[str, str] = {
    "service.clock": "the clocks themselves",
    "timetravel": "patches `time.*` while fast-forward is active",
    "http.public_app": "the journal's `wall_time` and `duration_ms` (host time, by design)",
    "http.fault_actions": "`duration_ms` of a faulted request's journal entry (host time)",
    "server": "waits for uvicorn to start",
    "http.access_log": "the request log's time stamp and duration (host time, by design)",
    "proxy.record": "a recorded exchange's time stamp and duration (host time, by design)",
    "proxy.probe": "waits between polls of the real service, which runs in real time",
}

#: The longest a module of either source folder may be, in lines.
MAX_MODULE_LINES = 450

#: Modules over that limit today. The list may only shrink: a module that is split drops
#: out of it, and the check reports an entry whose module is back under the limit or gone.
OVERSIZED: dict[str, str] = {}


@dataclass(frozen=True)
class ModuleFacts:
    """What the rules need to know about one source file."""

    path: Path
    #: The path under the repository, `mockserver/service/clock.py`.
    where: str
    #: The source folder: `mockserver` or `pytest_plugin`.
    package: str
    #: Dotted name under `vidu_lipsync_mock` (`service.clock`, `pytest_plugin.audit`,
    #: `http.__init__` for a sub-package's own module).
    name: str
    #: Modules of the package it imports, named as `name` is.
    internal: frozenset[str]
    #: Top-level names of everything else it imports (the standard library included).
    external: frozenset[str]
    #: The first paragraph of its docstring.
    summary: str
    lines: int


def _first_paragraph(doc: str | None) -> str:
    if not doc:
        return ""
    return inspect.cleandoc(doc).split("\n\n", 1)[0].replace("\n", " ")


def _resolve_relative(name: str, level: int, module: str | None) -> str:
    """`from ..x import y` inside `name`, as a dotted name under `vidu_lipsync_mock`."""
    base = name.split(".")[:-level]
    return ".".join([*base, *([module] if module else [])])


def _imports(name: str, tree: ast.Module) -> tuple[frozenset[str], frozenset[str]]:
    internal: set[str] = set()
    external: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = _resolve_relative(name, node.level, node.module)
                internal.update(f"{base}.{a.name}" if not node.module else base for a in node.names)
                continue
            top, _, rest = (node.module or "").partition(".")
            if top != "vidu_lipsync_mock":
                external.add(top)
            else:  # the package's own names come from its __init__, the runner's module
                internal.add(rest or "__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                top, _, rest = alias.name.partition(".")
                if top != "vidu_lipsync_mock":
                    external.add(top)
                elif rest:
                    internal.add(rest)
    return frozenset(internal), frozenset(external)


def module_facts(repo: Path = REPO) -> dict[str, ModuleFacts]:
    """Every module of both source folders, keyed by its path under the repository."""
    facts: dict[str, ModuleFacts] = {}
    for package in PACKAGES:
        prefix = [] if package == "mockserver" else [package]
        for path in sorted((repo / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            tree = ast.parse(text)
            name = ".".join([*prefix, *path.relative_to(repo / package).with_suffix("").parts])
            internal, external = _imports(name, tree)
            where = path.relative_to(repo).as_posix()
            facts[where] = ModuleFacts(
                path=path,
                where=where,
                package=package,
                name=name,
                internal=internal,
                external=external,
                summary=_first_paragraph(ast.get_docstring(tree)),
                lines=len(text.splitlines()),
            )
    return facts


def layer_of(module: str) -> str | None:
    """The layer of a module named as under `vidu_lipsync_mock` (`service.clock`, `state`);
    None for the pytest plugin, which sits on top of every layer."""
    head = module.split(".")[0]
    if head in LAYER_ORDER:
        return head
    return TOP_LEVEL_LAYERS.get(head)


def _module_problems(fact: ModuleFacts) -> list[str]:
    problems = []
    where = fact.where
    if fact.external & set(PACKAGES):
        problems.append(
            f"{where} imports {sorted(fact.external & set(PACKAGES))} by folder name: "
            "import the installed name, vidu_lipsync_mock"
        )
    if fact.lines > MAX_MODULE_LINES and where not in OVERSIZED:
        problems.append(f"{where} has {fact.lines} lines, over {MAX_MODULE_LINES}: split it")
    if fact.package != "mockserver":
        return problems
    name = fact.name.removesuffix(".__init__")
    layer = layer_of(name)
    if layer is None:
        return [*problems, f"{where} is in no layer of tools/architecture.py LAYER_ORDER"]
    if "pytest" in fact.external or any(i.startswith("pytest_plugin") for i in fact.internal):
        problems.append(f"{where} imports pytest: mockserver/ must never")
    used = sorted(set(FRAMEWORKS) & fact.external)
    if layer in PURE_LAYERS and used:
        problems.append(f"{where} ({layer}) imports {used}: that layer is plain Python")
    if "time" in fact.external and name not in TIME_READERS:
        problems.append(f"{where} imports time: only {sorted(TIME_READERS)} may")
    for target in sorted(fact.internal):
        target_layer = layer_of(target)
        if target_layer is None or (name, target) in KNOWN_EXCEPTIONS:
            continue
        if LAYER_ORDER.index(target_layer) > LAYER_ORDER.index(layer):
            problems.append(
                f"{where} ({layer}) imports {target} ({target_layer}), against the "
                "direction of dependencies"
            )
    return problems


def check_architecture(facts: dict[str, ModuleFacts]) -> list[str]:
    """Every rule the architecture page states, checked against the modules."""
    problems = [problem for fact in facts.values() for problem in _module_problems(fact)]
    for name, target in KNOWN_EXCEPTIONS:
        fact = next((f for f in facts.values() if f.name == name), None)
        if fact is None or target not in fact.internal:
            problems.append(f"known exception {name} -> {target} no longer exists: drop it")
    for where in OVERSIZED:
        if where not in facts:
            problems.append(f"{where} is in OVERSIZED but no longer exists: drop it")
        elif facts[where].lines <= MAX_MODULE_LINES:
            problems.append(
                f"{where} is down to {facts[where].lines} lines: drop it from OVERSIZED"
            )
    return problems


def main() -> int:
    problems = check_architecture(module_facts())
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
