"""index artifacts by producing cell and node

The record views of a cell and of a node list that cell's (node's)
artifacts; without these indexes each view scanned the artifacts table
(see bench/scale.py).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 15:00:00
"""

from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('artifacts', schema=None) as batch_op:
        batch_op.create_index('ix_artifacts_cell_id', ['cell_id'], unique=False)
        batch_op.create_index('ix_artifacts_node_id', ['node_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('artifacts', schema=None) as batch_op:
        batch_op.drop_index('ix_artifacts_node_id')
        batch_op.drop_index('ix_artifacts_cell_id')
