"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 14:20:30.839296
"""

from alembic import op
import lineage_magic.store.types
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('blobs',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('data', sa.LargeBinary().with_variant(mysql.LONGBLOB(), 'mariadb').with_variant(mysql.LONGBLOB(), 'mysql'), nullable=True),
    sa.Column('path', sa.Text().with_variant(mysql.LONGTEXT(), 'mariadb').with_variant(mysql.LONGTEXT(), 'mysql'), nullable=True),
    sa.Column('created_at', lineage_magic.store.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_blobs')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin'
    )
    op.create_table('source_code',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('code', sa.Text().with_variant(mysql.LONGTEXT(), 'mariadb').with_variant(mysql.LONGTEXT(), 'mysql'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_source_code')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin'
    )
    op.create_table('users',
    sa.Column('id', sa.String(length=8), nullable=False),
    sa.Column('handle', sa.String(length=255), nullable=False),
    sa.Column('created_at', lineage_magic.store.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('handle', name=op.f('uq_users_handle')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin'
    )
    op.create_table('transforms',
    sa.Column('id', sa.String(length=12), nullable=False),
    sa.Column('version', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('title', sa.Text().with_variant(mysql.LONGTEXT(), 'mariadb').with_variant(mysql.LONGTEXT(), 'mysql'), nullable=True),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('path', sa.Text().with_variant(mysql.LONGTEXT(), 'mariadb').with_variant(mysql.LONGTEXT(), 'mysql'), nullable=True),
    sa.Column('source_hash', sa.String(length=64), nullable=True),
    sa.Column('created_by_id', sa.String(length=8), nullable=True),
    sa.Column('created_at', lineage_magic.store.types.UTCDateTime(), nullable=False),
    sa.Column('created_by_cell_id', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_transforms_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transforms')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin'
    )
    with op.batch_alter_table('transforms', schema=None) as batch_op:
        batch_op.create_index('ix_transforms_name', ['name'], unique=False)

    op.create_table('runs',
    sa.Column('id', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('transform_id', sa.String(length=12), nullable=True),
    sa.Column('started_at', lineage_magic.store.types.UTCDateTime(), nullable=True),
    sa.Column('finished_at', lineage_magic.store.types.UTCDateTime(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=True),
    sa.Column('python_version', sa.String(length=64), nullable=True),
    sa.Column('host', sa.String(length=255), nullable=True),
    sa.Column('pid', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.String(length=8), nullable=True),
    sa.Column('created_at', lineage_magic.store.types.UTCDateTime(), nullable=False),
    sa.Column('replay_of_id', sa.String(length=20), nullable=True),
    sa.Column('created_by_cell_id', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_runs_created_by_id_users')),
    sa.ForeignKeyConstraint(['replay_of_id'], ['runs.id'], name=op.f('fk_runs_replay_of_id_runs')),
    sa.ForeignKeyConstraint(['transform_id'], ['transforms.id'], name=op.f('fk_runs_transform_id_transforms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_runs')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin'
    )
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.create_index('ix_runs_replay_of_id', ['replay_of_id'], unique=False)
        batch_op.create_index('ix_runs_started_at', ['started_at'], unique=False)
        batch_op.create_index('ix_runs_transform_id', ['transform_id'], unique=False)

    op.create_table('cells',
    sa.Column('id', sa.String(length=16), nullable=False),
    sa.Column('run_id', sa.String(length=20), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('execution_count', sa.Integer(), nullable=True),
    sa.Column('depth', sa.Integer(), nullable=False),
    sa.Column('notebook_cell_id', sa.String(length=64), nullable=True),
    sa.Column('source_code_id', sa.String(length=64), nullable=False),
    sa.Column('started_at', lineage_magic.store.types.UTCDateTime(), nullable=False),
    sa.Column('duration_ms', sa.Float(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error_type', sa.String(length=255), nullable=True),
    sa.Column('error_message', sa.Text().with_variant(mysql.LONGTEXT(), 'mariadb').with_variant(mysql.LONGTEXT(), 'mysql'), nullable=True),
    sa.Column('error_line', sa.Integer(), nullable=True),
    sa.Column('outputs', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_cells_run_id_runs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_code_id'], ['source_code.id'], name=op.f('fk_cells_source_code_id_source_code')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cells')),
    sa.UniqueConstraint('run_id', 'seq', name=op.f('uq_cells_run_id')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin'
    )
    with op.batch_alter_table('cells', schema=None) as batch_op:
        batch_op.create_index('ix_cells_source_code_id', ['source_code_id'], unique=False)

    op.create_table('libraries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_libraries_run_id_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_libraries')),
    sa.UniqueConstraint('run_id', 'name', 'version', name=op.f('uq_libraries_run_id')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin'
    )
    op.create_table('cell_links',
    sa.Column('parent_id', sa.String(length=16), nullable=False),
    sa.Column('child_id', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['child_id'], ['cells.id'], name=op.f('fk_cell_links_child_id_cells'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['parent_id'], ['cells.id'], name=op.f('fk_cell_links_parent_id_cells'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('parent_id', 'child_id', name=op.f('pk_cell_links')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin'
    )
    with op.batch_alter_table('cell_links', schema=None) as batch_op:
        batch_op.create_index('ix_cell_links_child_id', ['child_id'], unique=False)

    op.create_table('nodes',
    sa.Column('id', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('run_id', sa.String(length=20), nullable=False),
    sa.Column('cell_id', sa.String(length=16), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('lineno', sa.Integer(), nullable=True),
    sa.Column('col_offset', sa.Integer(), nullable=True),
    sa.Column('end_lineno', sa.Integer(), nullable=True),
    sa.Column('end_col_offset', sa.Integer(), nullable=True),
    sa.Column('module', sa.String(length=255), nullable=True),
    sa.Column('library_version', sa.String(length=64), nullable=True),
    sa.Column('args', sa.JSON(), nullable=True),
    sa.Column('value_type', sa.String(length=255), nullable=True),
    sa.Column('value_repr', sa.Text().with_variant(mysql.LONGTEXT(), 'mariadb').with_variant(mysql.LONGTEXT(), 'mysql'), nullable=True),
    sa.Column('value_len', sa.BigInteger(), nullable=True),
    sa.Column('value_shape', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['cell_id'], ['cells.id'], name=op.f('fk_nodes_cell_id_cells'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_nodes_run_id_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_nodes')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin'
    )
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.create_index('ix_nodes_cell_id', ['cell_id'], unique=False)
        batch_op.create_index('ix_nodes_run_id_name', ['run_id', 'name'], unique=False)

    op.create_table('edges',
    sa.Column('source_id', sa.String(length=20), nullable=False),
    sa.Column('target_id', sa.String(length=20), nullable=False),
    sa.Column('run_id', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_edges_run_id_runs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_id'], ['nodes.id'], name=op.f('fk_edges_source_id_nodes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['target_id'], ['nodes.id'], name=op.f('fk_edges_target_id_nodes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('source_id', 'target_id', name=op.f('pk_edges')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin'
    )
    with op.batch_alter_table('edges', schema=None) as batch_op:
        batch_op.create_index('ix_edges_target_id', ['target_id'], unique=False)

    op.create_table('node_values',
    sa.Column('id', sa.String(length=16), nullable=False),
    sa.Column('node_id', sa.String(length=20), nullable=True),
    sa.Column('run_id', sa.String(length=20), nullable=True),
    sa.Column('value_type', sa.String(length=255), nullable=True),
    sa.Column('format', sa.String(length=16), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('blob_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', lineage_magic.store.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['blob_id'], ['blobs.id'], name=op.f('fk_node_values_blob_id_blobs')),
    sa.ForeignKeyConstraint(['node_id'], ['nodes.id'], name=op.f('fk_node_values_node_id_nodes'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_node_values_run_id_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_node_values')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin'
    )
    with op.batch_alter_table('node_values', schema=None) as batch_op:
        batch_op.create_index('ix_node_values_node_id', ['node_id'], unique=False)

    op.create_table('artifacts',
    sa.Column('id', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.String(length=20), nullable=True),
    sa.Column('cell_id', sa.String(length=16), nullable=True),
    sa.Column('node_id', sa.String(length=20), nullable=True),
    sa.Column('node_value_id', sa.String(length=16), nullable=True),
    sa.Column('path', sa.Text().with_variant(mysql.LONGTEXT(), 'mariadb').with_variant(mysql.LONGTEXT(), 'mysql'), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=True),
    sa.Column('mtime', lineage_magic.store.types.UTCDateTime(), nullable=True),
    sa.Column('created_at', lineage_magic.store.types.UTCDateTime(), nullable=False),
    sa.Column('created_by_cell_id', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['cell_id'], ['cells.id'], name=op.f('fk_artifacts_cell_id_cells'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['node_id'], ['nodes.id'], name=op.f('fk_artifacts_node_id_nodes'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['node_value_id'], ['node_values.id'], name=op.f('fk_artifacts_node_value_id_node_values'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_artifacts_run_id_runs'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_artifacts')),
    sa.UniqueConstraint('kind', 'name', 'version', name=op.f('uq_artifacts_kind')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin'
    )
    with op.batch_alter_table('artifacts', schema=None) as batch_op:
        batch_op.create_index('ix_artifacts_run_id', ['run_id'], unique=False)
        batch_op.create_index('ix_artifacts_sha256', ['sha256'], unique=False)

    op.create_table('run_inputs',
    sa.Column('run_id', sa.String(length=20), nullable=False),
    sa.Column('artifact_id', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['artifact_id'], ['artifacts.id'], name=op.f('fk_run_inputs_artifact_id_artifacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_run_inputs_run_id_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'artifact_id', name=op.f('pk_run_inputs')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin'
    )
    with op.batch_alter_table('run_inputs', schema=None) as batch_op:
        batch_op.create_index('ix_run_inputs_artifact_id', ['artifact_id'], unique=False)

    op.create_table('run_outputs',
    sa.Column('run_id', sa.String(length=20), nullable=False),
    sa.Column('artifact_id', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['artifact_id'], ['artifacts.id'], name=op.f('fk_run_outputs_artifact_id_artifacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], name=op.f('fk_run_outputs_run_id_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'artifact_id', name=op.f('pk_run_outputs')),
    mysql_charset='utf8mb4',
    mysql_collate='utf8mb4_bin'
    )
    with op.batch_alter_table('run_outputs', schema=None) as batch_op:
        batch_op.create_index('ix_run_outputs_artifact_id', ['artifact_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('run_outputs', schema=None) as batch_op:
        batch_op.drop_index('ix_run_outputs_artifact_id')

    op.drop_table('run_outputs')
    with op.batch_alter_table('run_inputs', schema=None) as batch_op:
        batch_op.drop_index('ix_run_inputs_artifact_id')

    op.drop_table('run_inputs')
    with op.batch_alter_table('artifacts', schema=None) as batch_op:
        batch_op.drop_index('ix_artifacts_sha256')
        batch_op.drop_index('ix_artifacts_run_id')

    op.drop_table('artifacts')
    with op.batch_alter_table('node_values', schema=None) as batch_op:
        batch_op.drop_index('ix_node_values_node_id')

    op.drop_table('node_values')
    with op.batch_alter_table('edges', schema=None) as batch_op:
        batch_op.drop_index('ix_edges_target_id')

    op.drop_table('edges')
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.drop_index('ix_nodes_run_id_name')
        batch_op.drop_index('ix_nodes_cell_id')

    op.drop_table('nodes')
    with op.batch_alter_table('cell_links', schema=None) as batch_op:
        batch_op.drop_index('ix_cell_links_child_id')

    op.drop_table('cell_links')
    op.drop_table('libraries')
    with op.batch_alter_table('cells', schema=None) as batch_op:
        batch_op.drop_index('ix_cells_source_code_id')

    op.drop_table('cells')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index('ix_runs_transform_id')
        batch_op.drop_index('ix_runs_started_at')
        batch_op.drop_index('ix_runs_replay_of_id')

    op.drop_table('runs')
    with op.batch_alter_table('transforms', schema=None) as batch_op:
        batch_op.drop_index('ix_transforms_name')

    op.drop_table('transforms')
    op.drop_table('users')
    op.drop_table('source_code')
    op.drop_table('blobs')
