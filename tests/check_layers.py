"""The package's floors: every module imports only from its own layer or lower ones, in no circle.

Run it as ``python -m tests.check_layers`` (prints each offence, exits 1 if there is any) or
through ``tests/test_layers.py`` in the default suite. Imports are read from the source with
:mod:`ast`, including those inside functions and under ``TYPE_CHECKING``: a hidden import is
still a dependency.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "tuner"

#: Layers, lowest first. A module belongs to the first entry that is its name or a package
#: above it. Read it bottom-up as: "what may this module rely on?"
LAYERS: tuple[tuple[str, ...], ...] = (
    ("tuner.errors", "tuner.keys", "tuner.formatting"),  # names, errors, number formatting
    ("tuner.config.schema",),  # frozen dataclasses of a study file
    ("tuner.data",),  # datasets, splits, CSV tables (numpy, pandas, scikit-learn)
    ("tuner.ml",),  # Keras: backend, model, training, metrics
    ("tuner.search",),  # Optuna: space, objective, samplers and pruners
    ("tuner.config",),  # parse: validates a study file against the registries below
    ("tuner.storage", "tuner.studies", "tuner.artifacts"),  # stores, studies, saved models
    ("tuner.run",),  # the runner, the exact budget, signals, local worker processes
    ("tuner.report", "tuner.predict", "tuner.dashboard", "tuner.init_study"),
    ("tuner.cli", "tuner.__main__", "tuner"),  # the edges: command line, package API
)


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> int:
    for rank, members in enumerate(LAYERS):
        for member in members:
            if module == member or module.startswith(member + ".") and member != "tuner":
                return rank
    if module == "tuner":
        return len(LAYERS) - 1
    raise KeyError(f"{module} is in no layer: add it to LAYERS in tests/check_layers.py")


def _resolve(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(path: Path, known: set[str]) -> Iterator[Import]:
    """Every ``tuner`` module that ``path`` imports, wherever the import statement stands."""
    importer = module_name(path)
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node, importer, is_package)
            # "from tuner.report import plots" imports the module tuner.report.plots
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        for target in targets:
            if target == "tuner" or target.startswith("tuner."):
                while target not in known and "." in target:  # a name inside a module
                    target = target.rsplit(".", 1)[0]
                if target != importer:
                    yield Import(importer, target, node.lineno)


def collect() -> dict[str, list[Import]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    known = {module_name(p) for p in paths}
    return {module_name(p): list(imports_of(p, known)) for p in paths}


def upward_imports(graph: dict[str, list[Import]]) -> list[str]:
    found = []
    for importer, imports in graph.items():
        for imp in imports:
            if imp.imported == "tuner" and importer != "tuner":
                found.append(
                    f"{importer}:{imp.line} imports the package root 'tuner' "
                    f"(import the module that defines the name)"
                )
            elif layer_of(imp.imported) > layer_of(importer):
                found.append(
                    f"{importer}:{imp.line} imports {imp.imported}, a higher layer "
                    f"({layer_of(imp.imported)} > {layer_of(importer)})"
                )
    return found


def cycles(graph: dict[str, list[Import]]) -> list[list[str]]:
    """Import cycles between modules (Tarjan's strongly connected components of size > 1)."""
    edges = {
        m: sorted(
            {i.imported for i in imps if i.imported in graph and not _is_parent(i.imported, m)}
        )
        for m, imps in graph.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _is_parent(package: str, module: str) -> bool:
    """Importing ``tuner.run.x`` runs ``tuner/run/__init__.py`` first: not a dependency edge."""
    return module.startswith(package + ".")


def problems() -> list[str]:
    graph = collect()
    found = []
    for module in graph:
        try:
            layer_of(module)
        except KeyError as exc:
            found.append(str(exc.args[0]))
    if found:
        return found
    found += upward_imports(graph)
    found += ["import cycle: " + " <-> ".join(c) for c in cycles(graph)]
    return found


def main() -> int:
    found = problems()
    for line in found:
        print(line)
    print(
        f"{len(found)} layering problem(s) in {PACKAGE}"
        if found
        else f"layers ok: {len(collect())} modules, no cycle, no upward import"
    )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
