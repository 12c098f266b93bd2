"""``%lineage export``, ``%lineage replay`` and ``%lineage diff``: thin over lineage_magic.replay."""

from __future__ import annotations

from typing import Any

from .commands import _positive, command
from .output import Message
from .parser import MagicArgumentParser


def _upto(text: str) -> int | str:
    """An execution count (digits) or a cell id."""
    return int(text) if text.isdigit() else text


_export_parser = MagicArgumentParser(prog="%lineage export")
_export_parser.add_argument("run", help="run id, unique id prefix or run name")
_export_parser.add_argument("-o", "--output", required=True, help="notebook file to write")
_export_parser.add_argument("--upto", type=_upto, default=None, help="last execution count (In [n]) or cell id")


@command("export")
def export(magics: Any, args: list[str]) -> Message:
    """Write a recorded run as a notebook."""
    from ..replay import export_notebook

    opts = _export_parser.parse_line(args)
    path = export_notebook(opts.run, opts.output, upto=opts.upto)
    return Message(f"lineage: wrote {path}")


_replay_parser = MagicArgumentParser(prog="%lineage replay")
_replay_parser.add_argument("run", help="run id, unique id prefix or run name")
_replay_parser.add_argument("--upto", type=_upto, default=None, help="last execution count (In [n]) or cell id")
_replay_parser.add_argument("--here", action="store_true", help="run the cells in this shell instead of a fresh kernel")
_replay_parser.add_argument("--timeout", type=_positive, default=600, help="seconds per cell")


@command("replay")
def replay(magics: Any, args: list[str]) -> Any:
    """Re-execute a run (in a fresh kernel, or ``--here``) and compare its outputs."""
    from ..replay import replay as replay_run
    from ..replay import replay_here

    opts = _replay_parser.parse_line(args)
    if opts.here:
        return replay_here(magics.shell, opts.run, upto=opts.upto)
    return replay_run(opts.run, upto=opts.upto, timeout=opts.timeout)


_diff_parser = MagicArgumentParser(prog="%lineage diff")
_diff_parser.add_argument("run_a", help="the earlier run")
_diff_parser.add_argument("run_b", help="the later run")


@command("diff")
def diff(magics: Any, args: list[str]) -> Any:
    """What changed between two runs."""
    from ..replay import diff as diff_runs

    opts = _diff_parser.parse_line(args)
    return diff_runs(opts.run_a, opts.run_b)
