"""library documents: level (法律, 行政法规 …) and region (province · city of a local regulation)

Revision ID: 0015
Revises: 0008
Create Date: 2026-12-03

Integrators: this branch was cut when 0008 was head; re-chain ``down_revision`` onto the
head of the merged history.
"""
import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('library_document') as batch:
        batch.add_column(sa.Column('level', sa.String(length=20), nullable=False, server_default=''))
        batch.add_column(sa.Column('region', sa.String(length=40), nullable=False, server_default=''))
        batch.create_index('ix_library_document_level_region', ['level', 'region'])


def downgrade():
    with op.batch_alter_table('library_document') as batch:
        batch.drop_index('ix_library_document_level_region')
        batch.drop_column('region')
        batch.drop_column('level')
