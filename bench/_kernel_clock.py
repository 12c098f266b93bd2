"""CPU clock for a benchmark's kernel, run inside it with ``--IPKernelApp.exec_files``.

IPython runs this file after loading the kernel's extensions, so a recorder
started with ``--ext=lineage_magic`` is already attached. It notes the
process's CPU time when the first cell starts and when the last one ends; it times the recorder's ``pre_run_cell`` and ``post_run_cell`` hooks
with the main thread's CPU clock; and at exit it appends one JSON line to
the file named by ``LINEAGE_BENCH_CLOCK``, with each thread's CPU time read
from ``/proc`` where there is one. In a bare kernel only the process clock
and the threads are noted.
"""


def _lineage_bench_clock() -> None:
    import atexit
    import json
    import os
    import threading
    import time

    from IPython import get_ipython

    out = os.environ.get("LINEAGE_BENCH_CLOCK")
    shell = get_ipython()
    if not out or shell is None:
        return
    marks = {"first_cell": None, "last_cell": None}
    hooks = {"pre_run_cell": 0.0, "post_run_cell": 0.0}

    def first(*_: object) -> None:
        if marks["first_cell"] is None:
            marks["first_cell"] = time.process_time()

    def last(*_: object) -> None:
        marks["last_cell"] = time.process_time()

    def timed(event: str, callback: object) -> object:
        def wrapper(*args: object) -> object:
            started = time.thread_time()
            try:
                return callback(*args)  # type: ignore[operator]
            finally:
                hooks[event] += time.thread_time() - started
        return wrapper

    # The recorder's hooks are bound methods of the object IPython keeps in
    # shell.configurables: found by class name, so that any version works.
    recorders = [c for c in shell.configurables if type(c).__name__ == "LineageMagic"]
    for event in hooks:
        callbacks = shell.events.callbacks[event]
        for index, callback in enumerate(callbacks):
            if getattr(callback, "__self__", None) in recorders:
                callbacks[index] = timed(event, callback)
    shell.events.register("pre_run_cell", first)
    shell.events.register("post_run_cell", last)

    def threads() -> dict[str, float]:
        names = {t.native_id: t.name for t in threading.enumerate()}
        ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        seconds: dict[str, float] = {}
        try:
            tids = os.listdir("/proc/self/task")
        except OSError:
            return seconds
        for tid in tids:
            try:
                with open(f"/proc/self/task/{tid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            name = names.get(int(tid), "other")
            seconds[name] = seconds.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
        return seconds

    def dump() -> None:
        record = {**marks, "hooks": hooks if recorders else None, "threads": threads()}
        with open(out, "a") as fh:
            fh.write(json.dumps(record) + "\n")

    # Registered after the recorder's exit handler and ipykernel's, so atexit runs
    # this one first: the threads' times leave out the recorder's last write.
    atexit.register(dump)


_lineage_bench_clock()
