"""Cells analysed ahead of time, by the process that launches their kernel.

``lineage-magic run`` and replay know every cell of the notebook before its
kernel starts, and serve that kernel's writer (``process_writer.Prepared``).
While the kernel boots (about half a second in which the launcher only
waits), the launcher analyses the cells and sends the analyses down the
writer's pipe; the kernel's recorder then finds each cell analysed already.

Analysis is the largest part of the recorder's work per cell, and in a
kernel, between the kernel's own work, it costs two to three times what it
costs in a loop. Taken out of a 200-cell replay it saves about two fifths
of the recorder's ``post_run_cell`` time (``bench/replay_timeline.py``).

An analysis depends on nothing but the text analysed, so the key is the
text the kernel will analyse: the cell as IPython transforms it. Static
transformations (magics, ``!`` commands) are the same in any process; a
one-line cell may also be changed by the kernel's state (automagic), and
then the kernel's text is not the one guessed here and the kernel analyses
that cell itself, as it would without this.
"""

from __future__ import annotations

import logging
import pickle
import sys
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)


def _fingerprint() -> tuple[Any, ...]:
    """What the launcher and the kernel must share for an analysis to be the same."""
    from .._version import __version__

    return (sys.version_info[:2], __version__)


def analyses_message(sources: Iterable[str]) -> tuple[Any, ...] | None:
    """The ``("analyses", ...)`` message for a kernel about to run these cells; None if there is none.

    The analyses travel as a pickle inside the message, so that a kernel
    that cannot take them (another version) drops them, not its pipe.
    """
    from IPython.core.inputtransformer2 import TransformerManager

    from ..analysis.cell import CACHE_SIZE, CACHE_SOURCE_CHARS, analyze_cell

    manager = TransformerManager()
    analyses = {}
    for raw in sources:
        try:
            text = manager.transform_cell(raw)
        except Exception:  # noqa: BLE001 - the kernel will analyse this cell itself
            continue
        if len(text.splitlines()) == 1:
            text = text.rstrip("\n") + "\n"  # as InteractiveShell.transform_cell ends one line
        if len(text) <= CACHE_SOURCE_CHARS and text not in analyses:  # longer ones are not kept
            # Not kept here: a launcher that is itself a recording kernel keeps its own cells'.
            analyses[text] = analyze_cell(text, keep=False)
            if len(analyses) == CACHE_SIZE:  # as many as the kernel keeps
                break
    if not analyses:
        return None
    return ("analyses", _fingerprint(), pickle.dumps(analyses, protocol=pickle.HIGHEST_PROTOCOL))


def take_analyses(message: tuple[Any, ...]) -> int:
    """Keep the analyses of an ``("analyses", ...)`` message for the cells to come; how many.

    Never raises: it runs on the thread that reads the writer's replies.
    """
    from ..analysis.cell import remember_analyses

    try:
        _, fingerprint, data = message
        if fingerprint != _fingerprint():
            log.debug("analyses made by another lineage_magic or Python (%r) are not used", fingerprint)
            return 0
        analyses = pickle.loads(data)
        remember_analyses(analyses)
        return len(analyses)
    except Exception as err:  # noqa: BLE001 - the recorder analyses its cells itself, as without them
        log.debug("analyses from the launcher could not be taken: %r", err)
        return 0
