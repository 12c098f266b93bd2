"""compact cell tables: no run id on nodes and edges, key-only tables on SQLite

A million recorded cells took 1.5 KB each, most of it in nodes and their
indexes (see bench/scale.py):

- ``nodes.run_id`` and ``edges.run_id`` repeated the run of the node's cell
  (cells have it), and ``ix_nodes_run_id_name`` indexed that copy: dropped;
  queries by run join through ``cells``.
- ``ix_cells_source_code_id`` served no query (cells are read by id or by
  run), only a scattered write per cell: dropped. MariaDB keeps the index
  InnoDB needs for the foreign key, under the foreign key's name, as it does
  for a new database.
- On SQLite ``nodes``, ``edges`` and ``cell_links`` become WITHOUT ROWID
  tables: the primary key is the table, instead of a rowid table beside a
  unique index holding the same key. SQLite cannot change that in place, so
  these tables are copied (the upgrade runs with foreign keys off, see
  ``migrate.upgrade``, so that dropping the old tables cascades nowhere).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 16:30:00
"""

from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    key_only = {'recreate': 'always', 'table_kwargs': {'sqlite_with_rowid': False}} if sqlite else {}

    with op.batch_alter_table('cells', schema=None) as batch_op:
        if op.get_bind().dialect.name in ('mysql', 'mariadb'):
            # InnoDB will not drop the index its foreign key uses: drop the key,
            # then add it back (with an index of its own, as create_all gets).
            batch_op.drop_constraint('fk_cells_source_code_id_source_code', type_='foreignkey')
            batch_op.drop_index('ix_cells_source_code_id')
            batch_op.create_foreign_key('fk_cells_source_code_id_source_code', 'source_code',
                                        ['source_code_id'], ['id'])
        else:
            batch_op.drop_index('ix_cells_source_code_id')

    with op.batch_alter_table('nodes', schema=None, **key_only) as batch_op:
        batch_op.drop_constraint('fk_nodes_run_id_runs', type_='foreignkey')
        batch_op.drop_index('ix_nodes_run_id_name')
        batch_op.drop_column('run_id')

    with op.batch_alter_table('edges', schema=None, **key_only) as batch_op:
        batch_op.drop_constraint('fk_edges_run_id_runs', type_='foreignkey')
        batch_op.drop_column('run_id')

    if sqlite:
        with op.batch_alter_table('cell_links', schema=None, **key_only):
            pass


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    with_rowid = {'recreate': 'always', 'table_kwargs': {'sqlite_with_rowid': True}} if sqlite else {}
    run_of_cell = "SELECT cells.run_id FROM cells WHERE cells.id = {}"

    for table, cell_of_row in (
        ('nodes', 'nodes.cell_id'),
        ('edges', '(SELECT nodes.cell_id FROM nodes WHERE nodes.id = edges.target_id)'),
    ):
        with op.batch_alter_table(table, schema=None, **with_rowid) as batch_op:
            batch_op.add_column(sa.Column('run_id', sa.String(length=20), nullable=True))
        op.execute(f"UPDATE {table} SET run_id = ({run_of_cell.format(cell_of_row)})")
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('run_id', existing_type=sa.String(length=20), nullable=False)
            batch_op.create_foreign_key(f'fk_{table}_run_id_runs', 'runs', ['run_id'], ['id'],
                                        ondelete='CASCADE')
            if table == 'nodes':
                batch_op.create_index('ix_nodes_run_id_name', ['run_id', 'name'], unique=False)

    if sqlite:
        with op.batch_alter_table('cell_links', schema=None, **with_rowid):
            pass
    with op.batch_alter_table('cells', schema=None) as batch_op:
        batch_op.create_index('ix_cells_source_code_id', ['source_code_id'], unique=False)
