"""IPython's own parse of each cell, kept for the cell's analysis.

IPython parses every cell it runs (``shell.compile.ast_parse``); the recorder
then analyses the same source. Parsing it a second time was about two fifths
of the analysis, which is half of the recorder's time per cell. The tap wraps
the shell's compiler so that it keeps the last tree it parsed; the analysis
uses that tree when it was parsed from the very source being analysed.

The tree is only trusted when IPython cannot have changed it: no AST
transformer is registered (a ``NodeTransformer`` edits trees in place).
IPython's ``last_expr_or_assign`` mode appends a statement to the tree's
body, so the body is copied when the tree is kept.
"""

from __future__ import annotations

import ast
from typing import Any


class ParseTap:
    """Keeps the last tree a shell's compiler parsed from a cell."""

    def __init__(self, shell: Any) -> None:
        self._shell = shell
        self._compiler: Any = None
        self._wrapper: Any = None
        self._last: tuple[str, list[ast.stmt]] | None = None

    def install(self) -> None:
        """Wrap the shell's ``compile.ast_parse`` (nothing happens if it has none)."""
        compiler = getattr(self._shell, "compile", None)
        original = getattr(compiler, "ast_parse", None)
        if not callable(original) or self._compiler is not None:
            return

        def ast_parse(source: Any, *args: Any, **kwargs: Any) -> Any:
            self._last = None  # a parse that raises leaves no tree behind
            tree = original(source, *args, **kwargs)
            if self._wrapper is ast_parse and type(tree) is ast.Module and isinstance(source, str):
                self._last = (source, list(tree.body))
            return tree

        compiler.ast_parse = ast_parse
        self._compiler, self._wrapper = compiler, ast_parse

    def remove(self) -> None:
        """Stop keeping trees, and give the compiler back its own ``ast_parse``."""
        compiler, wrapper = self._compiler, self._wrapper
        self._compiler = self._wrapper = self._last = None
        # Wrapped again since (by another extension)? Then ours stays in the chain, inert.
        if compiler is not None and compiler.__dict__.get("ast_parse") is wrapper:
            del compiler.ast_parse

    def take(self, source: str) -> ast.Module | None:
        """The tree IPython parsed from ``source``, if it is that and is unchanged; else None."""
        last, self._last = self._last, None
        if last is None or getattr(self._shell, "ast_transformers", None):
            return None
        parsed, body = last
        if parsed is not source and parsed != source:
            return None
        return ast.Module(body=body, type_ignores=[])
