"""which cells read and wrote each file version

``run_inputs`` and ``run_outputs`` link file versions to runs, and a file
artifact remembers the one cell that first recorded it: a second cell
reading the same file was nowhere. ``cell_files`` holds one row per cell
and file version, saying whether the cell read it, wrote it, or both.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 17:50:00
"""

from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    op.create_table('cell_files',
    sa.Column('cell_id', sa.String(length=16), nullable=False),
    sa.Column('artifact_id', sa.String(length=16), nullable=False),
    sa.Column('was_read', sa.Boolean(), nullable=False),
    sa.Column('was_written', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['artifact_id'], ['artifacts.id'], name=op.f('fk_cell_files_artifact_id_artifacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['cell_id'], ['cells.id'], name=op.f('fk_cell_files_cell_id_cells'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('cell_id', 'artifact_id', name=op.f('pk_cell_files')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin',
    **({'sqlite_with_rowid': False} if sqlite else {})
    )
    with op.batch_alter_table('cell_files', schema=None) as batch_op:
        batch_op.create_index('ix_cell_files_artifact_id', ['artifact_id'], unique=False)


def downgrade() -> None:
    # Its index goes with it (MariaDB would not drop an index its foreign key uses).
    op.drop_table('cell_files')
