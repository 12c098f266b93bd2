"""What magics display: plain text in a terminal, escaped HTML in a notebook."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any


class Table:
    """Rows under a title, shown as aligned text or an HTML table."""

    def __init__(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], note: str = "") -> None:
        self.title = title
        self.columns = list(columns)
        self.rows = [["" if v is None else str(v) for v in row] for row in rows]
        self.note = note

    def __repr__(self) -> str:
        widths = [len(c) for c in self.columns]
        for row in self.rows:
            widths = [max(w, min(len(v), 60)) for w, v in zip(widths, row)]
        def fmt(values: Sequence[str]) -> str:
            return "  ".join(_clip(v, w).ljust(w) for v, w in zip(values, widths)).rstrip()
        lines = [self.title, fmt(self.columns), fmt(["-" * w for w in widths])]
        lines += [fmt(row) for row in self.rows] or ["(none)"]
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in self.rows
        ) or f"<tr><td colspan='{len(self.columns)}'>(none)</td></tr>"
        note = f"<p>{html.escape(self.note)}</p>" if self.note else ""
        return (f"<div class='lineage-table'><strong>{html.escape(self.title)}</strong>"
                f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}</div>")

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": repr(self), "text/html": self._repr_html_()}


class Message:
    """A short line of text (escaped in HTML)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": self.text, "text/html": f"<pre>{html.escape(self.text)}</pre>"}


def _clip(value: str, width: int) -> str:
    value = value.replace("\n", "⏎ ")
    return value if len(value) <= width else value[: max(width - 1, 0)] + "…"
