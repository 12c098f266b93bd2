"""``%load_ext lineage_magic``: attach a recorder and the magics to a shell."""

from __future__ import annotations

import atexit
from typing import Any

from IPython.core.error import UsageError

from ..exceptions import InvalidURLError
from .recorder import LineageMagic, find_recorder


def load(shell: Any) -> LineageMagic:
    """Attach a recorder to ``shell`` (again: harmless) and register the magics."""
    recorder = find_recorder(shell)
    if recorder is not None and recorder.writer is not None:
        return recorder
    if recorder is None:
        recorder = LineageMagic(shell)
        shell.configurables.append(recorder)
    try:
        recorder.start()
    except InvalidURLError as err:
        shell.configurables.remove(recorder)
        raise UsageError(f"lineage_magic not loaded: {err}") from None
    from ..magics import LineageMagics

    shell.register_magics(LineageMagics(shell, recorder=recorder))
    atexit.register(recorder.finish_at_exit)
    return recorder


def unload(shell: Any) -> None:
    """Finish the run, remove every hook and magic, dispose nothing shared."""
    recorder = find_recorder(shell)
    if recorder is None:
        return
    atexit.unregister(recorder.finish_at_exit)
    recorder.finish()
    shell.configurables.remove(recorder)
    magics = shell.magics_manager.magics
    for kind in ("line", "cell"):
        magics[kind].pop("lineage", None)
    shell.magics_manager.registry.pop("LineageMagics", None)

