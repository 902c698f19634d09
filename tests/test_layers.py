"""The package keeps its floors: no import cycle, no import from a higher layer (see
check_layers)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "check_layers", Path(__file__).with_name("check_layers.py")
)
check_layers = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("check_layers", check_layers)
_spec.loader.exec_module(check_layers)


def test_no_import_cycle_and_no_upward_import() -> None:
    assert check_layers.problems() == []


def test_the_check_sees_an_upward_import_inside_a_function(tmp_path: Path) -> None:
    graph = {
        "tuner.errors": [check_layers.Import("tuner.errors", "tuner.cli", 3)],
        "tuner.cli": [check_layers.Import("tuner.cli", "tuner.errors", 1)],
    }
    assert check_layers.upward_imports(graph) == [
        "tuner.errors:3 imports tuner.cli, a higher layer (9 > 0)"
    ]
    assert check_layers.cycles(graph) == [["tuner.cli", "tuner.errors"]]


def test_every_module_is_small() -> None:
    """No module over 400 lines and no function over 80 (a newcomer reads one screenful)."""
    import ast

    long = []
    for path in sorted(check_layers.PACKAGE.rglob("*.py")):
        text = path.read_text()
        if text.count("\n") > 400:
            long.append(f"{path.name}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if (
                isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                and node.end_lineno - node.lineno + 1 > 80
            ):
                long.append(
                    f"{path.name}:{node.lineno} {node.name}() has "
                    f"{node.end_lineno - node.lineno + 1} lines"
                )
    assert long == []
