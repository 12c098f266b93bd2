"""The per-shell recorder: configuration, the run, and the cell hooks.

It never rewrites, traces or re-executes the user's code. ``pre_run_cell``
notes the start; ``post_run_cell`` analyses the source (cached), takes cheap
facts from the namespace, and hands plain rows to the writer (a child
process by default, ``process_writer``; a thread with ``writer_process=False``).
Any failure inside the hooks is contained: logged, counted, reported once,
and after repeated failures the recorder switches itself off.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import os
import platform
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from traitlets import Bool, Int, Unicode, observe
from traitlets.config import Configurable

from .. import context
from ..analysis import CellAnalysis, DependencyTracker, analyze_cell
from ..ids import new_cell_id, new_id, node_id
from ..store.urls import check_url_shape, mask_text, resolve_url
from . import capture
from .items import CellItem, FinishRun, StartRun
from .libraries import reported_version
from .notebook import notebook_path, transform_name
from .parse_tap import ParseTap
from .staleness import Staleness
from .process_writer import ProcessWriter
from .writer import BackgroundWriter

if TYPE_CHECKING:
    from ..store.engine import Store

log = logging.getLogger(__name__)

MAX_NODES_PER_CELL = 5000
MAX_ANALYZED_SOURCE = 1_000_000
MAX_HOOK_FAILURES = 3
_OPAQUE_MARKERS = ("%", "!", "import *", "exec(", "eval(", "globals()", "vars(", "__dict__")


@dataclass(slots=True)
class _Frame:
    """What pre_run_cell saw, kept until the matching post_run_cell."""

    key: str
    raw: str
    cell_id: str | None
    started_at: datetime
    t0: float
    snapshot: dict[str, int] | None
    # display_data sent while the cell ran: (position among IPython's own outputs, bundle)
    displays: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


class LineageMagic(Configurable):
    """Records every cell of one IPython shell into a lineage store."""

    db_url = Unicode(
        "", config=True,
        help="Database URL of the lineage store (default: $LINEAGE_MAGIC_DB_URL, "
             "else ~/.lineage_magic/lineage.db). An explicit %lineage connect wins.",
    )
    enabled = Bool(True, config=True, help="Record cells as soon as the extension loads.")
    quiet = Bool(False, config=True, help="Do not print the one-line notice at load.")
    max_queue = Int(100_000, config=True, help="Records held in memory while the store is unreachable.")
    max_value_bytes = Int(100 * 2**20, config=True, help="Largest artifact value to store, in bytes.")
    inline_value_bytes = Int(256 * 2**10, config=True, help="Values up to this size are kept inside the database; larger ones in blob_dir.")
    blob_dir = Unicode("", config=True, help="Directory for large artifact values (default: beside the SQLite file, or ~/.lineage_magic/blobs).")
    allow_pickle = Bool(False, config=True, help="Allow loading pickled artifact values (pickle can run code).")
    max_hash_bytes = Int(100 * 2**20, config=True, help="Files larger than this are recorded with size and mtime only, unhashed.")
    notebook_path = Unicode("", config=True, help="Path of the notebook being run, when the front end does not say.")
    run_name = Unicode("", config=True, help="A name for the recorded run.")
    replay_of = Unicode("", config=True, help="Id of the run this kernel replays (set by lineage replay).")
    writer_process = Bool(
        True, config=True,
        help="Write records from a child process (on another core, without SQLAlchemy in the kernel); "
             "False writes from a thread of the kernel. An in-memory SQLite store always uses the thread.",
    )
    writer_pipe = Unicode(
        "", config=True,
        help="'W,R': inherited pipe ends of a writer served by this kernel's launcher "
             "(lineage replay, lineage-magic run); used by the first run only. Empty: start a writer process.",
    )

    def __init__(self, shell: Any, **kwargs: Any) -> None:
        super().__init__(parent=shell, config=shell.config, **kwargs)
        self.shell = shell
        self.run_id: str | None = None
        self.store_url: str | None = None
        self.writer: BackgroundWriter | ProcessWriter | None = None
        self.tracker = DependencyTracker()
        self.parse_tap = ParseTap(shell)
        self.paused = not self.enabled
        self.hook_failures = 0
        self.disabled_reason: str | None = None
        self._stack: list[_Frame | None] = []
        self._seq = 0
        self._written_sources: set[str] = set()
        self._recorded_libraries: set[str] = set()
        self._runtime_nodes: dict[tuple[str, str], str] = {}
        self._after_cell: dict[str, list[Callable[[Any], None]]] = {}
        self.staleness = Staleness(self.tracker)
        self._warned: str | None = None
        self._hooks: list[tuple[str, Callable[..., None]]] = []
        self.files: Any = None  # lineage_magic.files.FileWatcher while recording

    # -- lifecycle ---------------------------------------------------------

    def start(self, url: str | None = None) -> None:
        """Choose the store, start a run, and register the cell hooks.

        The store is opened (and SQLAlchemy imported) by the writer, a child
        process by default, so loading the extension costs the user's
        notebook almost nothing; a store that cannot be opened is reported
        on the next cell.
        """
        target = resolve_url(url, self.db_url or None)
        check_url_shape(target)
        self.store_url = mask_text(target)
        context.choose(target)
        self.writer = None
        inherited = _inherited_pipe(self.writer_pipe)
        self.writer_pipe = ""  # a later run (%lineage connect) starts its own
        if self.writer_process and not _in_memory(target):
            try:
                self.writer = ProcessWriter(target, max_queue=self.max_queue, inherited=inherited)
            except OSError as err:
                log.warning("lineage_magic: cannot start the writer process (%s); writing from a thread", err)
        elif inherited is not None:
            _close_fds(inherited)  # not used: let the writer started for us see its end
        if self.writer is None:
            _import_writer_modules(target)
            self.writer = BackgroundWriter(lambda: context.open_store(target), max_queue=self.max_queue)
        from ..files.watcher import FileWatcher

        self.files = FileWatcher.for_recorder(self, target)
        context.register_flusher(self)
        self._begin_run()
        publisher = getattr(self.shell, "display_pub", None)
        if hasattr(publisher, "register_hook"):
            # ipykernel keeps no history of display_data: watch it go by.
            publisher.register_hook(self._on_display)
        for event, callback in (("pre_run_cell", self.pre_run_cell), ("post_run_cell", self.post_run_cell)):
            self.shell.events.register(event, callback)
            self._hooks.append((event, callback))
        self.parse_tap.install()
        if not self.quiet:
            print(f"lineage_magic: recording run {self.run_id} into {self.store_url}")

    def _begin_run(self) -> None:
        path = notebook_path(self.shell.user_ns, self.notebook_path)
        self.run_id = new_id(20)
        self._seq = 0
        self.tracker.reset()
        self.staleness.reset()
        self._runtime_nodes.clear()
        self._recorded_libraries.clear()
        start = StartRun(
            id=self.run_id,
            handle=_user_handle(),
            transform_name=transform_name(path),
            transform_path=path,
            transform_type="notebook" if path and path.endswith(".ipynb") else "session",
            started_at=_now(),
            python_version=platform.python_version(),
            host=socket.gethostname(),
            pid=os.getpid(),
            replay_of_id=self.replay_of or None,
            name=self.run_name or None,
        )
        assert self.writer is not None
        self.writer.put(start, preamble=True)

    def finish(self, status: str = "finished", timeout: float = 10.0) -> bool:
        """Finish the run, write everything queued, and stop the writer."""
        if self.files is not None:
            self.files.close()
            self.files = None
        for event, callback in self._hooks:
            try:
                self.shell.events.unregister(event, callback)
            except ValueError:
                log.debug("hook %s was already unregistered", event)
        self._hooks.clear()
        self.parse_tap.remove()
        publisher = getattr(self.shell, "display_pub", None)
        if hasattr(publisher, "unregister_hook"):
            publisher.unregister_hook(self._on_display)
        context.unregister_flusher(self)
        if self.writer is None:
            return True
        if self.run_id is not None:
            self.writer.put(FinishRun(self.run_id, status))
        done = self.writer.close(timeout)
        self.writer = None
        return done

    def finish_at_exit(self) -> None:
        """Kernel shutdown: mark the run finished and write what is queued."""
        if self.writer is not None and not self.finish(timeout=10.0):
            log.warning("lineage_magic: some records could not be written before exit")

    def connect(self, url: str) -> None:
        """Finish the current run and continue recording a new run into ``url``."""
        # Open it first: a URL that is malformed or unreachable changes nothing.
        context.open_store(url)
        self.finish()
        self.start(url)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything recorded so far is in the database."""
        return self.writer.flush(timeout) if self.writer is not None else True

    @property
    def store(self) -> Store | None:
        """The store the writer writes to, once open."""
        return self.writer.store if self.writer is not None else None

    @observe("db_url")
    def _db_url_changed(self, change: dict[str, Any]) -> None:
        if getattr(self, "writer", None) is not None and change["new"]:
            self.connect(change["new"])

    # -- hooks -------------------------------------------------------------

    def pre_run_cell(self, info: Any) -> None:
        """Note when a cell starts (and snapshot names for opaque cells)."""
        try:
            raw = info.raw_cell if isinstance(info.raw_cell, str) else ""
            if self.paused or getattr(info, "silent", False) or not getattr(info, "store_history", True):
                self._stack.append(None)
                return
            snapshot = None
            if any(marker in raw for marker in _OPAQUE_MARKERS):
                snapshot = _namespace_ids(self.shell)
            self._stack.append(
                _Frame(new_cell_id(), raw, getattr(info, "cell_id", None), _now(), time.perf_counter(), snapshot)
            )
            if self.files is not None:
                self.files.begin(self._stack[-1].key)
        except Exception as err:  # noqa: BLE001 - the user's cell must run regardless
            self._hook_failed(err)

    def post_run_cell(self, result: Any) -> None:
        """Record the finished cell and hand it to the writer."""
        try:
            self._report_degraded()
            frame = self._stack.pop() if self._stack else self._frame_from_result(result)
            touched = self.files.end(frame.key) if frame is not None and self.files is not None else None
            if frame is None or self.paused or self.writer is None:
                return
            self._record(frame, result, depth=len(self._stack))
            if touched is not None:
                self.writer.put(self.files.write_item(touched, self.run_id))
        except Exception as err:  # noqa: BLE001 - the user's cell must run regardless
            self._hook_failed(err)

    def after_cell(self, cell_key: str, item: Callable[[Any], None]) -> None:
        """Queue a write to run once the cell ``cell_key`` itself is written."""
        self._after_cell.setdefault(cell_key, []).append(item)

    def current_cell_source(self) -> str | None:
        """The raw source of the cell now executing."""
        for frame in reversed(self._stack):
            if frame is not None:
                return frame.raw
        return None

    def current_cell_id(self) -> str | None:
        """The id the cell now executing will be recorded under."""
        for frame in reversed(self._stack):
            if frame is not None:
                return frame.key
        return None

    def _on_display(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Note a display_data message of the running cell; always pass it on."""
        try:
            frame = next((f for f in reversed(self._stack) if f is not None), None)
            if frame is not None and msg.get("header", {}).get("msg_type") == "display_data":
                count = self.shell.execution_count - 1
                before = _history_outputs(self.shell, count)
                frame.displays.append((len(before or ()), msg.get("content", {}).get("data", {})))
        except Exception as err:  # noqa: BLE001 - a display must never be lost because of us
            self._hook_failed(err)
        return msg

    def _frame_from_result(self, result: Any) -> _Frame | None:
        """A post without a pre (an empty cell, or hooks added mid-cell)."""
        info = getattr(result, "info", None)
        raw = getattr(info, "raw_cell", None)
        if not isinstance(raw, str) or not raw.strip() or getattr(info, "silent", False):
            return None
        return _Frame(new_cell_id(), raw, getattr(info, "cell_id", None), _now(), time.perf_counter(), None)

    def _record(self, frame: _Frame, result: Any, depth: int) -> None:
        duration_ms = (time.perf_counter() - frame.t0) * 1000.0
        shell = self.shell
        error = getattr(result, "error_before_exec", None) or getattr(result, "error_in_exec", None)
        if error is None:
            status = "ok"
        elif isinstance(error, KeyboardInterrupt):
            status = "interrupted"
        else:
            status = "error"
        error_type, error_message = capture.error_facts(error)
        execution_count = getattr(result, "execution_count", None)

        source = _clean_text(frame.raw)
        source_id = hashlib.sha256(source.encode("utf-8")).hexdigest()
        code = None
        if source_id not in self._written_sources:
            self._written_sources.add(source_id)
            code = source

        cell_key = frame.key
        analysis = self._analyze(frame, result)
        runtime_defined: list[str] = []
        runtime_deleted: list[str] = []
        if frame.snapshot is not None:
            runtime_defined, runtime_deleted = _namespace_changes(frame.snapshot, _namespace_ids(shell), analysis)
        failed_at = None
        if getattr(result, "error_in_exec", None) is not None:
            failed_at = capture.failed_line(result.error_in_exec, shell.user_ns) or 1
        elif getattr(result, "error_before_exec", None) is not None:
            failed_at = 0
        deps = self.tracker.process(
            cell_key, analysis, failed_at_line=failed_at,
            runtime_defined=runtime_defined, runtime_deleted=runtime_deleted,
        )

        cell_row = {
            "id": cell_key, "run_id": self.run_id, "seq": self._seq, "execution_count": execution_count,
            "notebook_cell_id": (frame.cell_id or None) and str(frame.cell_id)[:64],
            "source_code_id": source_id, "started_at": frame.started_at, "duration_ms": duration_ms,
            "status": status, "error_type": error_type, "error_message": error_message,
            "error_line": failed_at,
            "outputs": capture.summarize_outputs(_history_outputs(shell, execution_count), frame.displays),
            "depth": depth,
        }
        self._seq += 1
        node_rows, import_modules = self._node_rows(cell_key, analysis, runtime_defined)
        edge_rows = self._edge_rows(cell_key, analysis, deps)
        parents = [p for p in deps.parents if isinstance(p, str) and p != cell_key]
        new_modules = [m for m in import_modules if m.split(".")[0] not in self._recorded_libraries]
        self._recorded_libraries.update(m.split(".")[0] for m in new_modules)
        tops = {m.split(".")[0] for m in new_modules}
        reported = {top: version for top in tops if (version := reported_version(top)) is not None}
        self.writer.put(CellItem(  # type: ignore[union-attr]
            cell_row, source_id, code, node_rows, edge_rows, parents, new_modules, self.run_id, source, reported,
        ))
        for item in self._after_cell.pop(cell_key, ()):
            self.writer.put(item)  # type: ignore[union-attr]
        self.staleness.observe(cell_key, frame.cell_id or source_id, analysis, deps)

    def _analyze(self, frame: _Frame, result: Any) -> CellAnalysis:
        info = getattr(result, "info", None)
        transformed = getattr(info, "transformed_cell", None)
        if not isinstance(transformed, str):
            try:
                transformed = self.shell.transform_cell(frame.raw)
            except Exception:  # noqa: BLE001 - IPython-only syntax: fall back to the raw text
                transformed = frame.raw
        if len(transformed) > MAX_ANALYZED_SOURCE:
            return analyze_cell("\x00")  # unparseable on purpose: recorded as opaque, no nodes
        return analyze_cell(transformed, self.parse_tap.take(transformed))

    def _node_rows(self, cell_key: str, analysis: CellAnalysis, runtime_defined: list[str]) -> tuple[list[list[Any]], list[str]]:
        """The cell's nodes as ``NODE_FIELDS`` lists, in position order, and its imported modules."""
        user_ns = self.shell.user_ns
        nodes = analysis.nodes[:MAX_NODES_PER_CELL]
        rows: list[list[Any]] = []
        modules: list[str] = []
        last_write: dict[str, int] = {}
        for node in nodes:
            kind = node.kind
            if kind == "import" and node.module:
                modules.append(node.module)
            if kind == "definition" or kind == "mutation" or kind == "import":
                last_write[node.name] = len(rows)
            rows.append([
                kind, node.name[:255], node.lineno, node.col_offset, node.end_lineno, node.end_col_offset,
                (node.module or None) and node.module[:255], list(node.args) or None, None, None, None, None,
            ])
        for name in runtime_defined:
            self._runtime_nodes[(cell_key, name)] = node_id(cell_key, len(rows))
            last_write[name] = len(rows)
            rows.append(["definition", name[:255], None, None, None, None, None, None, None, None, None, None])
        missing = object()
        for name, row_index in last_write.items():
            value = user_ns.get(name, missing)
            if value is missing:
                continue
            summary = capture.summarize(value)
            rows[row_index][8:] = summary.type, summary.repr, summary.len, summary.shape
        return rows, modules

    def _edge_rows(self, cell_key: str, analysis: CellAnalysis, deps: Any) -> list[tuple[str, int]]:
        """The cell's incoming edges as (source node id, target node position)."""
        rows = []
        seen = set()
        limit = min(len(analysis.nodes), MAX_NODES_PER_CELL)
        for edge in deps.edges:
            if edge.target >= limit:
                continue
            source_cell, source_index = edge.source
            if source_index < 0:
                source_id = self._runtime_nodes.get((source_cell, analysis.nodes[edge.target].name))
                if source_id is None:
                    continue
            elif source_index >= MAX_NODES_PER_CELL:
                continue
            else:
                source_id = node_id(source_cell, source_index)
            key = (source_id, edge.target)
            if key in seen:
                continue
            seen.add(key)
            rows.append(key)
        return rows

    # -- failure containment -----------------------------------------------

    def _hook_failed(self, err: BaseException) -> None:
        self.hook_failures += 1
        log.error("lineage_magic hook failed (%d): %r", self.hook_failures, err, exc_info=err)
        if self.hook_failures == 1:
            print(f"lineage_magic: recording problem ({type(err).__name__}); your cell ran normally", file=sys.stderr)
        if self.hook_failures >= MAX_HOOK_FAILURES and not self.paused:
            self.paused = True
            self.disabled_reason = f"{self.hook_failures} hook failures, last: {type(err).__name__}: {err}"
            print("lineage_magic: recording switched off after repeated failures; see %lineage status", file=sys.stderr)

    def _report_degraded(self) -> None:
        writer = self.writer
        if writer is None:
            return
        problem = writer.degraded
        if problem and self._warned is None:
            print(f"lineage_magic: lineage store unavailable, records kept in memory until it is back ({problem})", file=sys.stderr)
            self._warned = problem
        elif not problem and self._warned is not None:
            self._warned = None
        notice = writer.take_notice()
        if notice:
            print(f"lineage_magic: {notice}", file=sys.stderr)


def _in_memory(url: str) -> bool:
    """A SQLite database only this process can see (no file)."""
    head, _, rest = url.partition("://")
    return head.lower().startswith("sqlite") and rest.split("?")[0] in ("", "/", "/:memory:")


def _inherited_pipe(text: str) -> tuple[int, int] | None:
    """The two file descriptors of ``writer_pipe``, or None (empty or malformed: start a writer)."""
    if not text:
        return None
    try:
        write_fd, read_fd = (int(part) for part in text.split(","))
    except ValueError:
        log.warning("lineage_magic: ignoring writer_pipe=%r (expected two file descriptors 'W,R')", text)
        return None
    return (write_fd, read_fd) if write_fd >= 0 and read_fd >= 0 else None


def _close_fds(fds: tuple[int, ...]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def _import_writer_modules(url: str) -> None:
    """Import what the writer thread will use, here on the user's thread.

    Two threads importing the same package at once can see it half
    initialized; the writer must find everything imported already.
    """
    from sqlalchemy.exc import ArgumentError

    from ..files import writes as file_writes  # noqa: F401
    from ..store import engine, writes  # noqa: F401
    from ..store.urls import parse_url

    try:
        dialect = parse_url(url).get_dialect()
        dialect.import_dbapi()
    except (ArgumentError, ImportError, ValueError) as err:
        # Reported by the writer when it tries to open the store.
        log.debug("cannot preload the driver for %s: %s", mask_text(url), err)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _user_handle() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def _clean_text(text: str) -> str:
    """Text every database accepts: no NUL bytes, no lone surrogates."""
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _hidden_names(shell: Any) -> set[str]:
    return set(getattr(shell, "user_ns_hidden", {}) or {})


def _namespace_ids(shell: Any) -> dict[str, int]:
    hidden = _hidden_names(shell)
    return {k: id(v) for k, v in shell.user_ns.items() if not k.startswith("_") and k not in hidden}


def _namespace_changes(before: dict[str, int], after: dict[str, int], analysis: CellAnalysis) -> tuple[list[str], list[str]]:
    static = analysis.defines if analysis.ok else frozenset()
    defined = [k for k, v in after.items() if before.get(k) != v and k not in static]
    deleted = [k for k in before if k not in after]
    return defined, deleted


def _history_outputs(shell: Any, execution_count: int | None) -> list[Any] | None:
    manager = getattr(shell, "history_manager", None)
    outputs = getattr(manager, "outputs", None)
    if outputs is None or execution_count is None:
        return None
    return outputs.get(execution_count)


def find_recorder(shell: Any) -> LineageMagic | None:
    """The recorder attached to a shell, if the extension is loaded there."""
    for configurable in getattr(shell, "configurables", []):
        if isinstance(configurable, LineageMagic):
            return configurable
    return None


__all__ = ["LineageMagic", "find_recorder", "node_id"]
