"""A small hand-built lineage, created directly through the models.

Three runs: ``prepare`` writes ``data.csv``; ``analysis`` reads it, defines
``pd``, ``df``, ``clean`` and ``model`` across five cells and saves ``model``;
``report`` loads ``model``. Every edge is known, so graph tests can name
exactly what is upstream and downstream.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta

from lineage_magic.store.engine import Store
from lineage_magic.store.models import (
    Artifact,
    Cell,
    DefinitionNode,
    Edge,
    ImportNode,
    Library,
    LookupNode,
    Node,
    Run,
    SourceCode,
    Transform,
    User,
    utcnow,
)


@dataclass
class Lineage:
    """Ids of the records of the hand-built lineage, by role."""

    store: Store
    ids: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, role: str) -> str:
        return self.ids[role]


def source(session, code: str) -> SourceCode:  # noqa: ANN001
    """The SourceCode record for ``code``, created once per content."""
    digest = hashlib.sha256(code.encode()).hexdigest()
    found = session.get(SourceCode, digest)
    if found is None:
        found = SourceCode(id=digest, code=code)
        session.add(found)
    return found


def make_cell(session, run: Run, seq: int, code: str, **extra: object) -> Cell:  # noqa: ANN001
    """A cell of ``run`` at position ``seq``, started a second after the previous."""
    cell = Cell(run=run, seq=seq, execution_count=seq, source_code=source(session, code),
                started_at=(run.started_at or utcnow()) + timedelta(seconds=seq),
                duration_ms=1.5 * seq, status=extra.pop("status", "ok"), **extra)
    session.add(cell)
    return cell


def node(session, cls: type[Node], cell: Cell, name: str, position: int,  # noqa: ANN001
         **extra: object) -> Node:
    """A node of ``cell`` (run and cell set from the cell)."""
    made = cls(run_id=cell.run.id, cell=cell, name=name, position=position, **extra)
    session.add(made)
    return made


def build_lineage(store: Store) -> Lineage:
    """Create the three runs described in the module docstring."""
    lineage = Lineage(store)
    ids = lineage.ids
    t0 = utcnow() - timedelta(hours=1)
    with store.session(write=True) as s:
        user = User(handle="ada")
        prepare = Run(name="prep", transform=Transform(name="prepare"), started_at=t0,
                      finished_at=t0 + timedelta(seconds=5), status="ok", created_by=user)
        analysis = Run(name="main", transform=Transform(name="analysis", created_by=user),
                       started_at=t0 + timedelta(minutes=1),
                       finished_at=t0 + timedelta(minutes=2), status="ok", created_by=user)
        report = Run(name="rep", transform=Transform(name="report"),
                     started_at=t0 + timedelta(minutes=3), status="error", created_by=user)
        s.add_all([prepare, analysis, report])
        s.flush()

        p1 = make_cell(s, prepare, 1, "open('data.csv', 'w').write('a\\n1\\n')")
        data_csv = Artifact(kind="file", name="data.csv", path="/tmp/data.csv", version=0,
                            sha256="f" * 64, size=4, run=prepare, cell=p1)
        prepare.outputs.append(data_csv)

        c1 = make_cell(s, analysis, 1, "import pandas as pd")
        c2 = make_cell(s, analysis, 2, "df = pd.read_csv('data.csv')")
        c3 = make_cell(s, analysis, 3, "clean = df.dropna()")
        c4 = make_cell(s, analysis, 4, "model = fit(clean)")
        c5 = make_cell(s, analysis, 5, "print(model.score)", status="error",
                       error_type="AttributeError", error_message="no score")
        s.flush()
        pd_ = node(s, ImportNode, c1, "pd", 0, module="pandas", library_version="2.0")
        pd_use = node(s, LookupNode, c2, "pd", 0)
        df = node(s, DefinitionNode, c2, "df", 1, value_type="DataFrame", value_repr="   a\n0  1")
        df_use = node(s, LookupNode, c3, "df", 0)
        clean = node(s, DefinitionNode, c3, "clean", 1)
        clean_use = node(s, LookupNode, c4, "clean", 0)
        model = node(s, DefinitionNode, c4, "model", 1, value_type="Model", value_repr="Model()")
        model_use = node(s, LookupNode, c5, "model", 0)
        s.flush()
        for src, dst in [(pd_, pd_use), (df, df_use), (clean, clean_use), (model, model_use)]:
            s.add(Edge(source_id=src.id, target_id=dst.id, run_id=analysis.id))
        c2.parents.append(c1)
        c3.parents.append(c2)
        c4.parents.append(c3)
        c5.parents.append(c4)
        analysis.inputs.append(data_csv)
        saved = Artifact(kind="value", name="model", version=0, run=analysis, cell=c4, node=model)
        analysis.outputs.append(saved)
        s.add_all([Library(run=analysis, name="pandas", version="2.0"),
                   Library(run=analysis, name="numpy", version="1.26")])

        r1 = make_cell(s, report, 1, "model = lm.load('model')")
        report.inputs.append(saved)
        report.replay_of = analysis
        s.flush()
        ids.update(
            user=user.id, prepare=prepare.id, analysis=analysis.id, report=report.id,
            t_analysis=analysis.transform_id, p1=p1.id, data_csv=data_csv.id,
            c1=c1.id, c2=c2.id, c3=c3.id, c4=c4.id, c5=c5.id, r1=r1.id,
            pd=pd_.id, pd_use=pd_use.id, df=df.id, df_use=df_use.id, clean=clean.id,
            clean_use=clean_use.id, model=model.id, model_use=model_use.id, saved=saved.id,
        )
        s.commit()
    return lineage
