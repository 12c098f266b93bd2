"""``%%lineage [NAME] [--rollback]``: a cell run inside ``with lm.Session() as NAME``."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError

from .. import context
from .parser import MagicArgumentParser, split_line

_parser = MagicArgumentParser(prog="%%lineage")
_parser.add_argument("name", nargs="?", default="ss", help="variable holding the session (default ss)")
_parser.add_argument("--rollback", action="store_true", help="roll everything back at the end")


def run_scoped_cell(magics: Any, line: str, cell: str) -> None:
    """Run ``cell`` with an open Session bound to a name; commit or roll back after."""
    from sqlalchemy import event

    from ..session import Session

    opts = _parser.parse_line(split_line(line))
    if not opts.name.isidentifier():
        raise UsageError(f"%%lineage: {opts.name!r} is not a valid variable name")
    shell = magics.shell
    recorder = magics.recorder
    store = (recorder.store if recorder is not None else None) or context.get_store()
    session = Session(store=store)
    creator = recorder.current_cell_id() if recorder is not None else None
    if creator is not None:
        @event.listens_for(session.orm, "before_flush")
        def _remember_creator(orm: Any, _ctx: Any, _instances: Any) -> None:
            for record in orm.new:
                if hasattr(record, "created_by_cell_id") and record.created_by_cell_id is None:
                    record.created_by_cell_id = creator

    # Like ``with ... as ss``, the (closed) session stays bound afterwards.
    shell.user_ns[opts.name] = session
    try:
        code = shell.transform_cell(cell)
        shell.ex(compile(code, "<%%lineage cell>", "exec"))
    except BaseException:
        session.rollback()
        session.close()
        raise
    else:
        if opts.rollback:
            session.rollback()
        else:
            session.commit()
        session.close()
