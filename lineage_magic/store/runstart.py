"""What is known about a run when recording starts: plain data, no SQLAlchemy.

The recorder builds it in the kernel; the writer, maybe in another process,
inserts it with ``store.writes.start_run``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(slots=True)
class RunStart:
    """A run, its user and its transform, as the recorder knows them at the start."""

    id: str
    handle: str
    transform_name: str
    transform_path: str | None
    transform_type: str
    started_at: datetime
    python_version: str
    host: str
    pid: int
    replay_of_id: str | None = None
    name: str | None = None
    transform_title: str | None = None
