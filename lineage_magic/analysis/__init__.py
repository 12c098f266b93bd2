"""Static analysis of cells: nodes, cross-cell dependencies and program slices.

Pure standard library: this package imports neither IPython nor SQLAlchemy.
"""

from lineage_magic.analysis.cell import CellAnalysis, FunctionFacts, NodeInfo, analyze_cell
from lineage_magic.analysis.deps import CellDeps, DependencyTracker, EdgeInfo
from lineage_magic.analysis.slicing import NameNotDefinedError, slice_code

__all__ = [
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
