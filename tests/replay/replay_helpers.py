"""Helpers for replay tests: notebooks written to disk and recorded in real kernels."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nbformat

from lineage_magic.replay import run_notebook
from lineage_magic.store.engine import Store


def write_notebook(path: Path, sources: Sequence[str]) -> Path:
    """A v4 notebook of code cells with the given sources."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nbformat.write(nb, str(path))
    return path


def record(path: Path, store: Store, **kwargs: Any) -> str:
    """Execute a notebook file in a real kernel with lineage; the new run's id."""
    kwargs.setdefault("allow_errors", True)
    result = run_notebook(path, store=store, progress=False, timeout=120, **kwargs)
    assert result.run_id is not None, result.problem
    return result.run_id
