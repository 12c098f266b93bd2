"""triggers delete a cell's nodes with the cell, however it is deleted

0005 dropped the foreign key from ``nodes.cell_id`` to ``cells``, and with it
the cascade: only a session's ``delete`` removed a cell's nodes, so a bulk
``delete(Run)`` or raw SQL left them behind. The triggers of
``store.triggers`` make the database do it. Nodes left behind by such
deletes since 0005 are removed here.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 01:40:00
"""

from alembic import op

from lineage_magic.store import triggers

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM nodes WHERE NOT EXISTS (SELECT 1 FROM cells WHERE cells.id = nodes.cell_id)")
    triggers.create(op.get_bind())


def downgrade() -> None:
    triggers.drop(op.get_bind())
