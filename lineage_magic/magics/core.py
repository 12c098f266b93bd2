"""The ``LineageMagics`` class: dispatch of ``%lineage SUBCOMMAND`` and ``%%lineage``."""

from __future__ import annotations

import importlib
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

from ..exceptions import LineageError
from .parser import split_line

# Subcommand modules, imported on the first %lineage call so that loading the
# extension does not import SQLAlchemy on the user's thread.
COMMAND_MODULES = ("commands", "artifact_commands", "replay_commands")


def _commands() -> dict[str, Any]:
    modules = [importlib.import_module(f"{__package__}.{name}") for name in COMMAND_MODULES]
    return modules[0].COMMANDS


@magics_class
class LineageMagics(Magics):
    """Magics of lineage_magic; the work is done by the library they call."""

    def __init__(self, shell: Any, recorder: Any) -> None:
        super().__init__(shell)
        self.recorder = recorder

    @line_cell_magic
    def lineage(self, line: str, cell: str | None = None) -> Any:
        """Lineage of this notebook, recorded as you work.

        Line magic ``%lineage SUBCOMMAND [ARGS]``:

          status                     what is recorded where; queue and failures
          runs [-n N]                recent runs
          cells [RUN] [-n N]         cells of the current (or given) run
          deps NAME|CELL [--down]    cells NAME depends on (or that depend on it)
          deps PATH                  who wrote and who read each version of a file
          save NAME [VAR]            save a variable's value as a versioned artifact
          load NAME[@VERSION] [--as VAR]  load an artifact into a variable
          artifacts                  artifacts and their versions
          slice NAME [-o FILE]       minimal code that recomputes NAME
          stale                      cells whose inputs changed after they ran
          show [RECORD]              a record and its related records
          export RUN -o FILE.ipynb   the run rebuilt as a notebook
          replay RUN [--here]        re-execute a run and compare outputs
          diff RUN RUN               what changed between two runs
          pause / resume             stop / restart recording
          flush                      write everything queued now
          connect URL                record into another database
          help                       this text

        Cell magic ``%%lineage [NAME] [--rollback]``: the cell runs as the body
        of ``with lm.Session() as NAME:`` (default ``ss``): records load lazily
        inside; the session commits if the cell succeeds and rolls back if it
        raises, or always with ``--rollback``.
        """
        if cell is not None:
            from .scoped import run_scoped_cell

            return run_scoped_cell(self, line, cell)
        words = split_line(line)
        if not words:
            words = ["status"]
        name, args = words[0], words[1:]
        registry = _commands()
        command = registry.get(name)
        if command is None:
            known = ", ".join(sorted(registry))
            raise UsageError(f"%lineage: unknown subcommand {name!r}; known: {known}. See %lineage?")
        try:
            return command(self, args)
        except LineageError as err:
            raise UsageError(f"%lineage {name}: {err}") from None
