"""The ``lineage-magic`` command line: run notebooks with lineage, browse, export, replay, diff.

Every subcommand takes ``--db URL`` (default: $LINEAGE_MAGIC_DB_URL, else
~/.lineage_magic/lineage.db) and ``--json``. Exit status: 0 success (for
``replay``: reproduced), 1 a cell failed (``run``) or the replay differs,
2 bad input, with a one-line message and no traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NoReturn

from .exceptions import LineageError
from .store.urls import mask_text

PROG = "lineage-magic"


class BadInput(Exception):
    """Arguments the command line cannot use (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors become one-line ``BadInput``."""

    def error(self, message: str) -> NoReturn:
        raise BadInput(f"{self.prog}: {message} (see {self.prog} --help)")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _upto(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", metavar="URL", default=None,
                        help="lineage database URL (default: $LINEAGE_MAGIC_DB_URL, else ~/.lineage_magic/lineage.db)")
    common.add_argument("--json", action="store_true", help="print JSON for scripts instead of tables")

    parser = _Parser(prog=PROG, description="Lineage of Jupyter notebooks: run, browse, export, replay and diff recorded runs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, func: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    p = add("run", cmd_run, "execute a notebook headless with lineage recorded")
    p.add_argument("notebook", help="the .ipynb file to execute (its directory is the working directory)")
    p.add_argument("-o", "--output", help="also write the executed notebook here")
    p.add_argument("--timeout", type=_positive, default=600, help="seconds per cell (default 600)")
    p.add_argument("--allow-errors", action="store_true", help="keep going after a cell raises")
    p.add_argument("--kernel", default="python3", help="kernel name (default python3)")

    p = add("runs", cmd_runs, "list the most recent runs")
    p.add_argument("-n", type=_positive, default=20, help="how many runs (default 20)")

    p = add("show", cmd_show, "show a run (its fields and cells) or a cell (its source and fields)")
    p.add_argument("id", help="run id, unique run id prefix, run name, or cell id")

    p = add("export", cmd_export, "write a recorded run as a notebook")
    p.add_argument("id", help="run id, unique id prefix or run name")
    p.add_argument("-o", "--output", required=True, help="notebook file to write")
    p.add_argument("--upto", type=_upto, default=None, help="last execution count (In [n]) or cell id")

    p = add("replay", cmd_replay, "re-execute a run in a fresh kernel and compare (exit 0 when reproduced)")
    p.add_argument("id", help="run id, unique id prefix or run name")
    p.add_argument("--upto", type=_upto, default=None, help="last execution count (In [n]) or cell id")
    p.add_argument("--timeout", type=_positive, default=600, help="seconds per cell (default 600)")

    p = add("diff", cmd_diff, "what changed between two runs")
    p.add_argument("run_a", help="the earlier run")
    p.add_argument("run_b", help="the later run")

    p = add("artifacts", cmd_artifacts, "list artifacts and their versions")
    p.add_argument("-n", type=_positive, default=50, help="how many (default 50)")
    p.add_argument("--name", help="only versions of this artifact")

    db = sub.add_parser("db", help="manage the lineage database", description="manage the lineage database")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    p = db_sub.add_parser("upgrade", parents=[common], help="bring the schema up to date",
                          description="bring the schema up to date")
    p.set_defaults(func=cmd_db_upgrade)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``lineage-magic``; returns the exit status."""
    parser = build_parser()
    try:
        opts = parser.parse_args(argv)
    except BadInput as err:
        return _fail(str(err))
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0)
    try:
        return opts.func(opts)
    except (LineageError, BadInput) as err:
        return _fail(f"{PROG} {opts.command}: {err}")
    except OSError as err:
        return _fail(f"{PROG} {opts.command}: {err.strerror or err}: {getattr(err, 'filename', '') or ''}".rstrip(": "))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def _fail(message: str) -> int:
    line = " ".join(mask_text(message).split())
    print(f"error: {line}", file=sys.stderr)
    return 2


# -- helpers -----------------------------------------------------------------


def _store(opts: argparse.Namespace) -> Any:
    from . import context

    return context.connect(opts.db)


def _emit(opts: argparse.Namespace, data: Any, text: str) -> None:
    if opts.json:
        print(json.dumps(data, indent=2, default=_json_default))
    else:
        print(text)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], max_width: int = 60) -> str:
    """Rows under a title as aligned plain text."""
    cells = [["" if v is None else str(v).replace("\n", "⏎ ") for v in row] for row in rows]
    widths = [len(c) for c in columns]
    for row in cells:
        widths = [max(w, min(len(v), max_width)) for w, v in zip(widths, row)]

    def fmt(values: Sequence[str]) -> str:
        clipped = [v if len(v) <= w else v[: w - 1] + "…" for v, w in zip(values, widths)]
        return "  ".join(v.ljust(w) for v, w in zip(clipped, widths)).rstrip()

    lines = [title, fmt(columns), fmt(["-" * w for w in widths])]
    lines += [fmt(row) for row in cells] or ["(none)"]
    return "\n".join(lines)


def _first_line(source: str) -> str:
    return next((line.strip() for line in source.splitlines() if line.strip()), "")


# -- subcommands ---------------------------------------------------------------


def cmd_run(opts: argparse.Namespace) -> int:
    """``run NOTEBOOK``: execute with lineage; exit 1 when a cell raised."""
    from .replay import run_notebook

    store = _store(opts)
    result = run_notebook(opts.notebook, output=opts.output, timeout=opts.timeout,
                          allow_errors=opts.allow_errors, progress=not opts.json,
                          kernel_name=opts.kernel, store=store)
    data = {"run_id": result.run_id, "cells": result.cells, "errors": result.errors,
            "problem": result.problem, "output": opts.output, "db": store.masked_url}
    lines = [f"run {result.run_id or '-'}: {result.cells} cells executed, {result.errors} raised",
             f"recorded into {store.masked_url}"]
    if result.problem:
        lines.append(f"problem: {result.problem}")
    if opts.output:
        lines.append(f"executed notebook written to {opts.output}")
    _emit(opts, data, "\n".join(lines))
    return 1 if (result.errors or result.problem) else 0


def _mark_aborted(store: Any) -> None:
    """Runs of this host whose kernel died without finishing become ``aborted``."""
    import socket

    from .store.writes import mark_aborted_runs

    with store.engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin():
        mark_aborted_runs(conn, socket.gethostname())


def cmd_runs(opts: argparse.Namespace) -> int:
    """``runs``: the most recent runs."""
    from sqlalchemy import func, select

    from .store.models import Cell, Run

    store = _store(opts)
    _mark_aborted(store)
    with store.session() as session:
        records = session.scalars(select(Run).order_by(Run.started_at.desc(), Run.id).limit(opts.n)).unique().all()
        counts = dict(session.execute(
            select(Cell.run_id, func.count()).where(Cell.run_id.in_([r.id for r in records]), Cell.depth == 0)
            .group_by(Cell.run_id)
        ).all()) if records else {}
    data = [
        {"id": r.id, "name": r.name, "transform": r.transform.name if r.transform else None,
         "path": r.transform.path if r.transform else None, "started_at": r.started_at,
         "finished_at": r.finished_at, "status": r.status, "cells": counts.get(r.id, 0),
         "replay_of": r.replay_of_id}
        for r in records
    ]
    rows = [(d["id"], d["transform"] or "", _time(d["started_at"]), d["status"] or "", d["cells"],
             d["replay_of"] or "") for d in data]
    _emit(opts, data, table(f"{len(rows)} most recent runs in {store.masked_url}",
                            ["id", "transform", "started", "status", "cells", "replay of"], rows))
    return 0


def cmd_show(opts: argparse.Namespace) -> int:
    """``show ID``: a run with its cells, or a cell with its source."""
    from sqlalchemy import select

    from .exceptions import RecordNotFoundError
    from .replay.records import load_cell, load_cells, resolve_run
    from .store.models import Cell

    store = _store(opts)
    with store.session() as session:
        try:
            run = resolve_run(session, opts.id)
        except RecordNotFoundError:
            run = None
        if run is None:
            ids = session.scalars(
                select(Cell.id).where(Cell.id.startswith(opts.id, autoescape=True)).limit(2)
            ).all() if len(opts.id) >= 4 else [opts.id]
            if len(ids) != 1:
                raise RecordNotFoundError(f"no run or cell with id {opts.id!r}" if not ids
                                          else f"cell id prefix {opts.id!r} is ambiguous")
            cell = load_cell(session, ids[0])
            _emit(opts, _cell_data(cell), _cell_text(cell))
            return 0
        fields = {
            "id": run.id, "name": run.name, "transform": run.transform.name if run.transform else None,
            "path": run.transform.path if run.transform else None,
            "title": run.transform.title if run.transform else None, "status": run.status,
            "started_at": run.started_at, "finished_at": run.finished_at,
            "python_version": run.python_version, "host": run.host, "replay_of": run.replay_of_id,
        }
        cells = load_cells(session, run.id, top_level=False)
    data = {**fields, "cells": [_cell_data(c) for c in cells]}
    head = "\n".join(f"{k + ':':<16}{_time(v) if isinstance(v, datetime) else ('' if v is None else v)}"
                     for k, v in fields.items())
    rows = [(c.seq, c.execution_count, "  " * c.depth + c.status,
             f"{c.duration_ms:.1f}" if c.duration_ms is not None else "", _first_line(c.source), c.id)
            for c in cells]
    _emit(opts, data, head + "\n\n" + table(f"{len(cells)} cells", ["seq", "In", "status", "ms", "source", "id"], rows))
    return 0


def _cell_data(cell: Any) -> dict[str, Any]:
    return {
        "id": cell.id, "run_id": cell.run_id, "seq": cell.seq, "execution_count": cell.execution_count,
        "depth": cell.depth, "notebook_cell_id": cell.notebook_cell_id, "status": cell.status,
        "duration_ms": cell.duration_ms, "error_type": cell.error_type, "error_message": cell.error_message,
        "outputs": cell.outputs, "source": cell.source,
    }


def _cell_text(cell: Any) -> str:
    data = _cell_data(cell)
    source = data.pop("source")
    outputs = data.pop("outputs")
    head = "\n".join(f"{k + ':':<18}{'' if v is None else v}" for k, v in data.items())
    out_text = "".join(str(o.get("text", "")) for o in outputs)
    return f"{head}\n\nsource:\n{source}\n" + (f"\noutputs:\n{out_text}" if out_text else "")


def cmd_export(opts: argparse.Namespace) -> int:
    """``export ID -o FILE``: the run rebuilt as a notebook."""
    import nbformat

    from .replay import export_notebook

    store = _store(opts)
    path = export_notebook(opts.id, opts.output, upto=opts.upto, store=store)
    count = len(nbformat.read(str(path), as_version=4).cells)
    _emit(opts, {"path": str(path), "cells": count}, f"wrote {count} cells to {path}")
    return 0


def cmd_replay(opts: argparse.Namespace) -> int:
    """``replay ID``: exit 0 when reproduced, 1 when not."""
    from .replay import replay

    store = _store(opts)
    report = replay(opts.id, upto=opts.upto, timeout=opts.timeout, progress=not opts.json, store=store)
    _emit(opts, report.to_dict(), str(report))
    return 0 if report.reproduced else 1


def cmd_diff(opts: argparse.Namespace) -> int:
    """``diff A B``: cells added, removed, changed; outputs; libraries."""
    from .replay import diff

    store = _store(opts)
    result = diff(opts.run_a, opts.run_b, store=store)
    _emit(opts, result.to_dict(), str(result))
    return 0


def cmd_artifacts(opts: argparse.Namespace) -> int:
    """``artifacts``: named values and files with their versions."""
    from sqlalchemy import select

    from .store.models import Artifact

    store = _store(opts)
    stmt = select(Artifact).order_by(Artifact.created_at.desc(), Artifact.id).limit(opts.n)
    if opts.name:
        stmt = stmt.where(Artifact.name == opts.name)
    with store.session() as session:
        records = session.scalars(stmt).all()
    data = [
        {"id": a.id, "kind": a.kind, "name": a.name, "version": a.version, "run_id": a.run_id,
         "path": a.path, "sha256": a.sha256, "size": a.size, "created_at": a.created_at}
        for a in records
    ]
    rows = [(d["name"], d["version"], d["kind"], (d["sha256"] or "")[:12], d["size"], d["run_id"] or "",
             _time(d["created_at"])) for d in data]
    _emit(opts, data, table(f"{len(rows)} artifacts", ["name", "version", "kind", "sha256", "size", "run", "created"], rows))
    return 0


def cmd_db_upgrade(opts: argparse.Namespace) -> int:
    """``db upgrade``: migrate the schema; print the revisions before and after."""
    from .store import migrate
    from .store.engine import Store
    from .store.urls import resolve_url

    store = Store(resolve_url(opts.db), upgrade=False)
    try:
        before, after = migrate.upgrade(store.engine)
    finally:
        store.dispose()
    data = {"db": store.masked_url, "before": before, "after": after}
    text = (f"{store.masked_url}: schema at {after} (was {before or 'empty'})" if before != after
            else f"{store.masked_url}: schema already at {after}")
    _emit(opts, data, text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
