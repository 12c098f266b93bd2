"""The watcher's pure parts: classifying open events and the ignore rules."""

from __future__ import annotations

import os
import sys
import threading

from lineage_magic.files import watcher
from lineage_magic.files.watcher import CellTouches, IgnoreRules, classify, default_ignore_rules

R, W = os.O_RDONLY | os.O_CLOEXEC, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC


def _touches(*segments: tuple[str | None, list[tuple]]) -> CellTouches:
    return CellTouches("k", [(cwd, list(events)) for cwd, events in segments], "/end")


def test_flags_decide_direction_and_paths_are_resolved_per_cwd() -> None:
    touches = _touches(
        ("/w", [("a.txt", "r", R), ("b.txt", "w", W), (b"c.bin", None, os.O_RDWR), ("/abs/d", "r", R)]),
        ("/w/sub", [("../a.txt", "w", os.O_WRONLY | os.O_APPEND), ("e", "rename", None)]),
        (None, [("f", "r", R), (7, "r", R)]),
    )
    found = {(t.path, t.read, t.written) for t in classify(touches, IgnoreRules(()))}
    assert found == {
        ("/w/a.txt", True, True), ("/w/b.txt", False, True), ("/w/c.bin", False, True),
        ("/abs/d", True, False), ("/w/sub/e", False, True), ("/end/f", True, False),
    }


def test_ignore_rules_cover_the_interpreter_system_and_store(tmp_path) -> None:  # noqa: ANN001
    db = tmp_path / "lineage.db"
    rules = default_ignore_rules([db], cwd=str(tmp_path / "project"))
    assert rules.ignored(os.__file__, read_only=True)
    assert rules.ignored("/proc/self/status", read_only=True)
    assert rules.ignored(f"{db}-wal", read_only=False)
    assert rules.ignored(str(tmp_path / "project" / "mod.py"), read_only=True)  # an import
    assert not rules.ignored(str(tmp_path / "project" / "mod.py"), read_only=False)  # %%writefile
    assert not rules.ignored(str(tmp_path / "project" / "data.csv"), read_only=True)


def test_a_prefix_containing_the_working_directory_is_not_ignored() -> None:
    inside = os.path.join(sys.prefix, "project")
    rules = default_ignore_rules([], cwd=inside)
    assert not rules.ignored(os.path.join(inside, "data.csv"), read_only=True)


def test_quiet_threads_are_not_recorded(tmp_path) -> None:  # noqa: ANN001
    seen: set = set()
    watcher._install_hook()
    old = watcher._dispatch.sink
    watcher._dispatch.sink = seen.add
    try:
        with watcher.quiet(), open(tmp_path / "ours", "w"):
            pass
        with open(tmp_path / "theirs", "w"):
            pass
        thread = threading.Thread(target=lambda: (watcher.mark_quiet(), open(tmp_path / "worker", "w").close()))
        thread.start()
        thread.join()
    finally:
        watcher._dispatch.sink = old
    assert {os.path.basename(os.fspath(args[0])) for args in seen} == {"theirs"}


def test_a_failing_sink_never_breaks_open(tmp_path) -> None:  # noqa: ANN001
    def broken(args: tuple) -> None:
        raise RuntimeError("boom")

    watcher._install_hook()
    old, errors = watcher._dispatch.sink, watcher.hook_errors()
    watcher._dispatch.sink = broken
    try:
        with open(tmp_path / "f", "w") as f:
            f.write("still works")
    finally:
        watcher._dispatch.sink = old
    assert (tmp_path / "f").read_text() == "still works"
    assert watcher.hook_errors() == errors  # no watcher recording: the slow path had nothing to do
