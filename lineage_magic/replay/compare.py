"""Comparing recorded outputs: masks for what legitimately changes between runs.

A mask is ``(name, regex, replacement)``. ``DEFAULT_MASKS`` hides memory
addresses, timestamps, durations and temporary paths; pass ``masks=`` to
replace the list, or ``[*DEFAULT_MASKS, ("mine", r"...", "<x>")]`` to extend it.
"""

from __future__ import annotations

import difflib
import re
import tempfile
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from ..exceptions import InvalidQueryError

Mask = tuple[str, str, str]

_TMP_ROOTS = sorted({re.escape(tempfile.gettempdir().rstrip("/")), "/tmp", "/var/tmp", r"/private/var/folders", r"/var/folders"}, key=len, reverse=True)

DEFAULT_MASKS: tuple[Mask, ...] = (
    # The extension's own notice names the run being recorded: new in every run.
    ("lineage-notice", r"lineage_magic: recording run \w+ into [^\n]*\n?", ""),
    # %%writefile says "Overwriting" when the file is there from the recorded run.
    ("writefile", r"(?m)^Overwriting (?=\S)", "Writing "),
    # "<Foo object at 0x7f3a...>" and IPython's "at 7f3a...": identity, not content.
    ("memory-address", r"\b0x[0-9a-fA-F]{6,16}\b", "0x…"),
    ("object-at", r"(?<=\bat )[0-9a-f]{8,16}\b", "…"),
    # IPython's %time / %%time and %timeit lines.
    ("wall-time", r"Wall time: [^\n]*", "Wall time: <duration>"),
    ("cpu-times", r"CPU times: [^\n]*", "CPU times: <duration>"),
    ("timeit", r"[\d.]+ [nµum]?s ± [\d.]+ [nµum]?s per loop \([^)\n]*\)", "<timeit>"),
    # datetime reprs, ISO dates and times, and time.ctime() / asctime() strings.
    ("datetime-repr", r"datetime\.(?:datetime|date|time)\([^()\n]*(?:\([^()\n]*\)[^()\n]*)*\)", "datetime(<time>)"),
    ("iso-datetime", r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?(?![\d])", "<datetime>"),
    ("iso-date", r"\b\d{4}-\d{2}-\d{2}\b", "<date>"),
    ("clock-time", r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b", "<time>"),
    ("ctime", r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2} <time> \d{4}\b", "<datetime>"),
    ("epoch-seconds", r"\b1[6-9]\d{8}(?:\.\d+)?\b", "<epoch>"),
    # "took 1.23 s", "123 ms", "4.5 µs", "0:00:01.234".
    ("duration", r"\b\d+(?:\.\d+)?(?:e-?\d+)? ?(?:ns|µs|us|ms|s|sec|secs|seconds|min|minutes)\b", "<duration>"),
    ("timedelta-repr", r"datetime\.timedelta\([^()\n]*\)", "timedelta(<duration>)"),
    # Temporary files and directories.
    ("temp-path", r"(?:" + "|".join(_TMP_ROOTS) + r")/[^\s'\"<>),\]]*", "<tmp>"),
)


def check_masks(masks: Iterable[Any]) -> tuple[Mask, ...]:
    """Validate masks: each a (name, regex, replacement) with a compilable regex."""
    checked = []
    for mask in masks:
        if not (isinstance(mask, (tuple, list)) and len(mask) == 3 and all(isinstance(p, str) for p in mask)):
            raise InvalidQueryError(f"a mask is a (name, regex, replacement) tuple of strings, got {mask!r}")
        try:
            re.compile(mask[1])
        except re.error as err:
            raise InvalidQueryError(f"mask {mask[0]!r} has an invalid regex: {err}") from None
        checked.append((mask[0], mask[1], mask[2]))
    return tuple(checked)


@lru_cache(maxsize=64)
def _compiled(masks: tuple[Mask, ...]) -> tuple[tuple[str, re.Pattern[str], str], ...]:
    return tuple((name, re.compile(pattern), repl) for name, pattern, repl in masks)


def apply_masks(text: str, masks: Sequence[Mask] = DEFAULT_MASKS, used: set[str] | None = None) -> str:
    """The text with every mask applied in order; names of masks that matched go to ``used``."""
    for name, pattern, repl in _compiled(tuple(masks)):
        text, count = pattern.subn(repl, text)
        if count and used is not None:
            used.add(name)
    return text


def render_outputs(outputs: Sequence[dict[str, Any]], status: str = "ok", error_type: str | None = None,
                   error_message: str | None = None) -> str:
    """Recorded outputs as one text: streams merged by name, results prefixed, then the error."""
    parts: list[tuple[str, str]] = []
    for out in outputs:
        kind = out.get("output_type")
        text = out.get("text") if isinstance(out.get("text"), str) else ""
        if kind == "stream":
            label = f"[{out.get('name') or 'stdout'}]"
            if parts and parts[-1][0] == label:
                parts[-1] = (label, parts[-1][1] + text)
            else:
                parts.append((label, text))
        elif kind == "execute_result":
            parts.append(("[out]", text))
        elif kind == "display_data":
            parts.append(("[display]", text))
    if status != "ok":
        parts.append((f"[{status}]", f"{error_type or ''}: {error_message or ''}"))
    return "".join(f"{label}\n{body}" + ("" if body.endswith("\n") else "\n") for label, body in parts)


def output_diff(before: str, after: str, *, labels: tuple[str, str] = ("recorded", "replayed")) -> str:
    """A unified diff of two rendered, masked output texts ('' when equal)."""
    if before == after:
        return ""
    return "\n".join(difflib.unified_diff(
        before.splitlines(), after.splitlines(), labels[0], labels[1], lineterm="",
    ))


def source_diff(before: str, after: str, labels: tuple[str, str] = ("a", "b")) -> str:
    """A unified diff of two cell sources."""
    return "\n".join(difflib.unified_diff(
        before.splitlines(), after.splitlines(), labels[0], labels[1], lineterm="",
    ))
