"""The writer process: restarted if it dies, never stopped by one bad record, and the thread fallback."""

from __future__ import annotations

import os
import signal
import time

import pytest

import lineage_magic as lm


def _sources(ipshell) -> list[str]:  # noqa: ANN001
    assert ipshell.recorder.flush(30.0)
    with lm.Session(ipshell.url) as ss:
        return [c.source for c in ss.select(lm.Cell, run_id=ipshell.recorder.run_id).order_by(lm.Cell.seq).all()]


def test_a_killed_writer_process_is_started_again_and_later_cells_are_recorded(ipshell) -> None:  # noqa: ANN001
    ipshell.run("before = 1")
    assert ipshell.recorder.flush(30.0)
    writer = ipshell.recorder.writer
    first = writer._proc
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    for i in range(3):
        ipshell.run(f"after{i} = {i}")
    sources = _sources(ipshell)
    assert writer._proc is not first and writer._proc.poll() is None
    assert "before = 1" in sources
    # The cell that found the writer dead is sent again to its successor, and so is everything after it.
    assert sources[-3:] == ["after0 = 0", "after1 = 1", "after2 = 2"]
    with lm.Session(ipshell.url) as ss:
        assert ss.get(lm.Run, ipshell.recorder.run_id).status == "running"


def test_a_record_that_cannot_be_sent_is_counted_and_the_rest_is_written(ipshell) -> None:  # noqa: ANN001
    recorder = ipshell.recorder
    # Records queued together cross in one pickle: one that cannot spoils none of the others.
    ipshell.run("before = 1")
    recorder.writer.put(lambda conn: None)  # a closure cannot cross to another process
    ipshell.run("kept = 2")
    assert _sources(ipshell)[-2:] == ["before = 1", "kept = 2"]
    assert recorder.writer.stats.rejected == 1


def test_the_writer_process_ends_when_the_recorder_finishes(ipshell) -> None:  # noqa: ANN001
    proc = ipshell.recorder.writer._proc
    run_id = ipshell.recorder.run_id
    ipshell.run("x = 1")
    ipshell.shell.run_cell("%unload_ext lineage_magic")
    assert proc.wait(timeout=30) == 0
    with lm.Session(ipshell.url) as ss:
        run = ss.get(lm.Run, run_id)
        assert run.status == "finished" and "x = 1" in [c.source for c in run.cells]
    ipshell.shell.run_cell("%load_ext lineage_magic")


def _switches(tasks: str, only: set[str] | None = None) -> dict[str, int]:
    """Context switches so far of each thread under a /proc task directory (optionally: of these ids)."""
    counts = {}
    for tid in os.listdir(tasks):
        if only is not None and tid not in only:
            continue
        try:
            with open(f"{tasks}/{tid}/status") as status:
                counts[tid] = sum(int(line.split()[1]) for line in status if "ctxt_switches" in line)
        except FileNotFoundError:  # the thread ended meanwhile
            continue
    return counts


def _wakeups(before: dict[str, int], after: dict[str, int]) -> int:
    """Switches between two readings; a thread started meanwhile counts all of its own."""
    return sum(count - before.get(tid, 0) for tid, count in after.items())


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts wakeups in /proc (Linux)")
def test_an_idle_recorder_and_its_writer_process_sleep(ipshell) -> None:  # noqa: ANN001
    """Between cells nothing of ours wakes up: no thread polls, in the kernel or in the writer process."""
    import threading

    ipshell.run("x = 1")
    assert ipshell.recorder.flush(30.0)
    child = f"/proc/{ipshell.recorder.writer._proc.pid}/task"
    ours = {str(t.native_id) for t in threading.enumerate() if t.name.startswith("lineage-writer")}
    assert len(ours) == 2  # the feeder and the reader of the writer's replies
    time.sleep(0.3)  # the feeder's last linger after the flush
    before = _switches(child), _switches("/proc/self/task", ours)
    time.sleep(1.0)
    after = _switches(child), _switches("/proc/self/task", ours)
    assert len(before[1]) == 2 and len(before[0]) >= 3
    # A thread polling every 50 ms would have woken about 20 times.
    assert _wakeups(before[0], after[0]) <= 2, (before[0], after[0])
    assert _wakeups(before[1], after[1]) <= 2, (before[1], after[1])


@pytest.mark.parametrize("process", [True, False], ids=["process", "thread"])
def test_both_writers_record_cells_artifacts_and_files(sqlite_url, tmp_path, process) -> None:  # noqa: ANN001
    from IPython.core.interactiveshell import InteractiveShell

    from lineage_magic.recorder import find_recorder

    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    shell.config.LineageMagic.db_url = sqlite_url
    shell.config.LineageMagic.quiet = True
    shell.config.LineageMagic.writer_process = process
    try:
        assert shell.run_cell("%load_ext lineage_magic", store_history=True).success
        recorder = find_recorder(shell)
        assert (getattr(recorder.writer, "_proc", None) is not None) is process
        data = tmp_path / "data.txt"
        cells = [
            "import json\nvalues = [1, 2, 3]",
            f"with open({str(data)!r}, 'w') as f:\n    f.write(json.dumps(values))",
            # Produced by the cell that saves it: linked to that cell once the cell is written.
            "import lineage_magic as lm\nmore = values + [4]\nlm.save(more, 'more')",
        ]
        for code in cells:
            assert shell.run_cell(code, store_history=True).success
        assert recorder.flush(30.0)
        run_id = recorder.run_id
        with lm.Session(sqlite_url) as ss:
            run = ss.get(lm.Run, run_id)
            assert [c.source for c in run.cells][-3:] == cells
            assert [a.name for a in run.outputs if a.kind == "file"] == [str(data)]
            artifact = ss.select(lm.Artifact, name="more").one()
            assert artifact.cell_id == run.cells[-1].id
    finally:
        shell.run_cell("%unload_ext lineage_magic")
        del shell.config.LineageMagic
    deadline = time.monotonic() + 10
    while lm.select(lm.Run, url=sqlite_url, id=run_id).one().status != "finished":
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_cells_file_records_cross_to_the_writer_exactly() -> None:
    import pickle
    from datetime import datetime, timezone

    from lineage_magic.files.hashing import FileAccess
    from lineage_magic.files.watcher import WriteFiles

    accesses = [
        FileAccess("/data/a.csv", True, False, "ab" * 32, 10, datetime(2026, 11, 23, 1, 2, 3, 456789, timezone.utc)),
        FileAccess("/data/ü b.bin", False, True, None, 2**40, datetime(1969, 12, 31, 23, 59, 59, 1, timezone.utc)),
    ]
    item = WriteFiles("run", "cell", accesses)
    assert pickle.loads(pickle.dumps(item)) == item


def test_a_kernel_written_for_by_its_launcher_sees_no_writer_of_its_own_and_its_kill_ends_the_run(sqlite_url) -> None:  # noqa: ANN001
    """``prepare`` (replay and ``lineage-magic run``): the launcher writes; SIGKILL of the kernel still ends the run."""
    from jupyter_client.manager import KernelManager

    from lineage_magic.recorder.process_writer import prepare

    writer = prepare()
    assert writer is not None
    km = KernelManager(kernel_name="python3")
    client = None
    try:
        km.start_kernel(extra_arguments=[
            "--ext=lineage_magic", f"--LineageMagic.db_url={sqlite_url}", "--LineageMagic.quiet=True",
            "--LineageMagic.run_name=served", writer.argument,
        ], pass_fds=writer.fds)
        writer.release()
        client = km.client()
        client.start_channels()
        client.wait_for_ready(timeout=90)
        printed: list[str] = []

        def keep(msg: dict) -> None:
            if msg["msg_type"] == "stream":
                printed.append(msg["content"]["text"])

        probe = ("import os\nfrom lineage_magic.recorder import find_recorder\n"
                 "print(type(find_recorder(get_ipython()).writer._proc).__name__)\n"
                 "print(sum(1 for p in os.listdir('/proc') if p.isdigit() and "
                 "open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()[1] == str(os.getpid())))")
        assert client.execute_interactive(probe, output_hook=keep, timeout=60)["content"]["status"] == "ok"
        kind, own_children = "".join(printed).split()
        assert kind == "_Inherited" and own_children == "0"  # no writer process of the kernel's own
        assert client.execute_interactive("kept = 1", timeout=60)["content"]["status"] == "ok"
        time.sleep(1.5)  # the promise: a cell that finished a second before the kill is stored
        os.kill(km.provisioner.process.pid, signal.SIGKILL)
        km.provisioner.process.wait(timeout=10)
        # The kernel held the only write end: its death ends the writer's input; all is written.
        assert writer.finish(60)
        assert writer.result == 0
    finally:
        writer.release()
        if client is not None:
            client.stop_channels()
        if km.has_kernel and km.is_alive():
            km.shutdown_kernel(now=True)
        else:
            km.cleanup_resources()
        km.context.destroy(linger=0)
    with lm.Session(sqlite_url) as ss:
        run = ss.select(lm.Run, name="served").one()
        assert run.status == "aborted"
        assert "kept = 1" in [c.source for c in run.cells]


def test_an_unusable_inherited_writer_pipe_falls_back_to_a_writer_process_of_its_own(sqlite_url, caplog) -> None:  # noqa: ANN001
    import subprocess

    from IPython.core.interactiveshell import InteractiveShell

    from lineage_magic.recorder import find_recorder

    read_end, write_end = os.pipe()
    os.close(read_end)
    os.close(write_end)  # both descriptors are closed now
    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    shell.config.LineageMagic.db_url = sqlite_url
    shell.config.LineageMagic.quiet = True
    shell.config.LineageMagic.writer_pipe = f"{write_end},{read_end}"
    try:
        assert shell.run_cell("%load_ext lineage_magic", store_history=True).success
        recorder = find_recorder(shell)
        assert isinstance(recorder.writer._proc, subprocess.Popen)
        assert "unusable" in caplog.text
        assert shell.run_cell("after = 2", store_history=True).success
        assert recorder.flush(30.0)
        with lm.Session(sqlite_url) as ss:
            assert "after = 2" in [c.source for c in ss.get(lm.Run, recorder.run_id).cells]
    finally:
        shell.run_cell("%unload_ext lineage_magic")
        del shell.config.LineageMagic
