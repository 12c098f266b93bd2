"""Which files a cell opened: one audit hook per process, one watcher per shell.

Audit hooks cannot be removed, so the first watcher installs a single hook
and every watcher registers with it while one of its cells executes. The
hook does almost nothing: it compares the event name, checks that some cell
is recording and that the current thread is not one of ours, and adds the
opened path to the recording cell's set of reads or of writes (chosen by the
open flags). Only the path is kept, never the event's tuple: thousands of
retained tuples would make the garbage collector walk IPython's large heap
again and again. Paths are resolved and filtered later, off the user's
thread.

The hook is C (``_audit.c``, added with ``PySys_AddAuditHook``) when that
module is built, else the Python function ``_audit`` below (added with
``sys.addaudithook``). Both record the same events; they differ in cost.
CPython's dispatch to a ``sys.addaudithook`` hook, before the hook runs a
single line, costs about a tenth of opening, reading and closing a small
file; a C hook skips that dispatch. ``LINEAGE_MAGIC_AUDIT_HOOK=python``
chooses the Python hook even when the C one is built.

Hashing runs on one worker thread per watcher, shortly after the cell (so
that it does not compete with the kernel's reply for the GIL); a cell that
starts before the previous cells' files are hashed waits for them first, so
that the content recorded is the content those cells saw, not what this
cell makes of it.

An audit hook that raises aborts the operation it audits (the user's
``open``), so nothing may escape it: the only call that can fail (hashing an
exotic path object) falls back to a slower path, and whatever fails there is
counted, not raised.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import site
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple

log = logging.getLogger(__name__)

MAX_HASH_BYTES = 100 * 2**20
"""Files larger than this are recorded with size and mtime only (no sha256)."""

HASH_WAIT_S = 600.0
"""How long the writer waits for a cell's files to be hashed before giving up on them."""

START_DELAY_S = 0.03
"""Hashing starts this long after the cell, unless the next cell starts first."""

BARRIER_S = 10.0
"""The longest a cell waits, at its start, for the files of the cells before it to be hashed."""

# Reads of these are the import system loading code, not data.
IMPORT_SUFFIXES = (".py", ".pyc", ".pyo", ".so", ".pyd", ".pth")
SYSTEM_PREFIXES = ("/proc/", "/dev/", "/sys/")

# Any of these in the open flags means the file is (also) written.
_WRITE_FLAGS = os.O_ACCMODE | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_SQLITE_FILE = re.compile(r"^sqlite(\+\w+)?:///(?P<path>[^?]*)")


def _load_c_hook() -> Any:
    """The compiled hook module, or None (not built, or the Python hook chosen)."""
    if os.environ.get("LINEAGE_MAGIC_AUDIT_HOOK", "").strip().lower() == "python":
        return None
    try:
        from . import _audit  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _audit


class _Dispatch:
    """The hook's only state: where events go now (None when no cell records)."""

    __slots__ = ("sinks", "watchers", "installed", "errors", "c")

    def __init__(self) -> None:
        # (add a read path, add a written path) of the recording cell(s).
        self.sinks: tuple[Callable[[Any], None], Callable[[Any], None]] | None = None
        self.watchers: tuple[FileWatcher, ...] = ()
        self.installed = False
        self.errors = 0
        self.c: Any = _load_c_hook()


# Process-wide by necessity: audit hooks are process-wide and cannot be removed.
_dispatch = _Dispatch()
_quiet = threading.local()
_lock = threading.Lock()


def _audit(event: str, args: tuple[Any, ...], _dispatch: _Dispatch = _dispatch,
           _quiet: threading.local = _quiet, _write_flags: int = _WRITE_FLAGS) -> None:
    # Defaults bind the globals once: this runs for every audit event in the process.
    if event == "open":
        sinks = _dispatch.sinks
        if sinks is not None and not _quiet.__dict__:
            try:
                sinks[1 if args[2] & _write_flags else 0](args[0])
            except Exception:  # noqa: BLE001 - raising here would abort the user's open()
                _slow_open(args)
    elif event == "os.chdir" or event == "os.rename":
        if _dispatch.sinks is not None and not _quiet.__dict__:
            try:
                for watcher in _dispatch.watchers:
                    watcher._on_event(event, args)
            except Exception:  # noqa: BLE001 - raising here would abort the user's call
                _dispatch.errors += 1


def _c_fallback(event: str, args: tuple[Any, ...]) -> None:
    """What the C hook hands over: os.chdir, os.rename, and opens it could not add."""
    if event == "open":
        _slow_open(args)
        return
    try:
        for watcher in _dispatch.watchers:
            watcher._on_event(event, args)
    except Exception:  # noqa: BLE001 - raising here would abort the user's call
        _dispatch.errors += 1


def _slow_open(args: tuple[Any, ...]) -> None:
    """An unhashable path object, or flags that are not an int: the careful way."""
    try:
        path = os.fspath(args[0])
        for watcher in _dispatch.watchers:
            watcher._on_event("open", (path, args[1], args[2]))
    except Exception:  # noqa: BLE001 - raising here would abort the user's open()
        _dispatch.errors += 1


def _install_hook() -> None:
    with _lock:
        if _dispatch.installed:
            return
        if _dispatch.c is not None:
            try:
                _dispatch.c.install(_WRITE_FLAGS, _c_fallback)
            except Exception as err:  # noqa: BLE001 - the Python hook records the same events
                log.warning("lineage_magic: C audit hook unavailable (%r); using the Python hook", err)
                _dispatch.c = None
        if _dispatch.c is None:
            sys.addaudithook(_audit)
        _dispatch.installed = True


def hook_kind() -> str:
    """Which audit hook records opens in this process: "c" or "python"."""
    return "c" if _dispatch.c is not None else "python"


def _set_sinks(reads: Any, writes: Any) -> None:
    """Send open paths to ``reads`` / ``writes`` (sets, or callables taking a path); None: nowhere."""
    if reads is None or writes is None:
        _dispatch.sinks = None
    else:
        _dispatch.sinks = (reads.add if isinstance(reads, set) else reads,
                           writes.add if isinstance(writes, set) else writes)
    if _dispatch.c is not None:
        _dispatch.c.set_sinks(reads, writes)


def _publish() -> None:
    """Point the hook at the recording watchers' current sets (call under _lock)."""
    watchers = tuple(w for w in _dispatch.watchers if w._stack)
    _dispatch.watchers = watchers
    if not watchers:
        _set_sinks(None, None)
    elif len(watchers) == 1:
        segment = watchers[0]._stack[-1].segments[-1]
        _set_sinks(segment.reads, segment.writes)
    else:
        segments = [w._stack[-1].segments[-1] for w in watchers]

        def read(path: Any) -> None:
            for segment in segments:
                segment.reads.add(path)

        def write(path: Any) -> None:
            for segment in segments:
                segment.writes.add(path)

        _set_sinks(read, write)


def mark_quiet() -> None:
    """Never record opens made by the current thread (our writer and hashing threads)."""
    _quiet.on = True
    if _dispatch.c is not None:
        _dispatch.c.set_quiet(True)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Do not record opens made by this thread inside the block."""
    was = _quiet.__dict__.get("on")
    mark_quiet()
    try:
        yield
    finally:
        if was is None:
            del _quiet.on
            if _dispatch.c is not None:
                _dispatch.c.set_quiet(False)


def hook_errors() -> int:
    """How many audit events the hook could not record (never raised to the user)."""
    return _dispatch.errors + (_dispatch.c.errors() if _dispatch.c is not None else 0)


@dataclass
class Segment:
    """The paths a cell opened while in one working directory.

    ``cwd`` None: the directory the process is in when the segment ends. A
    cell's first segment starts that way, so that a cell does not pay for
    ``os.getcwd`` (a system call, which hands the GIL to the kernel's other
    threads) unless it changes directory or opens a file; so does the segment
    after an ``os.fchdir``, whose target is a descriptor.
    """

    cwd: str | None
    reads: set[Any] = field(default_factory=set)
    writes: set[Any] = field(default_factory=set)


@dataclass
class _CellFrame:
    key: str
    segments: list[Segment]


@dataclass
class CellTouches:
    """The raw paths one cell opened, handed from the user's thread to a worker."""

    key: str
    segments: list[Segment]
    end_cwd: str

    def __len__(self) -> int:
        return sum(len(s.reads) + len(s.writes) for s in self.segments)


class Touch(NamedTuple):
    """A file a cell opened, resolved to an absolute path, and how it used it."""

    path: str
    read: bool
    written: bool


@dataclass
class IgnoreRules:
    """Paths that are never user data: the interpreter, IPython, Jupyter, our store."""

    prefixes: tuple[str, ...]
    import_suffixes: tuple[str, ...] = IMPORT_SUFFIXES

    def ignored(self, path: str, *, read_only: bool) -> bool:
        """Whether an open of ``path`` (absolute, normalised) is ours or the system's."""
        if path.startswith(self.prefixes):
            return True
        return read_only and path.endswith(self.import_suffixes)


def default_ignore_rules(store_paths: Iterable[str | os.PathLike[str]] = (),
                         cwd: str | None = None) -> IgnoreRules:
    """Ignore rules for this interpreter, plus the given lineage store files and dirs."""
    cwd = cwd or _cwd()
    here = os.path.abspath(cwd) + os.sep if cwd else None
    broad: list[str] = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    narrow: list[str] = []
    paths = sysconfig.get_paths()
    narrow.extend(paths[name] for name in ("stdlib", "platstdlib", "purelib", "platlib", "include", "platinclude")
                  if name in paths)
    with contextlib.suppress(AttributeError):
        narrow.extend(site.getsitepackages())
    with contextlib.suppress(AttributeError):
        narrow.append(site.getusersitepackages())
    narrow.extend(_tool_dirs())
    prefixes: list[str] = []
    for entry in broad:
        directory = _as_dir(entry)
        # A prefix that contains the working directory (sys.prefix=/usr/local, a
        # project in /usr/local/src) would hide the user's own files.
        if directory and not (here and here.startswith(directory)):
            prefixes.append(directory)
    prefixes.extend(d for d in map(_as_dir, narrow) if d)
    prefixes.extend(SYSTEM_PREFIXES)
    prefixes.append(os.path.join(tempfile.gettempdir(), "ipykernel_"))
    for entry in store_paths:
        text = os.path.abspath(os.fspath(entry))
        if os.path.isdir(text):
            text = _as_dir(text) or text
        # A file prefix also covers SQLite's -wal, -shm and -journal files.
        prefixes.append(text)
    return IgnoreRules(tuple(dict.fromkeys(p for p in prefixes if p)))


def _as_dir(path: str | None) -> str | None:
    if not path:
        return None
    text = os.path.normpath(os.path.abspath(os.path.expanduser(path)))
    if text == os.sep:
        return None
    return text + os.sep


def _tool_dirs() -> list[str]:
    """IPython's, Jupyter's and matplotlib's own directories."""
    dirs: list[str] = []
    try:
        from IPython.paths import get_ipython_dir

        dirs.append(get_ipython_dir())
    except ImportError:
        log.debug("IPython not importable; its directory is not ignored")
    try:
        from jupyter_core import paths as jpaths

        dirs.extend([jpaths.jupyter_runtime_dir(), jpaths.jupyter_config_dir(), jpaths.jupyter_data_dir()])
    except ImportError:
        log.debug("jupyter_core not importable; Jupyter's directories are not ignored")
    home = Path.home()
    dirs.extend(str(home / sub) for sub in (".cache/matplotlib", ".config/matplotlib", ".matplotlib", ".cache/fontconfig"))
    if os.environ.get("MPLCONFIGDIR"):
        dirs.append(os.environ["MPLCONFIGDIR"])
    return dirs


def classify(touches: CellTouches, rules: IgnoreRules) -> list[Touch]:
    """Resolve, filter and de-duplicate a cell's open events into files read / written."""
    found: dict[str, list[bool]] = {}
    for segment in touches.segments:
        base = segment.cwd if segment.cwd is not None else touches.end_cwd
        for written, raw_paths in ((False, segment.reads), (True, segment.writes)):
            for raw in raw_paths:
                path = _path_text(raw)
                if path is None:
                    continue
                if not os.path.isabs(path):
                    path = os.path.join(base, path)
                path = os.path.normpath(path)
                if rules.ignored(path, read_only=not written):
                    continue
                seen = found.setdefault(path, [False, False])
                seen[1 if written else 0] = True
    return [Touch(path, read, written) for path, (read, written) in found.items()]


def _path_text(raw: Any) -> str | None:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, int):
        return None  # open(fd): the os.open that made the fd was seen already
    try:
        return os.fsdecode(raw)
    except (TypeError, ValueError):
        return None


def _is_write(mode: Any, flags: Any) -> bool:
    if isinstance(flags, int):
        return (flags & os.O_ACCMODE) != os.O_RDONLY or bool(flags & (os.O_CREAT | os.O_TRUNC | os.O_APPEND))
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    return False


class FileWatcher:
    """Collects the files each recorded cell of one shell opens, for the recorder."""

    def __init__(self, rules: IgnoreRules, *, max_hash_bytes: int = MAX_HASH_BYTES) -> None:
        # Imported here, on the user's thread: the hashing thread must never
        # be the first to import a module. (The writer's modules, and with
        # them SQLAlchemy, are the writer's business.)
        from .hashing import Hasher

        self.rules = rules
        self.hasher = Hasher(max_hash_bytes)
        self.failures = 0
        self._stack: list[_CellFrame] = []
        self._pool: ThreadPoolExecutor | None = None
        self._last: Future[list[Any]] | None = None
        self._hurry = threading.Event()
        self.barrier_waits = 0
        self.barrier_wait_s = 0.0
        self._closed = False
        _install_hook()

    @classmethod
    def for_recorder(cls, recorder: Any, url: str) -> FileWatcher:
        """A watcher for a recorder that ignores its store (SQLite file, blob dir, home)."""
        from ..store.urls import default_home

        store_paths: list[str] = [str(default_home())]
        match = _SQLITE_FILE.match(str(url))
        if match and match["path"] and match["path"] != ":memory:":
            db = os.path.abspath(os.path.expanduser(match["path"]))
            store_paths += [db, os.path.join(os.path.dirname(db), "blobs")]
        if getattr(recorder, "blob_dir", ""):
            store_paths.append(os.path.expanduser(recorder.blob_dir))
        limit = getattr(recorder, "max_hash_bytes", MAX_HASH_BYTES)
        return cls(default_ignore_rules(store_paths), max_hash_bytes=limit)

    # -- user thread -------------------------------------------------------

    def begin(self, key: str) -> None:
        """Start recording the opens of cell ``key`` (nested cells stack)."""
        if self._closed:
            return
        self._barrier()
        if self._stack and self._stack[-1].segments[-1].cwd is None:
            # A cell run from a cell: the outer one's opens so far were made here.
            self._stack[-1].segments[-1].cwd = _cwd()
        self._stack.append(_CellFrame(key, [Segment(None)]))
        with _lock:
            if self not in _dispatch.watchers:
                _dispatch.watchers = (*_dispatch.watchers, self)
            _publish()

    def _barrier(self) -> None:
        """Wait until earlier cells' files are hashed, before this cell can change them."""
        last = self._last
        if last is None or last.done():
            return
        self.barrier_waits += 1
        self._hurry.set()
        started = time.perf_counter()
        try:
            _, pending = wait([last], timeout=BARRIER_S)
        finally:
            self._hurry.clear()
            self.barrier_wait_s += time.perf_counter() - started
        if pending:
            self.failures += 1
            log.warning("lineage_magic: files of earlier cells still being hashed after %.0f s; "
                        "their recorded content may include this cell's changes", BARRIER_S)

    def end(self, key: str) -> CellTouches | None:
        """Stop recording cell ``key``; its raw events, or None if it opened nothing."""
        index = next((i for i in range(len(self._stack) - 1, -1, -1) if self._stack[i].key == key), None)
        if index is None:
            return None
        frame = self._stack[index]
        del self._stack[index:]
        if self._stack:
            # The outer cell goes on, perhaps in the directory the inner one moved to.
            self._stack[-1].segments.append(Segment(None))
        with _lock:
            _publish()
        # Copies: a thread of the cell may still be adding to the live sets.
        segments = [Segment(s.cwd, set(s.reads), set(s.writes)) for s in frame.segments if s.reads or s.writes]
        if not segments:
            return None
        return CellTouches(key, segments, _cwd() or "/")

    def write_item(self, touches: CellTouches, run_id: str) -> FilesItem:
        """Start hashing a cell's files now; a writer item that records them."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="lineage-files", initializer=mark_quiet)
        future: Future[list[Any]] = self._pool.submit(self._prepare, touches)
        self._last = future
        return FilesItem(self, future, run_id, touches.key)

    def close(self) -> None:
        """Stop recording; hashing already started still finishes for the writer."""
        self._closed = True
        self._hurry.set()
        self._stack.clear()
        with _lock:
            _dispatch.watchers = tuple(w for w in _dispatch.watchers if w is not self)
            _publish()
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    # -- any thread (from the audit hook) -----------------------------------

    def _on_event(self, event: str, args: tuple[Any, ...]) -> None:
        if not self._stack:
            return
        segment = self._stack[-1].segments[-1]
        if event == "open":
            (segment.writes if _is_write(args[1], args[2]) else segment.reads).add(args[0])
        elif event == "os.rename":
            segment.writes.add(_path_text(args[1]))
        elif event == "os.chdir":
            # Raised before the change: the directory the segment ends in is still current.
            if segment.cwd is None:
                segment.cwd = _cwd()
            target = _path_text(args[0])
            cwd = segment.cwd
            if target is not None and cwd is not None:
                new_cwd: str | None = os.path.normpath(os.path.join(cwd, target))
            else:
                new_cwd = None  # fchdir: read when this new segment ends
            self._stack[-1].segments.append(Segment(new_cwd))
            with _lock:
                _publish()

    # -- hashing thread ----------------------------------------------------

    def _prepare(self, touches: CellTouches) -> list[Any]:
        from .hashing import FileAccess

        # Let the kernel send the cell's reply first: this thread competing for
        # the GIL would delay it by up to a switch interval per acquisition.
        self._hurry.wait(START_DELAY_S)
        accesses = []
        for touch in classify(touches, self.rules):
            state = self.hasher.state(touch.path)
            if state is None:
                continue  # deleted again, a directory, a device: not a data file
            accesses.append(FileAccess(touch.path, touch.read, touch.written, state.sha256, state.size, state.mtime))
        return accesses


class FilesItem:
    """A writer item for one cell's files: waits for their hashes, then records them.

    A writer in another process gets ``resolve()``'s result instead: the
    hashing is done here, in the kernel, and only plain data crosses.
    """

    __slots__ = ("watcher", "future", "run_id", "cell_key")

    def __init__(self, watcher: FileWatcher, future: Future[list[Any]], run_id: str, cell_key: str) -> None:
        self.watcher = watcher
        self.future = future
        self.run_id = run_id
        self.cell_key = cell_key

    def resolve(self) -> WriteFiles | None:
        """The accesses to write once hashed; None if hashing failed (logged and counted)."""
        try:
            accesses = self.future.result(timeout=HASH_WAIT_S)
        except FutureTimeout:
            self.watcher.failures += 1
            log.error("lineage_magic: hashing the files of cell %s took too long; not recorded", self.cell_key)
            return None
        except Exception as err:  # noqa: BLE001 - a bug here must not stop the writer
            self.watcher.failures += 1
            log.error("lineage_magic: could not inspect the files of cell %s: %r", self.cell_key, err, exc_info=err)
            return None
        return WriteFiles(self.run_id, self.cell_key, accesses)

    def __call__(self, conn: Any) -> None:
        mark_quiet()
        write = self.resolve()
        if write is not None:
            write(conn)


@dataclass(frozen=True, slots=True)
class WriteFiles:
    """Record a cell's file reads and writes (plain data: it may cross to the writer process)."""

    run_id: str
    cell_key: str
    accesses: list[Any]

    def __call__(self, conn: Any) -> None:
        from .writes import write_file_accesses

        write_file_accesses(conn, self.run_id, self.cell_key, self.accesses)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as rows of plain values, each mtime as an integer (a datetime
        # pickles slowly): this runs on the kernel's side, where every
        # millisecond holds the user's GIL.
        rows = [(a.path, a.read, a.written, a.sha256, a.size, (a.mtime - _EPOCH) // _MICROSECOND)
                for a in self.accesses]
        return (_write_files_from_rows, (self.run_id, self.cell_key, rows))


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def _write_files_from_rows(run_id: str, cell_key: str, rows: list[tuple[Any, ...]]) -> WriteFiles:
    from .hashing import FileAccess

    accesses = [FileAccess(path, read, written, sha256, size, _EPOCH + _MICROSECOND * mtime)
                for path, read, written, sha256, size, mtime in rows]
    return WriteFiles(run_id, cell_key, accesses)


def _cwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:
        return None


__all__ = [
    "MAX_HASH_BYTES", "CellTouches", "FileWatcher", "IgnoreRules", "Touch", "classify",
    "default_ignore_rules", "hook_errors", "hook_kind", "mark_quiet", "quiet",
]
