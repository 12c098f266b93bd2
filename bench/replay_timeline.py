"""Where recording's time goes in a replay-like execution, phase by phase.

    python bench/replay_timeline.py [--cells 200] [--repeat 12]

The notebook of ``bench/replay.py`` runs with replay's client, alternately in
a bare kernel and in a kernel recording into a store whose writer the client
serves (as ``lm.replay`` and ``lineage-magic run`` do). The phases come from
the kernel's own message timestamps, which nbclient keeps in each cell's
metadata (``execution``), so client-side delays and kernel-side work are told
apart. The first five cells are left out of the per-cell phases (imports,
warm-up). Each figure is the median over rounds of (recording - bare) for the
same round, in milliseconds.

CPU time, which the VM's drift moves less than wall time, is counted too:
the kernel's (``bench/_kernel_clock.py``, run in both kernels: up to the first
cell, the cells, each thread, and the recorder's two hooks), and the
launcher's own (nbclient, and the writer it serves to a recording kernel).

Prints a table and writes bench/results/replay_timeline.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import nbformat

import lineage_magic
from lineage_magic import context
from lineage_magic.replay._client import LineageClient
from lineage_magic.replay.replay import kernel_arguments

from replay import StallCounter, make_notebook

RESULTS = Path(__file__).with_name("results") / "replay_timeline.json"
CLOCK = Path(__file__).with_name("_kernel_clock.py")
PHASES = {
    "kernel handlers": "execute_input to execute_reply, summed over the cells",
    "after the reply": "execute_reply to the idle status, summed",
    "between cells": "idle status to the next cell's busy status, summed",
    "kernel start": "client start to the first cell's busy status",
    "kernel exit": "last idle status to the client's end (records written)",
    "wall": "the whole execution",
}
CPU = {
    "kernel CPU to 1st cell": "the kernel process, from its start to the first cell (imports, extension)",
    "kernel CPU, cells": "the kernel process, first cell to last",
    "kernel main thread": "the kernel's main thread, start to exit",
    "kernel other threads": "every other thread of the kernel (IOPub, shell channel, the recorder's)",
    "launcher CPU": "this process: nbclient, and the writer it serves to a recording kernel",
    "hooks pre_run_cell": "the recorder's pre_run_cell, summed over the cells",
    "hooks post_run_cell": "the recorder's post_run_cell, summed over the cells",
}
SKIPPED_CELLS = 5


def _stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def execute(nb: Any, store: Any, *, record: bool) -> dict[str, float]:
    """Execute a copy of ``nb`` in a fresh kernel; seconds spent in each phase."""
    args: list[str] = []
    env = dict(os.environ)
    if record:
        args, env = kernel_arguments(store, notebook_path=None, run_name=f"timeline-{time.time_ns()}")
    handle, name = tempfile.mkstemp(prefix="lineage-clock-", suffix=".jsonl")
    os.close(handle)
    clock = Path(name)
    args = [*args, f"--IPKernelApp.exec_files={[str(CLOCK)]!r}"]
    env["LINEAGE_BENCH_CLOCK"] = str(clock)
    copy = nbformat.from_dict(nb)
    launcher_cpu = _cpu_seconds()
    started = time.time()
    client = LineageClient(copy, kernel_name="python3", timeout=600, extra_arguments=args, serve_writer=record)
    client.execute(env=env)
    if client.writer is not None:
        client.writer.finish(60)
    ended = time.time()
    launcher_cpu = _cpu_seconds() - launcher_cpu
    kernel = json.loads(clock.read_text().splitlines()[-1])
    clock.unlink()
    marks = [
        tuple(_stamp(cell.metadata["execution"][key]) for key in
              ("iopub.status.busy", "iopub.execute_input", "shell.execute_reply", "iopub.status.idle"))
        for cell in copy.cells
    ]
    timed = marks[SKIPPED_CELLS:]
    return {
        "kernel handlers": sum(reply - start for _, start, reply, _ in timed),
        "after the reply": sum(idle - reply for _, _, reply, idle in timed),
        "between cells": sum(nxt[0] - cur[3] for cur, nxt in zip(timed, timed[1:])),
        "kernel start": marks[0][0] - started,
        "kernel exit": ended - marks[-1][3],
        "wall": ended - started,
        "kernel CPU to 1st cell": kernel["first_cell"],
        "kernel CPU, cells": kernel["last_cell"] - kernel["first_cell"],
        "kernel main thread": kernel["threads"].get("MainThread", 0.0),
        "kernel other threads": sum(v for k, v in kernel["threads"].items() if k != "MainThread"),
        "launcher CPU": launcher_cpu,
        "hooks pre_run_cell": (kernel["hooks"] or {}).get("pre_run_cell", 0.0),
        "hooks post_run_cell": (kernel["hooks"] or {}).get("post_run_cell", 0.0),
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    """Run the benchmark and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=12)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lineage-bench-") as tmp:
        work = Path(tmp)
        store = context.connect(f"sqlite:///{work / 'lineage.db'}")
        nb = nbformat.read(str(make_notebook(work / "bench.ipynb", opts.cells)), as_version=4)
        execute(nb, store, record=False)  # warm the OS caches
        bare: list[dict[str, float]] = []
        recorded: list[dict[str, float]] = []
        stalls = StallCounter()  # kernels that ignored the shutdown request (see bench/replay.py)
        stalled = {False: 0, True: 0}
        for k in range(opts.repeat):  # alternating, each side first in half of the rounds
            for record in ((False, True) if k % 2 == 0 else (True, False)):
                phases, stuck = stalls.during(lambda: execute(nb, store, record=record))
                (recorded if record else bare).append(phases)
                stalled[record] += stuck
        store.dispose()
    rows = {}
    for phase in [*PHASES, *CPU]:
        rows[phase] = {
            "bare_ms": round(statistics.median(r[phase] for r in bare) * 1e3, 1),
            "recording_ms": round(statistics.median(r[phase] for r in recorded) * 1e3, 1),
            "difference_ms": round(statistics.median(b[phase] - a[phase] for a, b in zip(bare, recorded)) * 1e3, 1),
        }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "cells": opts.cells, "repeat": opts.repeat, "phases": rows, "meaning": {**PHASES, **CPU},
        "bare_s": bare, "recording_s": recorded,
        "stalled_kernels": {"bare": stalled[False], "recording": stalled[True]} if stalls.active else None,
        "python": platform.python_version(), "lineage_magic": lineage_magic.__version__,
    }, indent=2) + "\n")
    print(f"{opts.cells}-cell notebook, replay's client, {opts.repeat} rounds "
          f"(per-cell phases over cells {SKIPPED_CELLS + 1}-{opts.cells})")
    print(f"{'phase':24}{'bare ms':>10}{'recording':>11}{'difference':>12}")
    for phase, row in rows.items():
        if phase == next(iter(CPU)):
            print("CPU time")
        print(f"{phase:24}{row['bare_ms']:>10.1f}{row['recording_ms']:>11.1f}{row['difference_ms']:>+12.1f}")
    if stalls.active:
        print(f"kernels terminated after ignoring the shutdown request: bare {stalled[False]}, "
              f"recording {stalled[True]}")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
