"""Subcommands of ``%lineage`` about the recorder and the records it wrote."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError

from .. import lineage
from ..session import select
from ..store.models import Cell, Run
from .output import Message, Table
from .parser import MagicArgumentParser

Command = Callable[[Any, list[str]], Any]
COMMANDS: dict[str, Command] = {}


def command(name: str) -> Callable[[Command], Command]:
    """Register a subcommand function under ``name``."""
    def register(func: Command) -> Command:
        COMMANDS[name] = func
        return func
    return register


def _no_args(name: str, args: list[str]) -> None:
    if args:
        raise UsageError(f"%lineage {name} takes no arguments, got {' '.join(args)!r}")


MAX_COUNT = 1_000_000


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"expected a positive whole number, got {text!r}") from None
    if not 1 <= value <= MAX_COUNT:
        raise UsageError(f"expected a positive whole number up to {MAX_COUNT}, got {text!r}")
    return value


@command("status")
def status(magics: Any, args: list[str]) -> Message:
    """What is recorded where, and how the writer is doing."""
    _no_args("status", args)
    rec = magics.recorder
    writer = rec.writer
    lines = [
        f"run:      {rec.run_id or '-'}",
        f"store:    {rec.store_url or '-'}",
        f"state:    {'paused' if rec.paused else 'recording' if writer else 'stopped'}"
        + (f" ({rec.disabled_reason})" if rec.disabled_reason else ""),
    ]
    if writer is not None:
        stats = writer.stats
        lines.append(f"queued:   {writer.pending()}")
        lines.append(f"written:  {stats.written} items in {stats.batches} batches")
        if writer.degraded:
            lines.append(f"problem:  {writer.degraded}")
        if stats.rejected or stats.dropped_full:
            lines.append(f"lost:     {stats.rejected} rejected, {stats.dropped_full} dropped (queue full)")
    if rec.hook_failures:
        lines.append(f"hook failures: {rec.hook_failures}")
    return Message("\n".join(lines))


@command("flush")
def flush(magics: Any, args: list[str]) -> Message:
    """Write everything queued now."""
    _no_args("flush", args)
    done = magics.recorder.flush(timeout=30.0)
    pending = magics.recorder.writer.pending() if magics.recorder.writer else 0
    return Message("lineage: all records written" if done else f"lineage: {pending} records still queued (store unavailable?)")


@command("pause")
def pause(magics: Any, args: list[str]) -> Message:
    """Stop recording cells until ``%lineage resume``."""
    _no_args("pause", args)
    magics.recorder.paused = True
    return Message("lineage: recording paused")


@command("resume")
def resume(magics: Any, args: list[str]) -> Message:
    """Record cells again."""
    _no_args("resume", args)
    rec = magics.recorder
    rec.paused = False
    rec.hook_failures = 0
    rec.disabled_reason = None
    return Message("lineage: recording resumed")


@command("connect")
def connect(magics: Any, args: list[str]) -> Message:
    """Finish this run and record into another database."""
    if len(args) != 1:
        raise UsageError("%lineage connect takes one URL, e.g. %lineage connect sqlite:///lineage.db")
    magics.recorder.connect(args[0])
    return Message(f"lineage: recording run {magics.recorder.run_id} into {magics.recorder.store_url}")


@command("help")
def help_(magics: Any, args: list[str]) -> Message:
    """The subcommands and what they do."""
    return Message(type(magics).lineage.__doc__ or "")


_runs_parser = MagicArgumentParser(prog="%lineage runs")
_runs_parser.add_argument("-n", type=_positive, default=20, help="how many runs")


@command("runs")
def runs(magics: Any, args: list[str]) -> Table:
    """The most recent runs."""
    opts = _runs_parser.parse_line(args)
    records = select(Run).order_by(Run.started_at.desc(), Run.id).limit(opts.n).all()
    rows = [
        (r.id, r.transform.name if r.transform else "", _time(r.started_at), r.status, r.replay_of_id or "")
        for r in records
    ]
    return Table(f"{len(rows)} most recent runs", ["id", "transform", "started", "status", "replay of"], rows)


_cells_parser = MagicArgumentParser(prog="%lineage cells")
_cells_parser.add_argument("run", nargs="?", help="run id (default: the current run)")
_cells_parser.add_argument("-n", type=_positive, default=50, help="how many cells (the last N)")


@command("cells")
def cells(magics: Any, args: list[str]) -> Table:
    """Cells of the current or a given run."""
    opts = _cells_parser.parse_line(args)
    run_id = opts.run or magics.recorder.run_id
    if not run_id:
        raise UsageError("%lineage cells: no current run; give a run id")
    if opts.run and select(Run, id=run_id).first() is None:
        raise UsageError(f"%lineage cells: no run with id {run_id!r}; see %lineage runs")
    records = select(Cell, run_id=run_id).order_by(Cell.seq.desc()).limit(opts.n).all()
    return _cell_table(f"cells of run {run_id}", list(reversed(records)))


_deps_parser = MagicArgumentParser(prog="%lineage deps")
_deps_parser.add_argument("target", help="a variable name, a cell id or a file path")
_deps_parser.add_argument("--down", action="store_true", help="cells that depend on it instead")
_deps_parser.add_argument("--depth", type=_positive, default=None, help="how many steps")


@command("deps")
def deps(magics: Any, args: list[str]) -> Table:
    """Upstream (or downstream) cells of a name or cell."""
    opts = _deps_parser.parse_line(args)
    if _looks_like_path(opts.target):
        return _file_deps(opts.target)
    walk = lineage.downstream if opts.down else lineage.upstream
    found = walk(opts.target, depth=opts.depth)
    direction = "depend on" if opts.down else f"{opts.target} depends on"
    title = f"cells that {direction} {opts.target}" if opts.down else f"cells {direction}"
    return _cell_table(title, found)


def _looks_like_path(target: str) -> bool:
    return not target.isidentifier() and ("/" in target or "." in target or os.path.exists(target))


def _file_deps(path: str) -> Table:
    """Each recorded version of a file: who wrote it and who read it."""
    from ..files import file_history

    versions = file_history(path)
    if not versions:
        raise UsageError(f"%lineage deps: no recorded run read or wrote {path!r}")
    rows = [
        (v.version, (v.sha256 or "")[:12], v.size,
         "external" if v.external else _runs_of(v.written_by),
         _runs_of(v.read_by))
        for v in versions
    ]
    return Table(f"versions of {versions[0].path}", ["version", "sha256", "bytes", "written by", "read by"], rows)


def _runs_of(accesses: Any) -> str:
    """The runs of these accesses, each once (a run may have used a version in several cells)."""
    return ", ".join(dict.fromkeys(a.run_id for a in accesses))


def _cell_table(title: str, records: list[Cell]) -> Table:
    from sqlalchemy import select as sa_select

    from .. import context
    from ..store.models import SourceCode

    ids = {c.source_code_id for c in records}
    sources: dict[str, str] = {}
    if ids:
        with context.get_store().session() as session:
            sources = dict(session.execute(sa_select(SourceCode.id, SourceCode.code).where(SourceCode.id.in_(ids))).all())
    rows = [
        (c.seq, c.execution_count, c.status, f"{c.duration_ms:.1f}" if c.duration_ms is not None else "",
         _first_line(sources.get(c.source_code_id, "")), c.id)
        for c in records
    ]
    return Table(title, ["seq", "In", "status", "ms", "source", "id"], rows)


def _first_line(source: str) -> str:
    lines = [line for line in source.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    return first[:70] + (" …" if len(lines) > 1 else "")


def _time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""
