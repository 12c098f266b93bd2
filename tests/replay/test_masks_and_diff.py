"""Output masks (pure) and run diffs (recorded in real kernels)."""

from __future__ import annotations

from pathlib import Path

import pytest
from replay_helpers import record, write_notebook

import lineage_magic as lm
from lineage_magic.exceptions import RecordNotFoundError
from lineage_magic.replay import DEFAULT_MASKS, RunDiff, apply_masks, diff
from lineage_magic.replay.diff import diff_cells
from lineage_magic.replay.records import CellRecord
from lineage_magic.store.engine import Store
from lineage_magic.store.models import Library


@pytest.mark.parametrize(("text", "name"), [
    ("<__main__.A object at 0x7f3a1c2b9d10>", "memory-address"),
    ("<ExecutionResult object at 7f5e84b49f90, execution_count=3>", "object-at"),
    ("Wall time: 1.23 ms", "wall-time"),
    ("CPU times: user 3 µs, sys: 1 µs, total: 4 µs", "cpu-times"),
    ("4.5 µs ± 12.3 ns per loop (mean ± std. dev. of 7 runs, 100,000 loops each)", "timeit"),
    ("datetime.datetime(2024, 5, 1, 12, 3, 4, 123456)", "datetime-repr"),
    ("now: 2024-05-01T12:03:04.123+00:00", "iso-datetime"),
    ("today is 2024-05-01", "iso-date"),
    ("at 12:03:04", "clock-time"),
    ("took 1.23 s", "duration"),
    ("took 123 ms", "duration"),
    ("wrote /tmp/pytest-of-me/x1/out.csv", "temp-path"),
    ("Overwriting helper.py", "writefile"),
    ("lineage_magic: recording run abc123 into sqlite:///x.db\n", "lineage-notice"),
])
def test_each_default_mask_hides_what_changes_between_runs(text: str, name: str) -> None:
    used: set[str] = set()
    masked = apply_masks(text, DEFAULT_MASKS, used)
    assert name in used and masked != text


def test_masks_leave_ordinary_output_alone() -> None:
    text = "total: 42\nratio 0.5\n['a', 'b']\nversion 1.2.3\n"
    used: set[str] = set()
    assert apply_masks(text, DEFAULT_MASKS, used) == text and used == set()


def _cell(seq: int, source: str, text: str = "") -> CellRecord:
    outputs = [{"output_type": "stream", "name": "stdout", "text": text}] if text else []
    return CellRecord(f"c{seq}", "r", seq, seq + 1, 0, None, "ok", None, None, outputs, source, source)


def test_diff_aligns_by_source_sequence() -> None:
    a = [_cell(0, "a = 1"), _cell(1, "b = 2"), _cell(2, "print(a)", "1\n"), _cell(3, "old()")]
    b = [_cell(0, "a = 1"), _cell(1, "inserted = 0"), _cell(2, "b = 2"), _cell(3, "print(a)", "2\n"),
         _cell(4, "new()")]
    result = diff_cells("A", "B", a, b)
    assert [c.source for c in result.added] == ["inserted = 0"]
    assert result.removed == []
    assert [(c.a.source, c.b.source) for c in result.changed] == [("old()", "new()")]
    assert "-old()" in result.changed[0].diff and "+new()" in result.changed[0].diff
    assert [c.a.seq for c in result.outputs_changed] == [2]
    assert result.unchanged == 2 and not result.identical


@pytest.mark.kernel
def test_diff_of_two_recorded_runs(store: Store, tmp_path: Path) -> None:
    first = record(write_notebook(tmp_path / "v1.ipynb", ["x = 1", "y = x + 1\nprint(y)", "print('bye')"]), store)
    second = record(write_notebook(tmp_path / "v2.ipynb", ["x = 1", "z = 0", "y = x + 2\nprint(y)"]), store)
    with lm.Session() as ss:
        ss.add([Library(run_id=first, name="fakelib", version="1.0"),
                Library(run_id=second, name="fakelib", version="1.1")])
    result = diff(first, second)
    assert isinstance(result, RunDiff)
    assert [c.source for c in result.added] == ["z = 0"]
    assert [c.source for c in result.removed] == ["print('bye')"]
    assert [(c.a.seq, c.b.seq) for c in result.changed] == [(1, 2)]
    assert "+y = x + 2" in result.changed[0].diff
    assert [(v.name, v.before, v.after) for v in result.libraries] == [("fakelib", "1.0", "1.1")]
    assert result.unchanged == 1
    assert set(result._repr_mimebundle_()) == {"text/plain", "text/html"}
    assert diff(first, first).identical
    with pytest.raises(RecordNotFoundError):
        diff(first, "missing-run")
