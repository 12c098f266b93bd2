"""a cell's nodes are a range of the nodes' primary key: no index on nodes.cell_id on SQLite

A node's id is its cell's id and its position (``ids.node_id``), so the
nodes of a cell are found by a range of ``nodes.id`` (``tables.cell_nodes``).
``ix_nodes_cell_id`` held the same facts a second time, 160 bytes per
recorded cell and one more b-tree write per node. Without that index the
foreign key from ``nodes.cell_id`` to ``cells`` would scan every node on each
deleted cell, so it goes too: a session deletes a cell's or a run's nodes
itself (``models``). PostgreSQL and MariaDB keep the index: PostgreSQL
cannot estimate a range between two expressions, and without it plans a
lineage walk's step as a scan of every node.

Nodes added through a session before this revision got random ids; they are
given their cell's id and a free position's suffix here, and the edges, node
values and artifacts that point at them follow.

On SQLite the nodes table is copied (a foreign key cannot be dropped in
place), as 0003 did, with foreign keys off during the upgrade.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 23:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'


def _suffix(position: int) -> str:
    digits = []
    for _ in range(4):
        position, digit = divmod(position, 62)
        digits.append(_BASE62[digit])
    return ''.join(reversed(digits))


def _rekey_nodes(conn: sa.Connection) -> None:
    """Give nodes whose id does not start with their cell's id one that does."""
    nodes = sa.table('nodes', sa.column('id'), sa.column('cell_id'), sa.column('position'))
    off = conn.execute(
        sa.select(nodes.c.id, nodes.c.cell_id, nodes.c.position)
        .where(sa.or_(sa.func.length(nodes.c.id) != 20, sa.func.substr(nodes.c.id, 1, 16) != nodes.c.cell_id))
        .order_by(nodes.c.cell_id, nodes.c.position, nodes.c.id)
    ).all()
    if not off:
        return
    columns = [c['name'] for c in sa.inspect(conn).get_columns('nodes')]
    full = sa.table('nodes', *(sa.column(c) for c in columns))
    taken: dict[str, set[str]] = {}
    for old, cell, position in off:
        if cell not in taken:
            taken[cell] = set(conn.scalars(sa.select(nodes.c.id).where(
                nodes.c.id.between(cell + '0000', cell + 'zzzz'), nodes.c.cell_id == cell)))
        candidate = max(position or 0, 0)
        while cell + _suffix(candidate) in taken[cell]:
            candidate += 1
        new = cell + _suffix(candidate)
        taken[cell].add(new)
        row = conn.execute(sa.select(full).where(full.c.id == old)).mappings().one()
        conn.execute(sa.insert(full).values({**row, 'id': new}))
        for name, column in (('edges', 'source_id'), ('edges', 'target_id'),
                             ('node_values', 'node_id'), ('artifacts', 'node_id')):
            referring = sa.table(name, sa.column(column))
            conn.execute(sa.update(referring).where(referring.c[column] == old).values({column: new}))
        conn.execute(sa.delete(full).where(full.c.id == old))


def upgrade() -> None:
    conn = op.get_bind()
    _rekey_nodes(conn)
    sqlite = conn.dialect.name == 'sqlite'
    key_only = {'recreate': 'always', 'table_kwargs': {'sqlite_with_rowid': False}} if sqlite else {}
    with op.batch_alter_table('nodes', schema=None, **key_only) as batch_op:
        batch_op.drop_constraint('fk_nodes_cell_id_cells', type_='foreignkey')
        if sqlite:
            batch_op.drop_index('ix_nodes_cell_id')


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    key_only = {'recreate': 'always', 'table_kwargs': {'sqlite_with_rowid': False}} if sqlite else {}
    with op.batch_alter_table('nodes', schema=None, **key_only) as batch_op:
        if sqlite:
            batch_op.create_index('ix_nodes_cell_id', ['cell_id'], unique=False)
        batch_op.create_foreign_key('fk_nodes_cell_id_cells', 'cells', ['cell_id'], ['id'], ondelete='CASCADE')
