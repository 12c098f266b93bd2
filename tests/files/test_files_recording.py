"""The files a recorded cell opens become versioned file artifacts of its run."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import lineage_magic as lm
from lineage_magic.files import watcher


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_open_write_then_read_in_another_cell(fshell) -> None:  # noqa: ANN001
    fshell.run("with open('a.txt', 'w') as f:\n    f.write('hello')")
    writer_cell = fshell.last_cell_id()
    fshell.run("with open('a.txt') as f: text = f.read()")
    reader_cell = fshell.last_cell_id()
    found = fshell.files()
    assert set(found) == {("a.txt", "write"), ("a.txt", "read")}
    written = found[("a.txt", "write")]
    assert written.sha256 == _sha(fshell.workdir / "a.txt")
    assert written.size == 5 and written.version == 0
    # Same content read back: the same artifact, not a new version.
    assert found[("a.txt", "read")].artifact_id == written.artifact_id
    (version,) = fshell.history("a.txt")
    assert [w.cell_id for w in version.written_by] == [writer_cell]
    assert [r.run_id for r in version.read_by] == [fshell.run_id]
    assert not version.external
    # The reading cell depends on the cell that wrote the file.
    with lm.Session() as ss:
        parents = [p.id for p in ss.get(lm.Cell, reader_cell).parents]
    assert writer_cell in parents


def test_pathlib_and_numpy_directions_and_hashes(fshell) -> None:  # noqa: ANN001
    np = pytest.importorskip("numpy")
    np.save(fshell.workdir / "given.npy", np.arange(4))
    (fshell.workdir / "given.txt").write_text("external")
    fshell.run("import pathlib\npathlib.Path('p.txt').write_text('via pathlib')")
    fshell.run("import numpy as np\nnp.save('arr.npy', np.arange(10))")
    fshell.run("a = np.load('given.npy')\nb = pathlib.Path('given.txt').read_text()")
    found = fshell.files()
    assert set(found) == {("p.txt", "write"), ("arr.npy", "write"), ("given.npy", "read"), ("given.txt", "read")}
    for (name, _), f in found.items():
        assert f.sha256 == _sha(fshell.workdir / name)
        assert f.size == (fshell.workdir / name).stat().st_size
    assert found[("given.npy", "read")].external and found[("given.txt", "read")].external
    assert not found[("arr.npy", "write")].external


def test_os_open_flags_and_relative_paths_after_chdir(fshell) -> None:  # noqa: ANN001
    (fshell.workdir / "sub").mkdir()
    fshell.run(
        "import os\n"
        "fd = os.open('raw.bin', os.O_WRONLY | os.O_CREAT)\n"
        "os.write(fd, b'xyz'); os.close(fd)\n"
        "os.chdir('sub')\n"
        "with open('inner.txt', 'a') as f: f.write('appended')\n"
        "os.chdir('..')\n"
    )
    found = fshell.files()
    assert set(found) == {("raw.bin", "write"), (os.path.join("sub", "inner.txt"), "write")}


def test_relative_paths_after_fchdir_resolve_in_its_directory(fshell) -> None:  # noqa: ANN001
    (fshell.workdir / "sub").mkdir()
    fshell.run(
        "import os\n"
        "fd = os.open('sub', os.O_RDONLY)\n"
        "os.fchdir(fd); os.close(fd)\n"
        "open('in_sub.txt', 'w').close()\n"
        "os.chdir('..')\n"
        "open('at_top.txt', 'w').close()\n"
    )
    found = fshell.files()
    assert set(found) == {(os.path.join("sub", "in_sub.txt"), "write"), ("at_top.txt", "write")}


def test_a_cell_run_from_a_cell_keeps_each_open_in_its_directory(fshell) -> None:  # noqa: ANN001
    (fshell.workdir / "sub").mkdir()
    fshell.run(
        "open('before.txt', 'w').close()\n"
        "get_ipython().run_cell(\"import os; os.chdir('sub'); open('inner.txt', 'w').close()\", store_history=True)\n"
        "open('after.txt', 'w').close()\n"
        "os.chdir('..')\n"
    )
    found = fshell.files()
    assert set(found) == {
        ("before.txt", "write"),
        (os.path.join("sub", "inner.txt"), "write"),
        (os.path.join("sub", "after.txt"), "write"),
    }
    depth = {c.id: c.depth for c in fshell.cells()}
    writer = lambda name: fshell.history(name)[0].written_by[0].cell_id  # noqa: E731
    assert (depth[writer("before.txt")], depth[writer("sub/inner.txt")], depth[writer("sub/after.txt")]) == (0, 1, 0)


def test_new_content_is_a_new_version_and_old_content_reuses_its_version(fshell) -> None:  # noqa: ANN001
    fshell.run("with open('v.txt', 'w') as f: f.write('one')")
    fshell.run("with open('v.txt', 'w') as f: f.write('two')")
    fshell.run("with open('v.txt', 'w') as f: f.write('one')")
    history = fshell.history("v.txt")
    assert [v.version for v in history] == [0, 1]
    assert [v.sha256 for v in history] == [hashlib.sha256(b).hexdigest() for b in (b"one", b"two")]
    # One run, which wrote that content in two cells: both are named.
    writers = history[0].written_by
    assert {w.run_id for w in writers} == {fshell.recorder.run_id}
    with lm.Session(fshell.url) as ss:
        assert [ss.get(lm.Cell, w.cell_id).source for w in writers] == [
            "with open('v.txt', 'w') as f: f.write('one')"] * 2
    assert writers[0].cell_id != writers[1].cell_id


def test_read_and_rewrite_in_one_cell_reads_the_previous_version(fshell) -> None:  # noqa: ANN001
    fshell.run("with open('d.csv', 'w') as f: f.write('a\\n1\\n')")
    fshell.run("with open('d.csv') as f: s = f.read()\nwith open('d.csv', 'w') as f: f.write(s + '2\\n')")
    v0, v1 = fshell.history("d.csv")
    assert v0.read_by and v1.written_by
    assert v1.sha256 == _sha(fshell.workdir / "d.csv")


def test_interpreter_ipython_and_store_files_are_ignored(fshell, tmp_path) -> None:  # noqa: ANN001
    fshell.run("import json, email.mime.text, importlib, sys\nimportlib.reload(json)")
    fshell.run("import os\nos.listdir('/proc/self')\nwith open('/proc/self/status') as f: f.read()\nwith open('/dev/null') as f: f.read()")
    fshell.recorder.flush()
    fshell.run(f"with open({str(tmp_path / 'lineage.db')!r}, 'rb') as f: f.read(10)")
    fshell.run("from IPython.paths import get_ipython_dir\nimport os, glob\n"
               "[open(p, 'rb').close() for p in glob.glob(os.path.join(get_ipython_dir(), '**'), recursive=True) if os.path.isfile(p)][:0]")
    fshell.run("import tempfile, os\nd = os.path.join(tempfile.gettempdir(), 'ipykernel_4242')\nos.makedirs(d, exist_ok=True)\n"
               "with open(os.path.join(d, 'x.py'), 'w') as f: f.write('1')")
    assert fshell.files() == {}


def test_a_lineage_writer_started_by_a_cell_records_nothing_of_its_own(fshell, tmp_path) -> None:  # noqa: ANN001
    """Replay from a recorded notebook writes the new run from a thread of this kernel: not the cell's files."""
    import nbformat

    notebook = fshell.workdir / "replayed.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title")]), str(notebook))
    other = tmp_path / "elsewhere" / "other.db"
    fshell.run(
        "import os\nfrom datetime import datetime, timezone\nfrom lineage_magic import context\n"
        "from lineage_magic.recorder.items import StartRun\nfrom lineage_magic.recorder.writer import BackgroundWriter\n"
        f"w = BackgroundWriter(lambda: context.open_store('sqlite:///{other}'))\n"
        # The writer reads the notebook's title from the file.
        f"w.put(StartRun('r' * 20, 'me', 'replayed.ipynb', {str(notebook)!r}, 'notebook', datetime.now(timezone.utc), "
        "'3', 'host', os.getpid()), preamble=True)\n"
        "assert w.flush(30)\nw.close()"
    )
    assert fshell.files() == {}
    assert lm.select(lm.Run, url=f"sqlite:///{other}", id="r" * 20).one().transform.title == "Title"


def test_failed_opens_directories_and_deleted_files_are_not_recorded(fshell) -> None:  # noqa: ANN001
    fshell.run("import os\ntry:\n    open('missing.txt').close()\nexcept FileNotFoundError:\n    pass\n"
               "with open('tmp.txt', 'w') as f: f.write('x'); os.remove('tmp.txt')\nfd = os.open('.', os.O_RDONLY); os.close(fd)")
    assert fshell.files() == {}


def test_file_above_the_hash_cap_has_size_and_mtime_only(fshell) -> None:  # noqa: ANN001
    fshell.recorder.files.hasher.max_bytes = 1000
    fshell.run("with open('big.bin', 'wb') as f: f.write(b'0' * 5000)\nwith open('small.bin', 'wb') as f: f.write(b'0' * 10)")
    big = fshell.history("big.bin")[0]
    assert big.sha256 is None and big.size == 5000 and big.mtime is not None
    assert fshell.history("small.bin")[0].sha256 is not None
    # Unchanged: reused by size and mtime; rewritten: a new version.
    fshell.run("with open('big.bin', 'rb') as f: f.read()")
    assert len(fshell.history("big.bin")) == 1
    fshell.run("import os, time\nwith open('big.bin', 'wb') as f: f.write(b'1' * 6000)\nos.utime('big.bin', (time.time() + 5,) * 2)")
    assert [v.size for v in fshell.history("big.bin")] == [5000, 6000]


def test_nothing_recorded_between_cells_or_while_paused(fshell) -> None:  # noqa: ANN001
    (fshell.workdir / "outside.txt").write_text("not in a cell")
    fshell.run("%lineage pause")
    fshell.run("with open('paused.txt', 'w') as f: f.write('x')")
    fshell.run("%lineage resume")
    assert fshell.files() == {}
    assert watcher._dispatch.sinks is None


def test_opens_from_threads_started_by_the_cell_are_recorded(fshell) -> None:  # noqa: ANN001
    fshell.run("import threading, pathlib\nt = threading.Thread(target=lambda: pathlib.Path('t.txt').write_text('x'))\nt.start(); t.join()")
    assert ("t.txt", "write") in fshell.files()


def test_nested_cells_record_their_own_files(fshell) -> None:  # noqa: ANN001
    fshell.run("import pathlib\nwith open('outer_before.txt', 'w') as f: f.write('1')\n"
               "get_ipython().run_cell(\"pathlib.Path('inner.txt').write_text('2')\", store_history=True)\n"
               "with open('outer_after.txt', 'w') as f: f.write('3')")
    fshell.recorder.flush()
    with lm.Session() as ss:
        by_name = {
            os.path.basename(a.path): a.cell_id
            for a in ss.select(lm.Artifact, kind="file").all()
        }
    assert set(by_name) == {"outer_before.txt", "inner.txt", "outer_after.txt"}
    assert by_name["outer_before.txt"] == by_name["outer_after.txt"] != by_name["inner.txt"]


def test_unhashable_path_objects_never_break_open(fshell) -> None:  # noqa: ANN001
    fshell.run(
        "import os\n"
        "class P:\n"
        "    __hash__ = None\n"
        "    def __init__(self, p): self.p = p\n"
        "    def __fspath__(self): return self.p\n"
        "    def __eq__(self, other): return False\n"
        "import io\n"
        "with io.FileIO(P('odd.txt'), 'w') as f:\n"
        "    f.write(b'odd')\n"
    )
    assert ("odd.txt", "write") in fshell.files()


def test_unload_removes_the_watcher(fshell) -> None:  # noqa: ANN001
    fshell.run("%unload_ext lineage_magic")
    assert watcher._dispatch.watchers == () and watcher._dispatch.sinks is None
    fshell.run("with open('after.txt', 'w') as f: f.write('x')")
    fshell.run("%load_ext lineage_magic")


def test_each_cell_records_the_content_it_saw_even_when_the_next_cell_changes_it(fshell) -> None:  # noqa: ANN001
    (fshell.workdir / "s.txt").write_text("seen by the first cell")
    fshell.run("with open('s.txt') as f: first = f.read()")
    fshell.run("with open('s.txt', 'w') as f: f.write('rewritten by the second')")
    v0, v1 = fshell.history("s.txt")
    assert v0.sha256 == hashlib.sha256(b"seen by the first cell").hexdigest() and v0.read_by and v0.external
    assert v1.sha256 == hashlib.sha256(b"rewritten by the second").hexdigest() and v1.written_by


def test_every_cell_that_reads_or_writes_a_version_is_linked_to_it(fshell) -> None:  # noqa: ANN001
    (fshell.workdir / "in.csv").write_text("a\n1\n")
    first = "with open('in.csv') as f: rows = f.read().splitlines()"
    again = "import pathlib\nheader = pathlib.Path('in.csv').read_text().splitlines()[0]"
    write = "pathlib.Path('out.csv').write_text(header + '\\n')"
    for code in (first, "n = len(rows)", again, write):
        fshell.run(code)
    (external,) = fshell.history("in.csv")
    (written,) = fshell.history("out.csv")
    with lm.Session(fshell.url) as ss:
        def sources(accesses) -> list[str]:  # noqa: ANN001
            return [ss.get(lm.Cell, a.cell_id).source for a in accesses]

        assert external.external and sources(external.read_by) == [first, again]
        assert sources(written.written_by) == [write] and written.read_by == ()
        reader = ss.get(lm.Cell, external.read_by[1].cell_id)
        assert [a.id for a in reader.files_read] == [external.artifact_id] and reader.files_written == []
        writer = ss.get(lm.Cell, written.written_by[0].cell_id)
        assert [a.id for a in writer.files_written] == [written.artifact_id] and writer.files_read == []
