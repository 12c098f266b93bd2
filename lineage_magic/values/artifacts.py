"""Named, versioned values: saving and loading ``Artifact`` records of kind ``value``.

Every function takes the caller's session and writes within its transaction;
ids of the run, cell and node are explicit, so the recorder (or a test) says
which run produced or consumed a value.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from sqlalchemy import exists, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..exceptions import InvalidQueryError, RecordNotFoundError, ValueStoreError
from ..store.models import Artifact, Cell, Node, NodeValue, Run, run_inputs, run_outputs
from .blobs import get_blob_bytes, put_blob
from .codec import decode, encode

__all__ = ["save_value", "load_value", "parse_artifact_ref", "validate_artifact_name"]

VALUE_KIND = "value"
MAX_NAME_LENGTH = 255
# Versions live in a 32-bit INTEGER column on every backend.
MAX_VERSION = 2**31 - 1
# Concurrent savers of one name collide on (kind, name, version); each retry
# sees the version the other one took.
VERSION_ATTEMPTS = 5

_REF = re.compile(r"(?P<name>[^@]*)@(?P<version>[0-9]+)")
# Control characters, unpaired surrogates, and line/paragraph separators.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def validate_artifact_name(name: str) -> str:
    """Return ``name`` if it can name an artifact, else explain what would."""
    if not isinstance(name, str):
        raise InvalidQueryError(
            f"an artifact name must be a string, got {type(name).__name__}: {name!r}"
        )
    if not name:
        raise InvalidQueryError("an artifact name cannot be empty: use e.g. 'model' or 'clean_df'")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidQueryError(
            f"artifact name {name[:40]!r}... is {len(name)} characters long: "
            f"use at most {MAX_NAME_LENGTH}"
        )
    if "@" in name:
        suggestion = name.replace("@", "_")
        raise InvalidQueryError(
            f"artifact name {name!r} contains '@', which separates a name from a "
            f"version (as in 'model@3'): use a name without '@', e.g. {suggestion!r}"
        )
    for position, char in enumerate(name):
        if unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
            raise InvalidQueryError(
                f"artifact name {name!r} contains the control character {char!r} at "
                f"position {position}: use printable characters only"
            )
    if name != name.strip():
        raise InvalidQueryError(
            f"artifact name {name!r} starts or ends with whitespace, which is easy to "
            f"miss when loading it: use {name.strip()!r}"
        )
    return name


def parse_artifact_ref(ref: str) -> tuple[str, int | None]:
    """Split ``"name"`` or ``"name@3"`` into the name and the version (None: latest)."""
    if not isinstance(ref, str):
        raise InvalidQueryError(
            f"an artifact reference must be a string like 'model' or 'model@3', got {ref!r}"
        )
    if "@" not in ref:
        return validate_artifact_name(ref), None
    match = _REF.fullmatch(ref)
    if match is None:
        raise InvalidQueryError(
            f"cannot read artifact reference {ref!r}: expected NAME or NAME@VERSION with "
            "a version number 0, 1, 2 ..., e.g. 'model' or 'model@3'"
        )
    version = int(match["version"])
    if version > MAX_VERSION:
        raise InvalidQueryError(f"artifact version {version} in {ref!r} is out of range")
    return validate_artifact_name(match["name"]), version


def save_value(session: Session, obj: object, name: str, *, run_id: str | None,
               cell_id: str | None = None, node_id: str | None = None, max_bytes: int,
               inline_max: int, blob_dir: Path, allow_pickle: bool = True) -> Artifact:
    """Store ``obj`` as the next version of artifact ``name``, as an output of ``run_id``."""
    name = validate_artifact_name(name)
    run = _require(session, Run, run_id)
    _require(session, Cell, cell_id)
    _require(session, Node, node_id)
    # Encoding is where unserializable and oversized values fail: before any write.
    encoded = encode(obj, max_bytes=max_bytes, allow_pickle=allow_pickle)

    blob = put_blob(session, encoded, inline_max=inline_max, blob_dir=blob_dir)
    last_error: IntegrityError | None = None
    for attempt in range(VERSION_ATTEMPTS):
        version = _next_version(session, name, locking=attempt > 0)
        try:
            with session.begin_nested():
                node_value = NodeValue(
                    node_id=node_id, run_id=run_id, value_type=encoded.value_type[:255],
                    format=encoded.format, size=encoded.size, blob_id=blob.id,
                )
                artifact = Artifact(
                    kind=VALUE_KIND, name=name, version=version, run_id=run_id,
                    cell_id=cell_id, node_id=node_id, node_value=node_value,
                    sha256=encoded.sha256, size=encoded.size,
                )
                session.add_all([node_value, artifact])
                session.flush()
                if run_id is not None:
                    session.execute(insert(run_outputs).values(run_id=run_id, artifact_id=artifact.id))
        except IntegrityError as err:
            last_error = err
            continue
        if run is not None:
            # The row went in through Core: a loaded run.outputs would not show it.
            session.expire(run, ["outputs"])
        return artifact
    raise ValueStoreError(
        f"cannot save artifact {name!r}: {VERSION_ATTEMPTS} attempts collided with "
        f"concurrent writers ({last_error.orig if last_error else 'unknown error'})"
    ) from last_error


def load_value(session: Session, name: str, version: int | None = None, *,
               run_id: str | None = None, allow_pickle: bool = False) -> tuple[object, Artifact]:
    """Load artifact ``name`` (latest version by default), as an input of ``run_id``."""
    name = validate_artifact_name(name)
    if version is not None and (type(version) is not int or not 0 <= version <= MAX_VERSION):
        raise InvalidQueryError(
            f"artifact version must be a whole number 0, 1, 2 ..., or None for the latest; "
            f"got {version!r}"
        )
    run = _require(session, Run, run_id)
    stmt = select(Artifact).where(Artifact.kind == VALUE_KIND, Artifact.name == name)
    if version is None:
        stmt = stmt.order_by(Artifact.version.desc()).limit(1)
    else:
        stmt = stmt.where(Artifact.version == version)
    artifact = session.scalars(stmt).first()
    if artifact is None:
        raise RecordNotFoundError(_not_found_message(session, name, version))
    node_value = artifact.node_value
    if node_value is None:
        raise ValueStoreError(
            f"artifact {name}@{artifact.version} has no stored value any more "
            "(its node value was deleted)"
        )
    data = get_blob_bytes(session, node_value.blob_id)
    # Decoding first: a refused pickle must not be recorded as an input.
    obj = decode(node_value.format, data, allow_pickle=allow_pickle)
    if run is not None:
        _record_input(session, run, artifact)
    return obj, artifact


def _require(session: Session, model: type[Run] | type[Cell] | type[Node],
             record_id: str | None) -> Run | Cell | Node | None:
    """The record with this id, None for no id, or a clear error before anything is written."""
    if record_id is None:
        return None
    record = session.get(model, record_id)
    if record is None:
        raise RecordNotFoundError(f"no {model.__name__.lower()} with id {record_id!r}")
    return record


def _next_version(session: Session, name: str, *, locking: bool) -> int:
    """One more than the latest version of ``name`` (0 for a new name)."""
    if locking:
        # After a collision: a locking read sees rows committed after this
        # transaction's snapshot (MariaDB's REPEATABLE READ); PostgreSQL allows
        # no FOR SHARE with an aggregate, hence ORDER BY ... LIMIT 1.
        stmt = (
            select(Artifact.version)
            .where(Artifact.kind == VALUE_KIND, Artifact.name == name)
            .order_by(Artifact.version.desc())
            .limit(1)
            .with_for_update(read=True)
        )
    else:
        stmt = select(func.max(Artifact.version)).where(
            Artifact.kind == VALUE_KIND, Artifact.name == name
        )
    latest = session.scalar(stmt)
    if latest is not None and latest >= MAX_VERSION:
        raise ValueStoreError(f"artifact {name!r} has reached the last version number {latest}")
    return 0 if latest is None else latest + 1


def _not_found_message(session: Session, name: str, version: int | None) -> str:
    versions = list(
        session.scalars(
            select(Artifact.version)
            .where(Artifact.kind == VALUE_KIND, Artifact.name == name)
            .order_by(Artifact.version)
        )
    )
    if not versions:
        return f"no saved value named {name!r}"
    shown = ", ".join(str(v) for v in versions[:20]) + (" ..." if len(versions) > 20 else "")
    return f"no version {version} of {name!r}: available versions are {shown}"


def _record_input(session: Session, run: Run, artifact: Artifact) -> None:
    """Add ``artifact`` to the run's inputs once, even if it is loaded again."""
    already = session.scalar(
        select(
            exists().where(run_inputs.c.run_id == run.id, run_inputs.c.artifact_id == artifact.id)
        )
    )
    if already:
        return
    try:
        with session.begin_nested():
            session.execute(insert(run_inputs).values(run_id=run.id, artifact_id=artifact.id))
    except IntegrityError as err:
        # A concurrent load by the same run inserted the row first, which is the goal;
        # anything else (say, the artifact was deleted meanwhile) is an error.
        # A locking read sees a row committed after this transaction's snapshot.
        present = session.scalar(
            select(run_inputs.c.run_id)
            .where(run_inputs.c.run_id == run.id, run_inputs.c.artifact_id == artifact.id)
            .with_for_update(read=True)
        )
        if present is None:
            raise ValueStoreError(
                f"cannot record {artifact.name}@{artifact.version} as an input of run "
                f"{run.id}: {err.orig}"
            ) from err
    session.expire(run, ["inputs"])
