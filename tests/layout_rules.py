"""The house rules of awareness/ (issue 18), read from the code's own imports with ``ast``.

The package is a house by stage: core at the bottom, then config, then store; the three stages
(gather, match, deliver) side by side above them, meeting only in the run (pipeline.py and its
neighbours); the service above the run; the shells (web, cli, demo) on top.  ``violations()``
reads every module's imports and names each one that breaks a rule, with file and line, so
tests/test_layout.py can hold the layout in place and show that it would catch a break.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "awareness"
MAX_LINES = 400

# floor -> the floors it may import (its own always included); a module's floor is the first
# part of its path under awareness/ (the run's modules sit at the top level of the package).
FLOORS = ("core", "config", "store", "gather", "match", "deliver", "run", "service", "web", "cli", "demo")
MAY_IMPORT: dict[str, set[str]] = {
    "core": set(),
    "config": {"core"},
    "store": {"core", "config"},
    "gather": {"core", "config", "store"},
    "match": {"core", "config", "store"},
    "deliver": {"core", "config", "store"},
    "run": {"core", "config", "store", "gather", "match", "deliver"},
    "service": {"core", "config", "store", "gather", "match", "deliver", "run"},
    "web": {"core", "config", "store", "gather", "match", "deliver", "run", "service"},
    "cli": {"core", "config", "store", "gather", "match", "deliver", "run", "service", "web", "demo"},
    "demo": {"core", "config", "store", "gather", "match", "deliver", "run", "service", "web"},
}
RUN = {"pipeline", "context", "preview", "judgements"}   # the run, top to bottom, and its dry run
ROOT_MODULES = {"", "__main__"}                        # awareness/__init__ (the version), __main__
SPIDERS_MAY_IMPORT = {"core", "gather", "store"}
# The shells call pipeline and service functions: the CLI opens no Store, and no shell (nor the
# service) queries a table itself: from the tables' module they take the clock and row shapes only.
CLI_NOT = ("awareness.store.store", "awareness.store.schema")
TABLES = "awareness.store.schema"
NOT_TABLES = {"utcnow", "UTC", "SourceState", "AddResult"}
NO_QUERIES = {"cli", "web", "service", "demo"}


@dataclass(frozen=True)
class Import:
    path: Path          # the importing file
    line: int
    target: str         # dotted module imported (for "from X import name", X.name when that is a module)
    in_function: bool
    names: tuple[str, ...] = ()   # what "from target import ..." takes


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def floor_of(module: str) -> str | None:
    """The floor of a dotted awareness module, or None for the package's root modules."""
    rest = module.split(".")[1:]
    if not rest or rest[0] in ROOT_MODULES:
        return None
    if rest[0] in RUN:
        return "run"
    if rest[0] not in MAY_IMPORT:
        raise ValueError(f"{module}: awareness/{rest[0]} is on no floor; add it to tests/layout_rules.py FLOORS")
    return rest[0]


def imports_of(path: Path, root: Path, modules: set[str]) -> list[Import]:
    """Every import of an awareness module in one file, relative ones resolved."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    inside: set[int] = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inside |= {id(n) for n in ast.walk(fn) if n is not fn}
    found: list[Import] = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod for a in node.names]
        for target in dict.fromkeys(targets):
            if target == PACKAGE or target.startswith(PACKAGE + "."):
                names = tuple(a.name for a in getattr(node, "names", []) if isinstance(node, ast.ImportFrom)
                              and f"{target}.{a.name}" not in modules)
                found.append(Import(path, node.lineno, target, id(node) in inside, names))
    return found


def violations(root: Path) -> list[str]:
    """Each broken rule of the house under ``root`` (the folder that holds awareness/), one line each."""
    files = sorted((root / PACKAGE).rglob("*.py"))
    modules = {module_name(p, root) for p in files}
    problems: list[str] = []
    for path in files:
        where = path.relative_to(root)
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES and "migrations/versions" not in where.as_posix():
            problems.append(f"{where}: {lines} lines, over {MAX_LINES}: split it by job")
        mine = module_name(path, root)
        floor = floor_of(mine)
        for imp in imports_of(path, root, modules):
            if imp.in_function:
                problems.append(f"{where}:{imp.line}: imports {imp.target} inside a function; import it at the "
                                "top (a cycle it dodges is a layering fault to fix)")
            theirs = floor_of(imp.target)
            if floor is None or theirs is None or theirs == floor:
                continue
            if theirs not in MAY_IMPORT[floor]:
                problems.append(f"{where}:{imp.line}: {floor} imports {imp.target} ({theirs}); {floor} may import "
                                f"only {', '.join(sorted(MAY_IMPORT[floor])) or 'itself'}")
            if floor == "cli" and imp.target in CLI_NOT:
                problems.append(f"{where}:{imp.line}: the CLI imports {imp.target}; it opens no Store: call a "
                                "pipeline or service function instead")
            tables = sorted(set(imp.names) - NOT_TABLES) if imp.target == TABLES else []
            if imp.target == TABLES and imp.names == ():
                tables = ["the whole module"]
            if floor in NO_QUERIES and tables:
                problems.append(f"{where}:{imp.line}: {floor} takes tables ({', '.join(tables)}) from {TABLES}; "
                                "add a Store method (like Store.matched_items) and call that")
    spiders = root / "spiders"
    for path in sorted(spiders.rglob("*.py")) if spiders.is_dir() else []:
        for imp in imports_of(path, root, modules):
            theirs = floor_of(imp.target)
            if theirs is not None and theirs not in SPIDERS_MAY_IMPORT:
                problems.append(f"{path.relative_to(root)}:{imp.line}: a spider imports {imp.target} ({theirs}); "
                                f"spiders import only {', '.join(sorted(SPIDERS_MAY_IMPORT))}")
    return problems


def cycles(root: Path) -> list[list[str]]:
    """Import cycles between modules (top-level and in-function imports alike), each once."""
    files = sorted((root / PACKAGE).rglob("*.py"))
    modules = {module_name(p, root) for p in files}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for path in files:
        mine = module_name(path, root)
        for imp in imports_of(path, root, modules):
            target = imp.target
            while target not in modules and "." in target:
                target = target.rpartition(".")[0]
            if target in modules and target != mine and not mine.startswith(target + "."):
                graph[mine].add(target)   # a package's own __init__ is not a cycle with its modules
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                loop = stack[stack.index(n):]
                if frozenset(loop) not in seen:
                    seen.add(frozenset(loop))
                    found.append(loop + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    return found
