"""replay: a recorded run re-executed in a fresh kernel, recorded, and compared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from replay_helpers import record, write_notebook

import lineage_magic as lm
from lineage_magic import context
from lineage_magic.exceptions import InvalidQueryError, InvalidURLError, RecordNotFoundError
from lineage_magic.replay import DEFAULT_MASKS, ReplayReport, replay, run_notebook
from lineage_magic.replay.export import collect
from lineage_magic.replay.replay import compare_runs
from lineage_magic.store.engine import Store
from lineage_magic.store.models import Artifact, Library, run_inputs

pytestmark = pytest.mark.kernel


def test_deterministic_notebook_is_reproduced_and_recorded_as_a_replay(store: Store, tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "stable.ipynb", [
        "import math\nprint(math.pi)",
        "class Point: pass\nPoint()",
        "%time total = sum(range(10_000))",
        "import tempfile\ntempfile.mkdtemp()",
        "{'total': total}",
    ])
    run_id = record(path, store)
    report = replay(run_id, progress=False)
    assert isinstance(report, ReplayReport)
    assert report.reproduced, str(report)
    assert len(report.matched) == 5 and report.differing == [] and report.errored == []
    assert report.first_divergence is None
    assert {"memory-address", "wall-time", "cpu-times", "temp-path"} <= set(report.masks_used)
    new_run = lm.select(lm.Run, id=report.replay_run_id).one()
    assert new_run.replay_of_id == run_id
    assert new_run.transform_id == lm.select(lm.Run, id=run_id).one().transform_id
    assert json.loads(json.dumps(report.to_dict()))["reproduced"] is True


def test_the_launcher_writes_the_kernels_records_and_the_api_store_stays_chosen(store: Store, tmp_path: Path) -> None:
    """run_notebook and replay serve the kernel's writer from this process: no writer process in the kernel."""
    probe = ("import os\nfrom lineage_magic.recorder import find_recorder\n"
             "print(type(find_recorder(get_ipython()).writer._proc).__name__, "
             "sum(1 for p in os.listdir('/proc') if p.isdigit() and "
             "open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()[1] == str(os.getpid())))")
    path = write_notebook(tmp_path / "served.ipynb", ["x = 1", probe, "y = x + 1"])
    result = run_notebook(path, store=store, progress=False, timeout=120)
    assert result.problem is None and result.errors == 0
    assert result.notebook.cells[1].outputs[0]["text"].split() == ["_Inherited", "0"]
    with lm.Session() as ss:
        run = ss.get(lm.Run, result.run_id)
        assert run.status == "finished" and [c.source for c in run.cells] == ["x = 1", probe, "y = x + 1"]
    report = replay(result.run_id, progress=False)
    assert report.reproduced, str(report)
    assert lm.select(lm.Run, id=report.replay_run_id).one().status == "finished"
    assert context.get_store() is store  # serving the kernel did not change the API's store


def test_the_launcher_analyses_the_cells_ahead_and_the_kernel_records_them_from_those(store: Store, tmp_path: Path) -> None:
    """While the kernel boots, run_notebook analyses its cells and sends the analyses down the writer's pipe."""
    later = ["data = [3, 1, 2]", "data.sort()\ntotal = sum(data)", "%time doubled = [2 * v for v in data]"]
    probe = ("from lineage_magic.analysis import cell as _cell\n"
             f"print([get_ipython().transform_cell(s) in _cell._cache for s in {later!r}])")
    path = write_notebook(tmp_path / "ahead.ipynb", [probe, *later])
    result = run_notebook(path, store=store, progress=False, timeout=120)
    assert result.problem is None and result.errors == 0
    # Before the later cells ran, the kernel had their analyses, magic cell included.
    assert result.notebook.cells[0].outputs[0]["text"].strip() == "[True, True, True]"
    with lm.Session() as ss:
        cells = ss.get(lm.Run, result.run_id).cells
        facts = [sorted((n.kind, n.name) for n in c.nodes if n.kind in ("definition", "mutation")) for c in cells[1:]]
    assert facts == [[("definition", "data")], [("definition", "total"), ("mutation", "data")],
                     [("definition", "doubled")]]


def test_analyses_from_another_version_or_unreadable_are_left_alone() -> None:
    import pickle

    from lineage_magic.analysis.cell import _cache
    from lineage_magic.recorder.ahead import analyses_message, take_analyses

    message = analyses_message(["never_analysed_here = 1  # ahead test"])
    assert message is not None and message[0] == "analyses"
    text = "never_analysed_here = 1  # ahead test\n"
    assert text not in _cache  # made for the kernel, not kept by the launcher
    assert take_analyses((message[0], ((2, 7), "0.0"), message[2])) == 0
    assert take_analyses((message[0], message[1], b"not a pickle")) == 0
    assert take_analyses((message[0], message[1], pickle.dumps(["not", "a", "mapping"]))) == 0
    assert take_analyses((message[0],)) == 0
    assert text not in _cache
    assert take_analyses(message) == 1 and _cache[text].defines == frozenset({"never_analysed_here"})


def test_unseeded_random_and_a_changed_input_file_diverge_at_the_right_cells(store: Store, tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("<v1>")
    path = write_notebook(tmp_path / "noisy.ipynb", [
        "import random",
        "text = open('data.txt').read()\nprint(text)",
        "print('stable')",
        "random.random()",
    ])
    run_id = record(path, store)
    (tmp_path / "data.txt").write_text("<v2>")
    report = replay(run_id, progress=False)
    assert not report.reproduced
    assert report.first_divergence is not None
    assert (report.first_divergence.seq, report.first_divergence.first_line) == (1, "text = open('data.txt').read()")
    assert [c.seq for c in report.differing] == [1, 3]
    assert [c.seq for c in report.matched] == [0, 2]
    assert "-<v1>" in report.differing[0].diff and "+<v2>" in report.differing[0].diff
    bundle = report._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert "&lt;v1&gt;" in bundle["text/html"] and "<v1>" not in bundle["text/html"]
    assert "first divergence: seq 1" in bundle["text/plain"]


def test_a_cell_that_errors_only_in_the_replay(store: Store, tmp_path: Path) -> None:
    (tmp_path / "input.csv").write_text("a,b\n")
    path = write_notebook(tmp_path / "fragile.ipynb", ["rows = open('input.csv').read()", "len(rows)"])
    run_id = record(path, store)
    (tmp_path / "input.csv").unlink()
    report = replay(run_id, progress=False)
    assert [c.seq for c in report.errored] == [0, 1]
    assert report.first_divergence.seq == 0
    assert "FileNotFoundError" in report.differing[0].diff


def test_replay_of_writefile_and_run(store: Store, tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "magics.ipynb", [
        "%%writefile helper.py\nVALUE = 41\nprint('helper ran')",
        "%run helper.py",
        "VALUE + 1",
    ])
    run_id = record(path, store)
    report = replay(run_id, progress=False)
    assert report.reproduced, str(report)
    assert "writefile" in report.masks_used  # "Overwriting helper.py" the second time
    cells = lm.select(lm.Cell, run_id=report.replay_run_id).order_by(lm.Cell.seq).all()
    assert [c.outputs for c in cells][1:] == [
        [{"output_type": "stream", "name": "stdout", "text": "helper ran\n"}],
        [{"output_type": "execute_result", "mime": ["text/plain"], "text": "42"}],
    ]


def test_replay_upto_and_custom_masks(store: Store, tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "partial.ipynb", ["import random\nx = 2", "x * 21", "random.random()"])
    run_id = record(path, store)
    report = replay(run_id, upto=2, progress=False)
    assert report.reproduced and len(report.cells) == 2
    floats = [*DEFAULT_MASKS, ("unit-float", r"\b0\.\d+\b", "<float>")]
    report = replay(run_id, masks=floats, progress=False)
    assert report.reproduced and "unit-float" in report.masks_used
    with pytest.raises(InvalidQueryError, match="invalid regex"):
        replay(run_id, masks=[("bad", "(", "")], progress=False)


def test_artifact_value_hashes_are_compared(store: Store, tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "values.ipynb", [
        "import random\nfrom pathlib import Path\nimport lineage_magic as lm\n"
        "from lineage_magic.values import save_value\n"
        "def save(name, obj):\n"
        "    with lm.Session() as ss:\n"
        "        save_value(ss.orm, obj, name, run_id=lm.current_run().id, max_bytes=10**6,\n"
        "                   inline_max=10**6, blob_dir=Path('.'))",
        "save('stable', [1, 2, 3])",
        "save('noisy', random.random())",
    ])
    run_id = record(path, store)
    report = replay(run_id, progress=False)
    assert len(report.matched) == 3  # no cell output differs ...
    by_name = {a.name: a for a in report.artifacts}
    assert by_name["stable"].same and not by_name["noisy"].same
    assert not report.reproduced  # ... but a value does
    assert [a.name for a in report.artifacts_differing] == ["noisy"]


def test_library_versions_and_input_file_hashes_that_changed(store: Store, tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "libs.ipynb", ["import json\njson.dumps([1])"])
    run_id = record(path, store)
    report = replay(run_id, progress=False)
    assert report.libraries == [] and report.input_files == []
    replay_id = report.replay_run_id
    with lm.Session() as ss:
        for rid, version, digest in ((run_id, "1.0", "a" * 64), (replay_id, "2.0", "b" * 64)):
            ss.add(Library(run_id=rid, name="fakelib", version=version))
            artifact = Artifact(kind="file", name="/data/in.csv", path="/data/in.csv", sha256=digest,
                                version=0 if rid == run_id else 1)
            ss.add(artifact)
            ss.flush()
            ss.orm.execute(run_inputs.insert().values(run_id=rid, artifact_id=artifact.id))
    report = compare_runs(collect(run_id, store=store), replay_id, store=store)
    assert [(v.name, v.before, v.after) for v in report.libraries] == [("fakelib", "1.0", "2.0")]
    assert [(v.name, v.before, v.after) for v in report.input_files] == [("/data/in.csv", "a" * 64, "b" * 64)]
    assert "library fakelib: 1.0 -> 2.0" in str(report)


def test_replay_runs_in_a_temp_dir_when_the_notebook_dir_is_gone(store: Store, tmp_path: Path) -> None:
    work = tmp_path / "gone"
    work.mkdir()
    path = write_notebook(work / "cwd.ipynb", ["import os\nos.path.basename(os.getcwd()).startswith('lineage-replay-')"])
    run_id = record(path, store)
    path.unlink()
    work.rmdir()
    report = replay(run_id, progress=False)
    replayed = lm.select(lm.Cell, id=report.cells[0].replay_cell_id).one()
    assert replayed.outputs[0]["text"] == "True"


def test_bad_input(store: Store, tmp_path: Path) -> None:
    with pytest.raises(RecordNotFoundError):
        replay("no-such-run", progress=False)
    with pytest.raises(InvalidURLError, match="in-memory"):
        replay("anything", store=Store("sqlite://"), progress=False)
    run_id = record(write_notebook(tmp_path / "t.ipynb", ["1"]), store)
    with pytest.raises(InvalidQueryError, match="timeout"):
        replay(run_id, timeout=0, progress=False)


def test_progress_prints_to_stderr_outside_a_kernel(store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_id = record(write_notebook(tmp_path / "p.ipynb", [f"x{i} = {i}" for i in range(12)]), store)
    capsys.readouterr()
    replay(run_id)
    err = capsys.readouterr().err
    assert "replay: 10/12 cells" in err and "replay: 12/12 cells" in err
