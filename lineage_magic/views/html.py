"""Static HTML of the views: what survives nbconvert, GitHub and a kernel restart.

Every recorded string goes through :func:`esc` (``html.escape`` with
``quote=True``) before it reaches markup; nothing here loads anything from
the internet or runs JavaScript.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import inspect

from .data import Page, RecordData, RunsPage, Scalar

__all__ = [
    "CSS",
    "esc",
    "fields_table",
    "highlight_source",
    "record_data_html",
    "record_html",
    "runs_html",
    "wrap",
]

MAX_SOURCE_CHARS = 20_000

CSS = """
.lm-view{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:13px;color:#111}
.lm-view h3{font-size:15px;margin:4px 0 6px 0}
.lm-view h4{font-size:13px;margin:10px 0 4px 0;color:#374151}
.lm-view table{border-collapse:collapse;margin:2px 0}
.lm-view th,.lm-view td{border:1px solid #e5e7eb;padding:2px 6px;text-align:left;
vertical-align:top;max-width:60em;overflow-wrap:anywhere;white-space:pre-wrap}
.lm-view th{background:#f9fafb;font-weight:600}
.lm-view ul{margin:2px 0;padding-left:18px}
.lm-view .lm-kind{color:#6b7280;font-size:11px}
.lm-view .lm-muted{color:#6b7280}
.lm-view pre.lm-source{background:#f8f8f8;border:1px solid #e5e7eb;padding:6px;margin:4px 0;
overflow-x:auto;line-height:125%}
.lm-view .lm-error{color:#b91c1c}
"""


def esc(value: Any) -> str:
    """Text made safe for HTML content and attribute values."""
    return html.escape("" if value is None else str(value), quote=True)


def wrap(body: str) -> str:
    """A view's HTML inside its scoped style block."""
    return f'<div class="lm-view"><style>{CSS}</style>{body}</div>'


def _cell(value: Scalar) -> str:
    if value is None:
        return '<span class="lm-muted">—</span>'
    return esc(value)


def fields_table(fields: Iterable[tuple[str, Scalar]]) -> str:
    """A two-column table of field names and values, None shown as a dash."""
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{_cell(v)}</td></tr>" for k, v in fields)
    return f'<table class="lm-fields">{rows}</table>'


def _token_style(style: Any, ttype: Any) -> str:
    spec = style.style_for_token(ttype)
    parts = []
    if spec.get("color"):
        parts.append(f"color:#{spec['color']}")
    if spec.get("bold"):
        parts.append("font-weight:bold")
    if spec.get("italic"):
        parts.append("font-style:italic")
    return ";".join(parts)


def highlight_source(code: str) -> str:
    """Cell source as a ``<pre>`` with inline-styled tokens, each token escaped."""
    from IPython.lib.lexers import IPython3Lexer
    from pygments import lex
    from pygments.styles import get_style_by_name

    note = ""
    if len(code) > MAX_SOURCE_CHARS:
        note = (f'<div class="lm-muted">(first {MAX_SOURCE_CHARS:,} of {len(code):,} '
                "characters)</div>")
        code = code[:MAX_SOURCE_CHARS]
    style = get_style_by_name("default")
    # We escape each token ourselves (quote=True) instead of trusting a formatter.
    spans = []
    for ttype, value in lex(code, IPython3Lexer()):
        css = _token_style(style, ttype)
        text = esc(value)
        spans.append(f'<span style="{css}">{text}</span>' if css else text)
    return f'<pre class="lm-source">{"".join(spans)}</pre>{note}'


def _page_html(page: Page) -> str:
    items = "".join(
        f'<li><span class="lm-kind">{esc(ref.kind)}</span> {esc(ref.label)} '
        f'<code class="lm-muted">{esc(ref.id)}</code></li>'
        for ref in page.items
    )
    more = ""
    if page.total > len(page.items):
        first = page.offset + 1 if page.items else 0
        more = (
            f'<div class="lm-muted">{first}–{page.offset + len(page.items)} '
            f"of {page.total}</div>"
        )
    return f"<h4>{esc(page.group)} ({page.total})</h4><ul>{items}</ul>{more}"


def record_data_html(record: RecordData, pages: Sequence[Page] | None = None) -> str:
    """A record's static view: title, fields, source, then its related groups."""
    body = [f'<h3><span class="lm-kind">{esc(record.kind)}</span> {esc(record.title)}</h3>']
    body.append(fields_table(record.fields))
    if record.source is not None:
        body.append(highlight_source(record.source))
    for page in pages if pages is not None else record.groups:
        if page.total:
            body.append(_page_html(page))
    return wrap("".join(body))


def runs_html(page: RunsPage) -> str:
    """The runs browser's current page as a static table."""
    head = "".join(
        f"<th>{h}</th>"
        for h in ("transform", "run", "started", "duration (s)", "status", "cells", "user", "id")
    )
    rows = "".join(
        "<tr>"
        f"<td>{_cell(r.transform)}</td><td>{_cell(r.name)}</td><td>{_cell(r.started)}</td>"
        f"<td>{_cell(r.duration_s)}</td><td>{_cell(r.status)}</td><td>{r.cells}</td>"
        f"<td>{_cell(r.user)}</td><td><code>{esc(r.id)}</code></td>"
        "</tr>"
        for r in page.rows
    )
    first = page.offset + 1 if page.rows else 0
    search = f" matching “{esc(page.search)}”" if page.search else ""
    status = f" with status {esc(page.status)}" if page.status else ""
    summary = (
        f'<div class="lm-muted">runs {first}–{page.offset + len(page.rows)} of '
        f"{page.total}{search}{status}</div>"
    )
    return wrap(f"<h3>Runs</h3><table><tr>{head}</tr>{rows}</table>{summary}")


def record_html(record: Any) -> str:
    """Static HTML of an ORM record's loaded columns; never queries the database."""
    state = inspect(record)
    mapper = state.mapper
    fields: list[tuple[str, Scalar]] = []
    for attr in mapper.column_attrs:
        # Only what is in memory: a repr must not load (or fail on) detached data.
        if attr.key in state.unloaded:
            continue
        value = state.dict.get(attr.key)
        if value is None:
            continue
        if not isinstance(value, (str, int, float)):
            value = str(value)
        fields.append((attr.key, value))
    body = f"<h3>{esc(type(record).__name__)}</h3>{fields_table(fields)}"
    source = state.dict.get("source_code")
    if source is not None and "code" in inspect(source).dict:
        body += highlight_source(inspect(source).dict["code"])
    return wrap(body)
