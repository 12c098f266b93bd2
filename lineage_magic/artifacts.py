"""Named, versioned values with lineage: ``lm.save``, ``lm.load``, ``lm.artifacts``.

A saved value is linked to the run, cell and node that produced it and
listed in the run's outputs; loading it adds it to the run's inputs. The
bytes go to a content-addressed blob store (safe formats first; pickle only
when nothing else fits, and loading a pickle needs an explicit opt-in).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import context
from .exceptions import InvalidQueryError
from .lineage import _shell_recorder
from .store.urls import default_home

DEFAULT_MAX_BYTES = 100 * 2**20
DEFAULT_INLINE_BYTES = 256 * 2**10


def _settings(recorder: Any) -> dict[str, Any]:
    if recorder is None:
        return {"max_bytes": DEFAULT_MAX_BYTES, "inline_max": DEFAULT_INLINE_BYTES,
                "blob_dir": "", "allow_pickle": False}
    return {"max_bytes": recorder.max_value_bytes, "inline_max": recorder.inline_value_bytes,
            "blob_dir": recorder.blob_dir, "allow_pickle": recorder.allow_pickle}


def blob_dir_for(store: Any, configured: str = "") -> Path:
    """Where large values go: configured, else beside the SQLite file, else the home."""
    if configured:
        return Path(configured).expanduser()
    if store.dialect == "sqlite" and store.url.database not in (None, "", ":memory:"):
        return Path(store.url.database).expanduser().resolve().parent / "blobs"
    return default_home() / "blobs"


def _producer(recorder: Any, variable: str) -> tuple[str | None, str | None, bool]:
    """(cell id, node id, written yet?) of the node that last wrote ``variable``."""
    from .analysis import analyze_cell
    from .ids import node_id
    from .recorder.recorder import MAX_NODES_PER_CELL

    current = recorder.current_cell_id()
    source = recorder.current_cell_source()
    if current is not None and source is not None:
        # The cell running now may be the producer: it is not analysed until it ends.
        try:
            transformed = recorder.shell.transform_cell(source)
        except (SyntaxError, ValueError):
            transformed = source
        writes = [i for i, n in enumerate(analyze_cell(transformed).nodes[:MAX_NODES_PER_CELL])
                  if n.name == variable and n.kind in ("definition", "mutation", "import")]
        if writes:
            return current, node_id(current, writes[-1]), False
    writer = recorder.tracker.last_writer(variable)
    if writer is None:
        return None, None, True
    cell_key, index = writer
    node = node_id(cell_key, index) if index >= 0 else recorder._runtime_nodes.get((cell_key, variable))
    return cell_key, node, True


def save(obj_or_name: Any, name: str | None = None) -> Any:
    """Save a value (or the variable of that name) as the next version of artifact ``name``."""
    from .values import save_value, validate_artifact_name

    recorder = _shell_recorder()
    user_ns = recorder.shell.user_ns if recorder is not None else {}
    variable = None
    if isinstance(obj_or_name, str) and obj_or_name.isidentifier() and obj_or_name in user_ns:
        variable, value = obj_or_name, user_ns[obj_or_name]
    else:
        value = obj_or_name
        # The value came in directly: find the variable holding it, for lineage.
        variable = next((k for k, v in user_ns.items() if v is value and not k.startswith("_")), None)
    if name is None:
        if variable is None:
            raise InvalidQueryError("give the artifact a name: lm.save(value, 'name')")
        name = variable
    name = validate_artifact_name(name)
    settings = _settings(recorder)
    run_id = cell_id = node = None
    written = True
    if recorder is not None and recorder.run_id is not None:
        recorder.flush()
        run_id = recorder.run_id
        if variable is not None:
            cell_id, node, written = _producer(recorder, variable)
    store = context.get_store()
    with store.session(write=True) as session:
        artifact = save_value(
            session, value, name, run_id=run_id,
            cell_id=cell_id if written else None, node_id=node if written else None,
            max_bytes=settings["max_bytes"], inline_max=settings["inline_max"],
            blob_dir=blob_dir_for(store, settings["blob_dir"]), allow_pickle=True,
        )
        if recorder is not None:
            artifact.created_by_cell_id = recorder.current_cell_id()
        session.commit()
    if not written and cell_id is not None:
        # Produced by the cell running now: link it once that cell is written.
        from .recorder.items import LinkArtifact

        recorder.after_cell(cell_id, LinkArtifact(artifact.id, artifact.node_value_id, cell_id, node))
    return artifact


def load(name: str, version: int | None = None, *, allow_pickle: bool | None = None) -> Any:
    """The value of artifact ``name`` (``name@3`` or ``version=3``; latest by default)."""
    from .values import load_value, parse_artifact_ref

    if not isinstance(name, str):
        raise InvalidQueryError(f"artifact name must be text, got {type(name).__name__}")
    ref_name, ref_version = parse_artifact_ref(name)
    if ref_version is not None and version is not None and ref_version != version:
        raise InvalidQueryError(f"two versions given: {name!r} and version={version!r}")
    version = ref_version if ref_version is not None else version
    recorder = _shell_recorder()
    if allow_pickle is None:
        allow_pickle = _settings(recorder)["allow_pickle"]
    run_id = None
    if recorder is not None and recorder.run_id is not None:
        recorder.flush()
        run_id = recorder.run_id
    with context.get_store().session(write=True) as session:
        value, _artifact = load_value(session, ref_name, version, run_id=run_id, allow_pickle=allow_pickle)
        session.commit()
    return value


def artifacts(kind: str | None = None) -> list[Any]:
    """Every artifact, newest version of each name last (optionally one kind)."""
    from .session import select
    from .store.models import Artifact

    query = select(Artifact) if kind is None else select(Artifact, kind=kind)
    return query.order_by(Artifact.kind, Artifact.name, Artifact.version).all()
