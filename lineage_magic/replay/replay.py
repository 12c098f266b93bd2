"""Replay a recorded run in a fresh kernel and compare it with what was recorded.

``replay`` exports the run to a temporary notebook, executes it with nbclient
in a new kernel that loads the extension through its command line (the
notebook itself is not edited), records the execution as a new run with
``replay_of`` set, and compares the two runs cell by cell.
"""

from __future__ import annotations

import html
import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from .. import context
from ..exceptions import InvalidQueryError, InvalidURLError, RecordNotFoundError
from ..store.engine import Store
from ..store.models import Cell, Run, new_id
from ..recorder.process_writer import FINISH_LINGER_S
from ..store.urls import ENV_VAR
from .compare import DEFAULT_MASKS, Mask, apply_masks, check_masks, output_diff, render_outputs
from .export import CellRef, ExportedRun, build_notebook, collect, write_notebook
from .progress import Progress
from .records import CellRecord, RunRef, input_files, library_versions, load_cells, produced_artifacts

DEFAULT_TIMEOUT = 600
WRITER_FINISH_S = FINISH_LINGER_S + 5.0
KERNEL_NAME = "python3"
# Cells whose output is the lineage store itself: it necessarily differs in a replay.
_STORE_VIEW_PREFIXES = ("%lineage", "%%lineage", "%load_ext lineage_magic", "%reload_ext lineage_magic")


@dataclass(frozen=True, slots=True)
class CellComparison:
    """One exported cell: how it ran when recorded and when replayed."""

    seq: int
    execution_count: int | None
    cell_id: str
    replay_cell_id: str | None
    source: str
    recorded_status: str
    replayed_status: str | None
    matched: bool
    diff: str = ""
    outputs_compared: bool = True

    @property
    def first_line(self) -> str:
        """The first non-blank line of the source."""
        return next((line.strip() for line in self.source.splitlines() if line.strip()), "")


@dataclass(frozen=True, slots=True)
class ArtifactComparison:
    """An artifact both runs produced under one name: same value hash or not."""

    kind: str
    name: str
    recorded_sha256: str | None
    replayed_sha256: str | None

    @property
    def same(self) -> bool:
        """True when both hashes are known and equal."""
        return self.recorded_sha256 is not None and self.recorded_sha256 == self.replayed_sha256


@dataclass(frozen=True, slots=True)
class VersionChange:
    """A library version or input file hash that differs between two runs (None: absent)."""

    name: str
    before: str | None
    after: str | None


@dataclass
class ReplayReport:
    """The outcome of a replay: matched and differing cells, artifacts, libraries, inputs."""

    run_id: str
    replay_run_id: str | None
    cells: list[CellComparison] = field(default_factory=list)
    artifacts: list[ArtifactComparison] = field(default_factory=list)
    libraries: list[VersionChange] = field(default_factory=list)
    input_files: list[VersionChange] = field(default_factory=list)
    masks_used: list[str] = field(default_factory=list)
    problem: str | None = None
    duration_s: float = 0.0

    @property
    def matched(self) -> list[CellComparison]:
        """Cells whose status and masked outputs are the same."""
        return [c for c in self.cells if c.matched]

    @property
    def differing(self) -> list[CellComparison]:
        """Cells whose status or masked outputs differ (or that did not run)."""
        return [c for c in self.cells if not c.matched]

    @property
    def errored(self) -> list[CellComparison]:
        """Cells that raised (or did not run) in the replay."""
        return [c for c in self.cells if c.replayed_status != "ok"]

    @property
    def first_divergence(self) -> CellComparison | None:
        """The first cell, in execution order, that differs."""
        return next((c for c in self.cells if not c.matched), None)

    @property
    def artifacts_differing(self) -> list[ArtifactComparison]:
        """Artifacts both runs produced whose value hashes differ."""
        return [a for a in self.artifacts if not a.same]

    @property
    def reproduced(self) -> bool:
        """Every cell matched, every shared artifact has the same hash, nothing went wrong."""
        return (self.problem is None and self.replay_run_id is not None
                and not self.differing and not self.artifacts_differing)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: the fields plus the summary properties."""
        data = asdict(self)
        data["reproduced"] = self.reproduced
        data["matched_count"] = len(self.matched)
        data["differing_count"] = len(self.differing)
        data["errored_count"] = len(self.errored)
        first = self.first_divergence
        data["first_divergence"] = (
            {"seq": first.seq, "execution_count": first.execution_count, "source": first.first_line}
            if first else None
        )
        return data

    def summary_lines(self) -> list[str]:
        """The report as lines of text, without the diffs."""
        verdict = "reproduced" if self.reproduced else "NOT reproduced"
        lines = [f"replay of run {self.run_id} as run {self.replay_run_id or '-'}: {verdict}"]
        if self.problem:
            lines.append(f"problem: {self.problem}")
        lines.append(f"cells: {len(self.matched)} matched, {len(self.differing)} differing, "
                     f"{len(self.errored)} errored in the replay (of {len(self.cells)})")
        first = self.first_divergence
        if first is not None:
            lines.append(f"first divergence: seq {first.seq} (In [{first.execution_count}]): {first.first_line}")
        if self.artifacts:
            lines.append(f"artifacts: {len(self.artifacts)} compared, {len(self.artifacts_differing)} differ"
                         + "".join(f"; {a.kind} {a.name}: {_short(a.recorded_sha256)} -> {_short(a.replayed_sha256)}"
                                   for a in self.artifacts_differing))
        for change in self.libraries:
            lines.append(f"library {change.name}: {change.before or '-'} -> {change.after or '-'}")
        for change in self.input_files:
            lines.append(f"input file changed {change.name}: {_short(change.before)} -> {_short(change.after)}")
        if self.masks_used:
            lines.append(f"masked: {', '.join(self.masks_used)}")
        return lines

    def __str__(self) -> str:
        parts = self.summary_lines()
        for cell in self.differing:
            parts.append(f"\n--- seq {cell.seq} (In [{cell.execution_count}]) {cell.first_line} "
                         f"[{cell.recorded_status} -> {cell.replayed_status or 'not run'}]")
            if cell.diff:
                parts.append(cell.diff)
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        color = "#2e7d32" if self.reproduced else "#c62828"
        summary = "<br>".join(html.escape(line) for line in self.summary_lines())
        rows = "".join(
            f"<tr><td>{c.seq}</td><td>{c.execution_count if c.execution_count is not None else ''}</td>"
            f"<td>{html.escape(c.recorded_status)}</td><td>{html.escape(c.replayed_status or 'not run')}</td>"
            f"<td><code>{html.escape(c.first_line[:80])}</code></td>"
            f"<td><pre>{html.escape(c.diff)}</pre></td></tr>"
            for c in self.differing
        )
        table = (f"<table><thead><tr><th>seq</th><th>In</th><th>recorded</th><th>replayed</th>"
                 f"<th>source</th><th>diff</th></tr></thead><tbody>{rows}</tbody></table>") if rows else ""
        return (f"<div class='lineage-replay' style='border-left:4px solid {color};padding-left:8px'>"
                f"<p>{summary}</p>{table}</div>")

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": str(self), "text/html": self._repr_html_()}


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "-"


# -- execution -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NotebookRun:
    """A notebook executed with lineage recorded: the new run and how it went."""

    run_id: str | None
    cells: int
    errors: int
    notebook: Any
    problem: str | None = None


def _store_url(store: Store) -> Any:
    url = store.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        raise InvalidURLError("replay needs a lineage store another process can open, not an in-memory SQLite database")
    return url


def kernel_arguments(store: Store, *, notebook_path: str | None, run_name: str,
                     replay_of: str | None = None) -> tuple[list[str], dict[str, str]]:
    """Kernel command-line options that load the extension on ``store``, and its environment."""
    url = _store_url(store)
    args = ["--ext=lineage_magic", "--LineageMagic.quiet=True", f"--LineageMagic.run_name={run_name}"]
    env = dict(os.environ)
    if url.password:
        # Not on the command line, where any local user could read it.
        env[ENV_VAR] = url.render_as_string(hide_password=False)
    else:
        args.append(f"--LineageMagic.db_url={url.render_as_string(hide_password=False)}")
    if notebook_path:
        args.append(f"--LineageMagic.notebook_path={notebook_path}")
    if replay_of:
        args.append(f"--LineageMagic.replay_of={replay_of}")
    return args, env


def execute_notebook(nb: Any, *, store: Store, cwd: str | os.PathLike[str], notebook_path: str | None,
                     run_name: str, replay_of: str | None = None, timeout: int = DEFAULT_TIMEOUT,
                     allow_errors: bool = True, progress: bool = True, label: str = "replay",
                     kernel_name: str = KERNEL_NAME) -> NotebookRun:
    """Execute ``nb`` in place in a fresh kernel recording into ``store``; the run is found by name."""
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    from ._client import LineageClient

    if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
        raise InvalidQueryError(f"timeout must be a positive number of seconds, got {timeout!r}")
    args, env = kernel_arguments(store, notebook_path=notebook_path, run_name=run_name, replay_of=replay_of)
    code_cells = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    bar = Progress(len(code_cells), label=label, enabled=progress)
    client = LineageClient(
        nb, timeout=timeout, kernel_name=kernel_name, allow_errors=allow_errors, interrupt_on_timeout=True,
        extra_arguments=args, resources={"metadata": {"path": str(cwd)}},
        on_cell_executed=bar.cell_executed, serve_writer=True,
    )
    problem = None
    try:
        client.execute(env=env)
    except CellExecutionError as err:
        problem = _first_line(str(err)) or "a cell raised"
    except (CellTimeoutError, DeadKernelError) as err:
        problem = f"{type(err).__name__}: {_first_line(str(err))}"
    finally:
        if client.writer is not None and not client.writer.finish(WRITER_FINISH_S):
            problem = problem or "some lineage records could not be written: the store is unreachable"
    errors = sum(
        1 for c in code_cells for out in c.get("outputs", []) if out.get("output_type") == "error"
    )
    bar.close(ok=problem is None and errors == 0)
    with store.session() as session:
        run_id = session.scalars(select(Run.id).where(Run.name == run_name)).first()
    if run_id is None and problem is None:
        problem = "the kernel did not record a run: is lineage_magic importable in kernel " + repr(kernel_name) + "?"
    return NotebookRun(run_id, len(code_cells), errors, nb, problem)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def run_notebook(path: str | os.PathLike[str], *, output: str | os.PathLike[str] | None = None,
                 timeout: int = DEFAULT_TIMEOUT, allow_errors: bool = False, progress: bool = True,
                 kernel_name: str = KERNEL_NAME, store: Store | None = None) -> NotebookRun:
    """Execute a notebook file headless with lineage recorded (cwd: its directory)."""
    import nbformat

    source = Path(path).expanduser()
    if not source.is_file():
        raise InvalidQueryError(f"no notebook at {str(source)!r}")
    try:
        nb = nbformat.read(str(source), as_version=4)
    except (OSError, ValueError) as err:
        raise InvalidQueryError(f"cannot read {str(source)!r} as a notebook: {_first_line(str(err))}") from None
    store = store or context.get_store()
    result = execute_notebook(
        nb, store=store, cwd=source.resolve().parent, notebook_path=str(source.resolve()),
        run_name=f"{source.stem[:200]}-{new_id(6)}", timeout=timeout, allow_errors=allow_errors,
        progress=progress, label=source.name, kernel_name=kernel_name,
    )
    if output is not None:
        write_notebook(nb, output)
    return result


def replay(run: RunRef, *, upto: Any = None, cells: Iterable[CellRef] | None = None,
           timeout: int = DEFAULT_TIMEOUT, progress: bool = True, store: Store | None = None,
           masks: Sequence[Mask] = DEFAULT_MASKS, kernel_name: str = KERNEL_NAME) -> ReplayReport:
    """Re-execute a recorded run in a fresh kernel, record it, and compare it with the original."""
    masks = check_masks(masks)
    store = store or context.get_store()
    _store_url(store)
    started = time.perf_counter()
    exported = collect(run, upto=upto, cells=cells, store=store)
    if not exported.cells:
        raise RecordNotFoundError(f"run {exported.run_id} has no recorded cells to replay")
    # Built by us from checked parts and only executed: schema validation is 0.1 s per 200 cells.
    nb = build_notebook(exported, validate=False)
    for cell in nb.cells:
        cell.outputs = []
        cell.execution_count = None
    original_dir = Path(exported.transform_path).expanduser().parent if exported.transform_path else None
    with tempfile.TemporaryDirectory(prefix="lineage-replay-") as scratch:
        cwd = original_dir if original_dir is not None and original_dir.is_dir() else Path(scratch)
        result = execute_notebook(
            nb, store=store, cwd=cwd, notebook_path=exported.transform_path,
            run_name=f"replay-{new_id(12)}", replay_of=exported.run_id, timeout=timeout,
            progress=progress, kernel_name=kernel_name,
        )
    report = compare_runs(exported, result.run_id, store=store, masks=masks)
    report.problem = result.problem
    report.duration_s = time.perf_counter() - started
    return report


def replay_here(shell: Any, run: RunRef, *, upto: Any = None, cells: Iterable[CellRef] | None = None,
                masks: Sequence[Mask] = DEFAULT_MASKS, store: Store | None = None) -> ReplayReport:
    """Run a recorded run's cells in this shell, in order, and compare with what was recorded."""
    from ..lineage import active_recorder

    masks = check_masks(masks)
    recorder = active_recorder()
    started = time.perf_counter()
    store = store or recorder.store or context.get_store()
    exported = collect(run, upto=upto, cells=cells, store=store)
    recorder.flush()
    with store.session() as session:
        before = session.scalars(
            select(Cell.seq).where(Cell.run_id == recorder.run_id).order_by(Cell.seq.desc()).limit(1)
        ).first()
    problem = None
    for cell, cell_id in zip(exported.cells, exported.cell_ids):
        result = shell.run_cell(cell.source, store_history=True, cell_id=cell_id)
        if isinstance(result.error_in_exec, KeyboardInterrupt):
            problem = "interrupted"
            break
    if not recorder.flush(timeout=30.0):
        problem = problem or "the recorder could not write every replayed cell"
    report = compare_runs(exported, recorder.run_id, store=store, masks=masks,
                          after_seq=-1 if before is None else before)
    report.problem = problem
    report.duration_s = time.perf_counter() - started
    return report


# -- comparison ------------------------------------------------------------


def _is_store_view(source: str) -> bool:
    first = next((line.strip() for line in source.splitlines() if line.strip()), "")
    return first.startswith(_STORE_VIEW_PREFIXES)


def compare_cell(recorded: CellRecord, replayed: CellRecord | None, cell_id: str,
                 masks: Sequence[Mask] = DEFAULT_MASKS, used: set[str] | None = None) -> CellComparison:
    """Compare one recorded cell with its replay: status, error, masked outputs."""
    if replayed is None:
        return CellComparison(recorded.seq, recorded.execution_count, recorded.id, None, recorded.source,
                              recorded.status, None, False, "(not run in the replay)")
    compare_outputs = not _is_store_view(recorded.source)
    if compare_outputs:
        before = apply_masks(render_outputs(recorded.outputs, recorded.status, recorded.error_type,
                                            recorded.error_message), masks, used)
        after = apply_masks(render_outputs(replayed.outputs, replayed.status, replayed.error_type,
                                           replayed.error_message), masks, used)
        diff = output_diff(before, after)
    else:
        diff = "" if recorded.status == replayed.status else f"status {recorded.status} -> {replayed.status}"
    matched = recorded.status == replayed.status and not diff
    return CellComparison(recorded.seq, recorded.execution_count, recorded.id, replayed.id, recorded.source,
                          recorded.status, replayed.status, matched, diff, compare_outputs)


def compare_runs(exported: ExportedRun, replay_run_id: str | None, *, store: Store,
                 masks: Sequence[Mask] = DEFAULT_MASKS, after_seq: int = -1) -> ReplayReport:
    """Compare the exported cells with a replay run's cells (matched by notebook cell id)."""
    report = ReplayReport(exported.run_id, replay_run_id)
    used: set[str] = set()
    replayed_by_id: dict[str, CellRecord] = {}
    with store.session() as session:
        if replay_run_id is not None:
            for cell in load_cells(session, replay_run_id, top_level=False):
                if cell.seq > after_seq and cell.notebook_cell_id and cell.notebook_cell_id not in replayed_by_id:
                    replayed_by_id[cell.notebook_cell_id] = cell
            report.artifacts = _compare_artifacts(session, exported.run_id, replay_run_id)
            report.libraries = _compare_libraries(session, exported.run_id, replay_run_id)
            report.input_files = _compare_inputs(session, exported.run_id, replay_run_id)
    for recorded, cell_id in zip(exported.cells, exported.cell_ids):
        report.cells.append(compare_cell(recorded, replayed_by_id.get(cell_id), cell_id, masks, used))
    report.masks_used = [name for name, _, _ in masks if name in used]
    return report


def _compare_artifacts(session: Any, run_a: str, run_b: str) -> list[ArtifactComparison]:
    before = produced_artifacts(session, run_a)
    after = produced_artifacts(session, run_b)
    return [
        ArtifactComparison(kind, name, before[(kind, name)].sha256, after[(kind, name)].sha256)
        for kind, name in sorted(before.keys() & after.keys())
    ]


def _compare_libraries(session: Any, run_a: str, run_b: str) -> list[VersionChange]:
    return version_changes(library_versions(session, run_a), library_versions(session, run_b))


def version_changes(before: dict[str, str | None], after: dict[str, str | None]) -> list[VersionChange]:
    """Names whose version differs, or that only one side has."""
    return [
        VersionChange(name, before.get(name), after.get(name))
        for name in sorted(before.keys() | after.keys())
        if before.get(name) != after.get(name)
    ]


def _compare_inputs(session: Any, run_a: str, run_b: str) -> list[VersionChange]:
    before = input_files(session, run_a)
    after = input_files(session, run_b)
    return [
        VersionChange(path, before[path].sha256, after[path].sha256)
        for path in sorted(before.keys() & after.keys())
        if before[path].sha256 != after[path].sha256
    ]


__all__ = [
    "ReplayReport", "CellComparison", "ArtifactComparison", "VersionChange", "NotebookRun",
    "replay", "replay_here", "run_notebook", "execute_notebook", "compare_runs", "compare_cell",
    "kernel_arguments",
]
