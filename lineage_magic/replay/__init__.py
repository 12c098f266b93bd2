"""Replay: rebuild a recorded run as a notebook, re-execute it, and compare runs.

nbformat and nbclient are imported only when a notebook is built or executed.
"""

from __future__ import annotations

from .compare import DEFAULT_MASKS, Mask, apply_masks
from .diff import CellChange, CellRef, RunDiff, diff
from .export import export_notebook
from .replay import (
    ArtifactComparison,
    CellComparison,
    NotebookRun,
    ReplayReport,
    VersionChange,
    replay,
    replay_here,
    run_notebook,
)

__all__ = [
    "export_notebook",
    "replay",
    "replay_here",
    "run_notebook",
    "diff",
    "ReplayReport",
    "CellComparison",
    "ArtifactComparison",
    "VersionChange",
    "NotebookRun",
    "RunDiff",
    "CellChange",
    "CellRef",
    "DEFAULT_MASKS",
    "Mask",
    "apply_masks",
]
