"""``%lineage save/load/artifacts/slice/stale``: thin over lm.save, lm.load, lm.slice, lm.stale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from IPython.core.error import UsageError

from .commands import command
from .output import Message, Table
from .parser import MagicArgumentParser

_save_parser = MagicArgumentParser(prog="%lineage save")
_save_parser.add_argument("name", help="artifact name")
_save_parser.add_argument("var", nargs="?", help="variable to save (default: the variable called NAME)")


@command("save")
def save(magics: Any, args: list[str]) -> Message:
    """Save a variable's value as the next version of an artifact."""
    from ..artifacts import save as save_artifact

    opts = _save_parser.parse_line(args)
    var = opts.var or opts.name
    if not var.isidentifier():
        raise UsageError(f"%lineage save: {var!r} is not a variable name; usage: %lineage save NAME [VAR]")
    if var not in magics.shell.user_ns:
        raise UsageError(f"%lineage save: no variable {var!r} in this notebook; usage: %lineage save NAME [VAR]")
    artifact = save_artifact(var, opts.name)
    return Message(f"lineage: saved {var} as {artifact.name}@{artifact.version} ({artifact.size} bytes)")


_load_parser = MagicArgumentParser(prog="%lineage load")
_load_parser.add_argument("ref", help="NAME or NAME@VERSION")
_load_parser.add_argument("--as", dest="var", help="variable to bind (default: NAME)")
_load_parser.add_argument("--allow-pickle", action="store_true", help="allow a pickled value (pickle can run code)")


@command("load")
def load(magics: Any, args: list[str]) -> Message:
    """Load an artifact's value into a variable."""
    from ..artifacts import load as load_artifact
    from ..values import parse_artifact_ref

    opts = _load_parser.parse_line(args)
    name, version = parse_artifact_ref(opts.ref)
    var = opts.var or name
    if not var.isidentifier():
        raise UsageError(f"%lineage load: {var!r} is not a valid variable name; use --as VAR")
    value = load_artifact(name, version, allow_pickle=True if opts.allow_pickle else None)
    magics.shell.user_ns[var] = value
    which = f"@{version}" if version is not None else " (latest)"
    return Message(f"lineage: loaded {name}{which} into {var}")


@command("artifacts")
def artifacts(magics: Any, args: list[str]) -> Table:
    """Artifacts and their versions."""
    from ..artifacts import artifacts as list_artifacts

    if args:
        raise UsageError(f"%lineage artifacts takes no arguments, got {' '.join(args)!r}")
    records = list_artifacts()
    rows = [(a.kind, a.name, a.version, a.size, a.run_id or "", a.created_at.strftime("%Y-%m-%d %H:%M:%S"))
            for a in records]
    return Table(f"{len(rows)} artifact versions", ["kind", "name", "version", "bytes", "run", "created"], rows)


_slice_parser = MagicArgumentParser(prog="%lineage slice")
_slice_parser.add_argument("target", help="a variable name or an artifact NAME[@VERSION]")
_slice_parser.add_argument("-o", dest="output", help="write the code to this file")


@command("slice")
def slice_(magics: Any, args: list[str]) -> Message:
    """Minimal code that recomputes a variable or an artifact."""
    from ..slices import slice as slice_code

    opts = _slice_parser.parse_line(args)
    code = slice_code(opts.target)
    if opts.output:
        path = Path(opts.output).expanduser()
        try:
            path.write_text(code + "\n", encoding="utf-8")
        except OSError as err:
            raise UsageError(f"%lineage slice: cannot write {path}: {err.strerror or err}") from None
        return Message(f"lineage: wrote the slice of {opts.target} ({len(code.splitlines())} lines) to {path}")
    return Message(code)


@command("stale")
def stale(magics: Any, args: list[str]) -> Table:
    """Cells whose inputs changed after they ran."""
    from ..slices import stale as stale_cells

    if args:
        raise UsageError(f"%lineage stale takes no arguments, got {' '.join(args)!r}")
    rows = []
    for item in stale_cells():
        changed = ", ".join(f"{name} (by In[{by}])" for name, by in sorted(item["changed"].items()))
        first = next((line for line in item["source"].splitlines() if line.strip()), "")
        rows.append((item["execution_count"], first[:60], changed))
    return Table(f"{len(rows)} stale cells", ["In", "source", "inputs changed since"], rows)


_show_parser = MagicArgumentParser(prog="%lineage show")
_show_parser.add_argument("record", nargs="?", help="a record id, kind:id, or artifact NAME[@VERSION] (default: this run)")


@command("show")
def show(magics: Any, args: list[str]) -> Any:
    """A record with its related records (this run by default)."""
    from ..views import show as show_record

    opts = _show_parser.parse_line(args)
    target = opts.record or magics.recorder.run_id
    if not target:
        raise UsageError("%lineage show: no current run; give a record id")
    return show_record(target)
