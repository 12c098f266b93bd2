"""Per-cell overhead of recording, measured in real kernels through nbclient.

The same notebook runs in a bare kernel and in a kernel started with the
extension (``--ext=lineage_magic``), alternating, several rounds. Reported
as medians and as ratios within this one run:

* per small cell, kernel-side: execute_input -> execute_reply timestamps;
* per small cell, in-kernel: ``run_cell`` of 300 small sources, timed in the
  kernel (no messaging noise);
* a pure-Python hot loop, timed inside the cell;
* ``%load_ext lineage_magic`` in a fresh kernel.

Usage: python bench/overhead.py [--rounds 3] [--cells 200] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient

SMALL_CELLS = [
    "a{i} = {i} + 1",
    "b{i} = [a{i}, a{i} * 2, 3]",
    "b{i}.append(a{i})",
    "def f{i}(x):\n    return x + a{i}",
    "c{i} = f{i}(len(b{i}))",
    "d{i} = {{'k': c{i}, 'v': b{i}}}",
    "d{i}['z'] = sum(b{i})",
    "e{i} = [x * x for x in range(10)]",
    "import math\ng{i} = math.sqrt(c{i})",
    "print(g{i})",
]
HOT_LOOP = (
    "import time as _t\n"
    "_t0 = _t.perf_counter()\n"
    "_s = 0\n"
    "for _k in range(2_000_000):\n"
    "    _s += _k * _k % 7\n"
    "hot_seconds = _t.perf_counter() - _t0\n"
    "print(f'HOT {hot_seconds:.6f}')"
)
IN_KERNEL = (
    "import time as _t, statistics as _st\n"
    "_ip = get_ipython()\n"
    "_times = []\n"
    "for _j in range(300):\n"
    "    _src = f'p{_j} = {_j} * 2\\nq{_j} = [p{_j}, {_j}]\\nq{_j}.append(1)'\n"
    "    _t0 = _t.perf_counter()\n"
    "    _ip.run_cell(_src, store_history=True)\n"
    "    _times.append(_t.perf_counter() - _t0)\n"
    "print(f'INKERNEL {_st.median(_times) * 1000:.6f}')"
)
LOAD_EXT = (
    "import time as _t\n"
    "_t0 = _t.perf_counter()\n"
    "get_ipython().run_line_magic('load_ext', 'lineage_magic')\n"
    "print(f'LOADEXT {(_t.perf_counter() - _t0) * 1000:.3f}')"
)


def build_notebook(cells: int) -> nbformat.NotebookNode:
    """The benchmark notebook: small cells, hot loops, an in-kernel timing cell."""
    nb = nbformat.v4.new_notebook()
    # The extension's writer process starts in the background at load
    # (importing SQLAlchemy, opening the store: about 0.3 s of another core).
    # The same pause in both kernels lets it settle: the small cells measure
    # the steady per-cell cost, not a two-core machine shared with that start.
    nb.cells = [nbformat.v4.new_code_cell("import time\ntime.sleep(1.0)")]
    sources = []
    for i in range(cells):
        sources.append(SMALL_CELLS[i % len(SMALL_CELLS)].format(i=i // len(SMALL_CELLS)))
    nb.cells += [nbformat.v4.new_code_cell(s, metadata={"bench": "small"}) for s in sources]
    # The same pause in both kernels: the loop's speed is measured, not the
    # writer committing the small cells' backlog at that moment.
    nb.cells.append(nbformat.v4.new_code_cell("import time\ntime.sleep(0.5)"))
    nb.cells += [nbformat.v4.new_code_cell(HOT_LOOP, metadata={"bench": "hot"}) for _ in range(5)]
    nb.cells.append(nbformat.v4.new_code_cell(IN_KERNEL, metadata={"bench": "inkernel"}))
    return nb


def _stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _marker(nb: nbformat.NotebookNode, tag: str) -> list[float]:
    values = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            for line in out.get("text", "").splitlines():
                if line.startswith(tag + " "):
                    values.append(float(line.split()[1]))
    return values


def execute(nb: nbformat.NotebookNode, *, extension: bool, workdir: str) -> dict[str, float]:
    """Run the notebook once; return the medians measured in it."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    extra = ["--ext=lineage_magic", "--LineageMagic.quiet=True"] if extension else []
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", record_timing=True, extra_arguments=extra,
        resources={"metadata": {"path": workdir}},
    )
    client.execute()
    small = []
    for cell in nb.cells:
        if cell.metadata.get("bench") != "small":
            continue
        timing = cell.metadata["execution"]
        small.append((_stamp(timing["shell.execute_reply"]) - _stamp(timing["iopub.execute_input"])) * 1000)
    return {
        "small_cell_ms": statistics.median(small),
        "hot_loop_s": statistics.median(_marker(nb, "HOT")),
        "in_kernel_cell_ms": _marker(nb, "INKERNEL")[0],
    }


def load_ext_ms(workdir: str) -> float:
    """Wall time of %load_ext lineage_magic in a fresh kernel."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell(LOAD_EXT)]
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": workdir}}).execute()
    return _marker(nb, "LOADEXT")[0]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cells", type=int, default=200)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "overhead.json")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as workdir:
        os.environ["LINEAGE_MAGIC_DB_URL"] = f"sqlite:///{workdir}/bench.db"
        nb = build_notebook(args.cells)
        bare, ext, loads = [], [], []
        for _ in range(args.rounds):
            bare.append(execute(nb, extension=False, workdir=workdir))
            ext.append(execute(nb, extension=True, workdir=workdir))
            loads.append(load_ext_ms(workdir))

    def med(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    result = {
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count()},
        "rounds": args.rounds,
        "cells": args.cells,
        "bare": {k: med(bare, k) for k in bare[0]},
        "extension": {k: med(ext, k) for k in ext[0]},
        "load_ext_ms": statistics.median(loads),
        "raw": {"bare": bare, "extension": ext, "load_ext_ms": loads},
    }
    result["overhead_small_cell_ms"] = result["extension"]["small_cell_ms"] - result["bare"]["small_cell_ms"]
    result["overhead_in_kernel_ms"] = result["extension"]["in_kernel_cell_ms"] - result["bare"]["in_kernel_cell_ms"]
    result["hot_loop_ratio"] = result["extension"]["hot_loop_s"] / result["bare"]["hot_loop_s"]

    rows = [
        ("small cell, kernel-side (ms, median)", result["bare"]["small_cell_ms"], result["extension"]["small_cell_ms"],
         f"+{result['overhead_small_cell_ms']:.3f} ms"),
        ("small cell, in-kernel run_cell (ms, median)", result["bare"]["in_kernel_cell_ms"],
         result["extension"]["in_kernel_cell_ms"], f"+{result['overhead_in_kernel_ms']:.3f} ms"),
        ("hot loop, 2M iterations (s, median)", result["bare"]["hot_loop_s"], result["extension"]["hot_loop_s"],
         f"{result['hot_loop_ratio']:.3f}x"),
        ("%load_ext lineage_magic (ms, median)", 0.0, result["load_ext_ms"], f"{result['load_ext_ms']:.0f} ms"),
    ]
    print(f"lineage_magic overhead: {args.rounds} rounds x {args.cells} small cells, Python {platform.python_version()}")
    print(f"{'measure':46} {'bare':>10} {'extension':>10}  difference")
    for name, b, e, diff in rows:
        print(f"{name:46} {b:10.4f} {e:10.4f}  {diff}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(f"written {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
