"""Cost of file lineage: a cell that opens and reads 10,000 small files.

Two real kernels through nbclient, one bare and one started with
``--ext=lineage_magic``, run the same cell in alternation, several rounds.
Reported as medians:

* ``in-cell``: the loop timed inside the cell (what the audit hook costs);
* ``cell wall``: execute request to reply, seen by the client (hook plus
  the recorder's pre/post work on the user's thread);
* ``recorded after``: for the extension, how long ``%lineage flush`` waits
  after the cell for hashing and writing to finish, off the user's thread.
  The first time hashes every file; later rounds find them unchanged.

Between rounds the extension's kernel is flushed, so its background work
never overlaps the next measurement of either kernel.

Minimums are printed beside the medians: on a shared machine they are the
better estimate of the cost itself.

Usage: python bench/files.py [--rounds 15] [--files 10000] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

SETUP = "import os\n_paths = sorted(os.path.join({root!r}, n) for n in os.listdir({root!r}))\nlen(_paths)"
READ_ALL = (
    "import time as _t\n"
    "_t0 = _t.perf_counter()\n"
    "for _p in _paths:\n"
    "    with open(_p, 'rb') as _f:\n"
    "        _f.read()\n"
    "in_cell = _t.perf_counter() - _t0\n"
    "print(repr(in_cell))"
)
FLUSH = "%lineage flush"


class Kernel:
    """One kernel kept open for the whole benchmark, executing cells on demand."""

    def __init__(self, workdir: str, extra: list[str]) -> None:
        nb = nbformat.v4.new_notebook(cells=[
            nbformat.v4.new_code_cell(c) for c in ("", READ_ALL, FLUSH)
        ])
        self.nb = nb
        self.client = NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": workdir}},
            extra_arguments=extra,
        )
        self._context = self.client.setup_kernel()

    def __enter__(self) -> Kernel:
        self._context.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._context.__exit__(*exc)

    def run(self, index: int, source: str | None = None) -> tuple[float, str]:
        """Execute cell ``index``; the client-side wall time and its printed text."""
        cell = self.nb.cells[index]
        if source is not None:
            cell.source = source
        started = time.perf_counter()
        self.client.execute_cell(cell, index)
        elapsed = time.perf_counter() - started
        errors = [o for o in cell.outputs if o.get("output_type") == "error"]
        if errors:
            raise RuntimeError(f"cell failed: {errors[0].get('ename')}: {errors[0].get('evalue')}")
        text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
        return elapsed, text


def make_files(root: Path, count: int) -> None:
    """``count`` files of 100 bytes each."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (root / f"f{i:05d}.txt").write_bytes(f"{i:05d}".encode() * 20)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--json", default=str(Path(__file__).parent / "results" / "files.json"))
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="lm-bench-files-") as tmp:
        data = Path(tmp) / "data"
        make_files(data, args.files)
        url = f"sqlite:///{Path(tmp) / 'lineage.db'}"
        os.environ["LINEAGE_MAGIC_HOME"] = str(Path(tmp) / "home")
        ext_args = ["--ext=lineage_magic", f"--LineageMagic.db_url={url}", "--LineageMagic.quiet=True"]
        rows: dict[str, list[dict[str, float]]] = {"bare": [], "lineage_magic": []}
        with Kernel(tmp, []) as bare, Kernel(tmp, ext_args) as ext:
            for kernel in (bare, ext):
                kernel.run(0, SETUP.format(root=str(data)))
                kernel.run(1)  # warm the page cache and both interpreters
            cold_ms = ext.run(2)[0] * 1000  # the warm-up round hashed every file
            for round_ in range(args.rounds):
                order = [("bare", bare), ("lineage_magic", ext)]
                if round_ % 2:
                    order.reverse()
                for name, kernel in order:
                    wall, text = kernel.run(1)
                    row = {"in_cell_ms": float(text.strip()) * 1000, "wall_ms": wall * 1000}
                    if kernel is ext:
                        row["recorded_after_ms"] = ext.run(2)[0] * 1000
                    rows[name].append(row)
            files_recorded = _count_files(ext)

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in rows[name])

    def low(name: str, key: str) -> float:
        return min(r[key] for r in rows[name])

    result = {
        "benchmark": "open and read small files in one cell",
        "files": args.files,
        "rounds": args.rounds,
        "date": datetime.now().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "files_recorded_in_run": int(files_recorded),
        "median": {
            name: {key: round(med(name, key), 2) for key in rows[name][0]} for name in rows
        },
        "min": {
            name: {key: round(low(name, key), 2) for key in rows[name][0]} for name in rows
        },
        "ratio": {
            "in_cell": round(med("lineage_magic", "in_cell_ms") / med("bare", "in_cell_ms"), 3),
            "wall": round(med("lineage_magic", "wall_ms") / med("bare", "wall_ms"), 3),
        },
        "ratio_of_min": {
            "in_cell": round(low("lineage_magic", "in_cell_ms") / low("bare", "in_cell_ms"), 3),
            "wall": round(low("lineage_magic", "wall_ms") / low("bare", "wall_ms"), 3),
        },
        "load_average": round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None,
        "cold_recorded_after_ms": round(cold_ms, 1),
        "rows": rows,
    }
    _print(result)
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten to {path}")
    return 0


def _count_files(kernel: Kernel) -> str:
    """How many file versions the extension's run recorded."""
    return kernel.run(2, (
        "from lineage_magic.files import run_files\n"
        "from lineage_magic.recorder import find_recorder\n"
        "print(len(run_files(find_recorder(get_ipython()).run_id)))"
    ))[1].strip()


def _print(result: dict[str, Any]) -> None:
    m, lo, r, rl = result["median"], result["min"], result["ratio"], result["ratio_of_min"]
    print(f"{result['files']} files opened and read in one cell, {result['rounds']} rounds "
          f"(Python {result['python']}, {result['cpus']} CPUs, load {result['load_average']})\n")
    print(f"{'median (min), ms':22}{'bare':>16}{'lineage_magic':>18}{'ratio':>14}")
    for label, key, ratio in (("in-cell loop", "in_cell_ms", "in_cell"), ("cell wall", "wall_ms", "wall")):
        print(f"{label:22}{m['bare'][key]:>9.1f} ({lo['bare'][key]:>5.1f}){m['lineage_magic'][key]:>11.1f} "
              f"({lo['lineage_magic'][key]:>5.1f}){r[ratio]:>7.3f} ({rl[ratio]:.3f})")
    print(f"{'recorded after':22}{'':>16}{m['lineage_magic']['recorded_after_ms']:>11.1f} "
          f"({lo['lineage_magic']['recorded_after_ms']:>5.1f})   off the user's thread")
    print(f"first time, hashing every file: {result['cold_recorded_after_ms']:.0f} ms; "
          f"file versions recorded in the run: {result['files_recorded_in_run']}")


if __name__ == "__main__":
    sys.exit(main())
