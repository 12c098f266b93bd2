"""Which notebook is running: path and title, as far as the front end tells us."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FALLBACK_NAME = "ipython-session"


def notebook_path(user_ns: dict[str, Any], configured: str = "") -> str | None:
    """The notebook's path from config, VS Code, Jupyter's session name, or None."""
    candidates = [
        configured,
        user_ns.get("__vsc_ipynb_file__"),
        user_ns.get("__session__"),
        os.environ.get("JPY_SESSION_NAME"),
    ]
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip()
    return None


def transform_name(path: str | None) -> str:
    """A short name for the transform: the notebook's file name, or a fallback."""
    if not path:
        return FALLBACK_NAME
    return Path(path).name[:255] or FALLBACK_NAME


def notebook_title(path: str | None, max_bytes: int = 20_000_000) -> str | None:
    """The first markdown heading of the notebook file, if it can be read."""
    if not path or not path.endswith(".ipynb"):
        return None
    try:
        file = Path(path)
        if not file.is_file() or file.stat().st_size > max_bytes:
            return None
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for cell in data.get("cells", []) if isinstance(data, dict) else []:
        if not isinstance(cell, dict) or cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith("#"):
                return stripped.lstrip("#").strip()[:500] or None
    return None
