"""The analysis package's public surface and its promise to stay pure standard library."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import lineage_magic.analysis as analysis

PACKAGE = Path(analysis.__file__).parent


def test_public_names() -> None:
    assert sorted(analysis.__all__) == [
        "CellAnalysis",
        "CellDeps",
        "DependencyTracker",
        "EdgeInfo",
        "FunctionFacts",
        "NameNotDefinedError",
        "NodeInfo",
        "analyze_cell",
        "slice_code",
    ]
    for name in analysis.__all__:
        assert getattr(analysis, name).__doc__, name


def test_imports_only_stdlib_and_itself() -> None:
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                top = module.partition(".")[0]
                assert top in sys.stdlib_module_names or module.startswith("lineage_magic.analysis"), (path, module)


def test_name_not_defined_error_is_a_lookup_error() -> None:
    assert issubclass(analysis.NameNotDefinedError, KeyError)
    assert issubclass(analysis.NameNotDefinedError, LookupError)
