"""library_rendered: a document's body rendered to HTML once per revision

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-10

"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('library_rendered',
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('body_hash', sa.String(length=64), nullable=False),
    sa.Column('html', sa.Text(), nullable=False),
    sa.Column('toc', sa.Text(), nullable=False),
    sa.Column('articles', sa.Text(), nullable=False),
    sa.Column('rendered_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['library_document.id'],
                            name=op.f('fk_library_rendered_document_id_library_document'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('document_id', name=op.f('pk_library_rendered'))
    )


def downgrade():
    op.drop_table('library_rendered')
