"""The watcher's pure parts: classifying open events and the ignore rules."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from lineage_magic.files import watcher
from lineage_magic.files.watcher import CellTouches, IgnoreRules, Segment, classify, default_ignore_rules

def test_paths_are_resolved_per_cwd_and_deduplicated() -> None:
    touches = CellTouches("k", [
        Segment("/w", reads={"a.txt", "/abs/d", 7}, writes={"b.txt", b"c.bin"}),
        Segment("/w/sub", writes={"../a.txt", "e"}),
        Segment(None, reads={"f", "./f"}),
    ], "/end")
    found = {(t.path, t.read, t.written) for t in classify(touches, IgnoreRules(()))}
    assert found == {
        ("/w/a.txt", True, True), ("/w/b.txt", False, True), ("/w/c.bin", False, True),
        ("/abs/d", True, False), ("/w/sub/e", False, True), ("/end/f", True, False),
    }


def test_open_flags_decide_the_direction(tmp_path) -> None:  # noqa: ANN001
    seen = _capture(tmp_path, lambda: (
        open(tmp_path / "r", "w").close(),
        open(tmp_path / "r", "rb").close(),
        open(tmp_path / "a", "a").close(),
        open(tmp_path / "p", "w+").close(),
        os.close(os.open(tmp_path / "o", os.O_RDWR | os.O_CREAT)),
        os.close(os.open(tmp_path / "o", os.O_RDONLY)),
    ))
    names = lambda paths: {os.path.basename(os.fspath(p)) for p in paths}  # noqa: E731
    assert names(seen.reads) == {"r", "o"}
    assert names(seen.writes) == {"r", "a", "p", "o"}


def _capture(tmp_path, action) -> Segment:  # noqa: ANN001
    segment = Segment(str(tmp_path))
    watcher._install_hook()
    watcher._set_sinks(segment.reads, segment.writes)
    try:
        action()
    finally:
        with watcher._lock:
            watcher._publish()
    return segment


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
    def action() -> None:
        with watcher.quiet(), open(tmp_path / "ours", "w"):
            pass
        with open(tmp_path / "theirs", "w"):
            pass
        thread = threading.Thread(target=lambda: (watcher.mark_quiet(), open(tmp_path / "worker", "w").close()))
        thread.start()
        thread.join()

    seen = _capture(tmp_path, action)
    assert {os.path.basename(os.fspath(p)) for p in seen.writes | seen.reads} == {"theirs"}


def test_a_failing_sink_never_breaks_open(tmp_path) -> None:  # noqa: ANN001
    def broken(path: object) -> None:
        raise RuntimeError("boom")

    watcher._install_hook()
    errors = watcher.hook_errors()
    watcher._set_sinks(broken, broken)
    try:
        with open(tmp_path / "f", "w") as f:
            f.write("still works")
    finally:
        with watcher._lock:
            watcher._publish()
    assert (tmp_path / "f").read_text() == "still works"
    assert watcher.hook_errors() == errors  # no watcher recording: the slow path had nothing to do


def test_exotic_paths_and_flags_go_the_careful_way(tmp_path) -> None:  # noqa: ANN001
    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

        def __init__(self, path: str) -> None:
            self.path = path

        def __fspath__(self) -> str:
            return self.path

    class Flags(int):
        pass

    def action() -> None:
        import io

        with io.FileIO(Unhashable(str(tmp_path / "odd")), "w") as f:
            f.write(b"x")
        fd = os.open(tmp_path / "sub", Flags(os.O_WRONLY | os.O_CREAT))
        os.close(fd)

    errors = watcher.hook_errors()
    recording = watcher.FileWatcher(IgnoreRules(()))
    try:
        recording.begin("k")
        action()
        touches = recording.end("k")
    finally:
        recording.close()
    assert touches is not None
    written = {os.path.basename(t.path) for t in classify(touches, IgnoreRules(())) if t.written}
    assert written == {"odd", "sub"}
    assert watcher.hook_errors() == errors


def test_the_c_hook_is_used_when_built() -> None:
    from lineage_magic.files import _build

    built = any(_build.HERE.glob("_audit*.so")) or any(_build.HERE.glob("_audit*.pyd"))
    forced = os.environ.get("LINEAGE_MAGIC_AUDIT_HOOK", "").lower() == "python"
    if not built or forced:
        pytest.skip("the C audit hook is not built here (python lineage_magic/files/_build.py)")
    assert watcher.hook_kind() == "c"


def test_the_python_hook_passes_the_same_tests() -> None:
    """When the C hook is in use here, run these tests again with the Python hook, in a child."""
    if watcher.hook_kind() != "c":
        pytest.skip("this process already tests the Python hook")
    env = {**os.environ, "LINEAGE_MAGIC_AUDIT_HOOK": "python"}
    recording = os.path.join(os.path.dirname(__file__), "test_files_recording.py")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, recording, "-k", "not python_hook"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
