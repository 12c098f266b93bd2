"""Cost of file lineage: a cell that opens and reads 10,000 small files.

Real kernels through nbclient, one bare and the others started with
``--ext=lineage_magic``, run the same cell in turn, several rounds, the
order rotating every round. One extension kernel uses whichever audit hook
the package has (the C hook when ``lineage_magic/files/_build.py`` built it),
one the Python hook (``LINEAGE_MAGIC_AUDIT_HOOK=python``). Reported as
medians:

* ``in-cell``: the loop timed inside the cell (what the audit hook costs);
* ``in-cell CPU``: the same loop's CPU time (``time.thread_time``): on a
  shared machine it leaves out the time the kernel waited for a CPU;
* ``cell wall``: execute request to reply, seen by the client (hook plus
  the recorder's pre/post work on the user's thread);
* ``recorded after``: for the extension, how long ``%lineage flush`` waits
  after the cell for hashing and writing to finish, off the user's thread.
  The first time hashes every file; later rounds find them unchanged.

Between rounds the extension's kernels are flushed, so their background
work never overlaps the next measurement of any kernel. Then, once, the
cell runs twice back to back without a flush: the second start waits for
the first cell's files to be hashed (the watcher's barrier), and that wait
is reported.

Minimums are printed beside the medians: on a shared machine they are the
better estimate of the cost itself. So is the median of the per-round
ratios: the kernels of one round run within a second of each other, under
much the same load.

Usage: python bench/files.py [--rounds 15] [--files 10000] [--no-python-hook] [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
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
    "_c0, _t0 = _t.thread_time(), _t.perf_counter()\n"
    "for _p in _paths:\n"
    "    with open(_p, 'rb') as _f:\n"
    "        _f.read()\n"
    "in_cell, in_cell_cpu = _t.perf_counter() - _t0, _t.thread_time() - _c0\n"
    "print(repr(in_cell), repr(in_cell_cpu))"
)
FLUSH = "%lineage flush"
PY_HOOK = "lineage_magic, Python hook"
HOOK_KIND = "from lineage_magic.files.watcher import hook_kind\nprint(hook_kind())"
BARRIER = (
    "from lineage_magic.recorder import find_recorder\n"
    "_w = find_recorder(get_ipython()).files\n"
    "print(_w.barrier_waits, _w.barrier_wait_s)"
)


class Kernel:
    """One kernel kept open for the whole benchmark, executing cells on demand."""

    def __init__(self, workdir: str, extra: list[str], env: dict[str, str] | None = None) -> None:
        nb = nbformat.v4.new_notebook(cells=[
            nbformat.v4.new_code_cell(c) for c in ("", READ_ALL, FLUSH)
        ])
        self.nb = nb
        self.client = NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": workdir}},
            extra_arguments=extra,
        )
        self._context = self.client.setup_kernel(env={**os.environ, **(env or {})})

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
    parser.add_argument("--no-python-hook", action="store_true", help="skip the kernel with the Python hook")
    parser.add_argument("--json", default=str(Path(__file__).parent / "results" / "files.json"))
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="lm-bench-files-") as tmp:
        data = Path(tmp) / "data"
        make_files(data, args.files)
        url = f"sqlite:///{Path(tmp) / 'lineage.db'}"
        os.environ["LINEAGE_MAGIC_HOME"] = str(Path(tmp) / "home")
        ext_args = ["--ext=lineage_magic", f"--LineageMagic.db_url={url}", "--LineageMagic.quiet=True"]
        specs: dict[str, tuple[list[str], dict[str, str]]] = {"bare": ([], {}), "lineage_magic": (ext_args, {})}
        if not args.no_python_hook:
            specs[PY_HOOK] = (ext_args, {"LINEAGE_MAGIC_AUDIT_HOOK": "python"})
        rows: dict[str, list[dict[str, float]]] = {name: [] for name in specs}
        with contextlib.ExitStack() as stack:
            kernels = {name: stack.enter_context(Kernel(tmp, extra, env)) for name, (extra, env) in specs.items()}
            extensions = [name for name in kernels if name != "bare"]
            hooks = {name: kernels[name].run(2, HOOK_KIND)[1].strip() for name in extensions}
            for kernel in kernels.values():
                kernel.run(0, SETUP.format(root=str(data)))
                kernel.run(1)  # warm the page cache and the interpreters
            cold_ms = {name: kernels[name].run(2, FLUSH)[0] * 1000 for name in extensions}
            names = list(kernels)
            for round_ in range(args.rounds):
                shift = round_ % len(names)
                for name in names[shift:] + names[:shift]:
                    kernel = kernels[name]
                    wall, text = kernel.run(1)
                    in_cell, in_cell_cpu = map(float, text.split())
                    row = {"in_cell_ms": in_cell * 1000, "in_cell_cpu_ms": in_cell_cpu * 1000, "wall_ms": wall * 1000}
                    if name != "bare":
                        row["recorded_after_ms"] = kernel.run(2, FLUSH)[0] * 1000
                    rows[name].append(row)
            back_to_back = _back_to_back(kernels["lineage_magic"])
            files_recorded = _count_files(kernels["lineage_magic"])

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
        "hooks": hooks,
        "median": {
            name: {key: round(med(name, key), 2) for key in rows[name][0]} for name in rows
        },
        "min": {
            name: {key: round(low(name, key), 2) for key in rows[name][0]} for name in rows
        },
        "ratio": {
            name: {
                "in_cell": round(med(name, "in_cell_ms") / med("bare", "in_cell_ms"), 3),
                "in_cell_cpu": round(med(name, "in_cell_cpu_ms") / med("bare", "in_cell_cpu_ms"), 3),
                "wall": round(med(name, "wall_ms") / med("bare", "wall_ms"), 3),
            } for name in extensions
        },
        "ratio_of_min": {
            name: {
                "in_cell": round(low(name, "in_cell_ms") / low("bare", "in_cell_ms"), 3),
                "in_cell_cpu": round(low(name, "in_cell_cpu_ms") / low("bare", "in_cell_cpu_ms"), 3),
                "wall": round(low(name, "wall_ms") / low("bare", "wall_ms"), 3),
            } for name in extensions
        },
        "ratio_paired": {
            name: {
                key: round(statistics.median(
                    row[f"{key}_ms"] / base[f"{key}_ms"] for row, base in zip(rows[name], rows["bare"])
                ), 3) for key in ("in_cell", "in_cell_cpu", "wall")
            } for name in extensions
        },
        "load_average": round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None,
        "cold_recorded_after_ms": {name: round(ms, 1) for name, ms in cold_ms.items()},
        "back_to_back": back_to_back,
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


def _back_to_back(kernel: Kernel) -> dict[str, float]:
    """The cell twice without a flush between: how long the second start waits for hashing."""
    waits_before, wait_s_before = map(float, kernel.run(2, BARRIER)[1].split())
    first, first_text = kernel.run(1)
    # The second cell reports the barrier's counters itself: a later cell would wait for it too.
    second, text = kernel.run(2, READ_ALL + "\n" + BARRIER)
    loop_line, barrier_line = text.strip().splitlines()[-2:]
    waits, wait_s = map(float, barrier_line.split())
    kernel.run(2, FLUSH)
    return {
        "first_wall_ms": round(first * 1000, 1),
        "first_in_cell_ms": round(float(first_text.split()[0]) * 1000, 1),
        "second_wall_ms": round(second * 1000, 1),
        "second_in_cell_ms": round(float(loop_line.split()[0]) * 1000, 1),
        "second_in_cell_cpu_ms": round(float(loop_line.split()[1]) * 1000, 1),
        "barrier_waits": int(waits - waits_before),
        "barrier_wait_ms": round((wait_s - wait_s_before) * 1000, 1),
    }


def _print(result: dict[str, Any]) -> None:
    m, lo, r, rl = result["median"], result["min"], result["ratio"], result["ratio_of_min"]
    print(f"{result['files']} files opened and read in one cell, {result['rounds']} rounds "
          f"(Python {result['python']}, {result['cpus']} CPUs, load {result['load_average']})")
    print("hooks: " + ", ".join(f"{name}: {kind}" for name, kind in result["hooks"].items()) + "\n")
    print(f"{'median (min), ms':28}{'in-cell loop':>16}{'ratio':>16}{'in-cell CPU':>16}{'ratio':>16}"
          f"{'cell wall':>16}{'ratio':>16}")
    for name in m:
        row = f"{name:28}"
        for key, ratio in (("in_cell_ms", "in_cell"), ("in_cell_cpu_ms", "in_cell_cpu"), ("wall_ms", "wall")):
            row += f"{m[name][key]:>9.1f} ({lo[name][key]:>5.1f})"
            row += f"{'':>16}" if name == "bare" else f"{r[name][ratio]:>8.3f} ({rl[name][ratio]:.3f})"
        print(row)
    for name, paired in result["ratio_paired"].items():
        print(f"median of per-round ratios to bare, {name}: in-cell {paired['in_cell']:.3f}, "
              f"CPU {paired['in_cell_cpu']:.3f}, wall {paired['wall']:.3f}")
    for name in r:
        print(f"recorded after, {name}: {m[name]['recorded_after_ms']:.1f} ({lo[name]['recorded_after_ms']:.1f}) ms "
              f"off the user's thread; first time, hashing every file: {result['cold_recorded_after_ms'][name]:.0f} ms")
    b = result["back_to_back"]
    print(f"back to back without a flush (lineage_magic): cell walls {b['first_wall_ms']:.0f} then "
          f"{b['second_wall_ms']:.0f} ms (loops {b['first_in_cell_ms']:.0f} then {b['second_in_cell_ms']:.0f} ms, "
          f"{b['second_in_cell_cpu_ms']:.0f} ms of it CPU); "
          f"the second waited {b['barrier_wait_ms']:.0f} ms at its start for the first cell's files to be hashed "
          f"({b['barrier_waits']} wait)")
    print(f"file versions recorded in the run: {result['files_recorded_in_run']}")


if __name__ == "__main__":
    sys.exit(main())
