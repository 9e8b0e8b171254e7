"""periodic_run: each periodic task's last claimed interval, so several nodes run a sweep once

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'periodic_run',
        sa.Column('task', sa.String(length=80), nullable=False),
        sa.Column('slot', sa.BigInteger(), nullable=False),
        sa.Column('claimed_at', sa.DateTime(), nullable=False),
        sa.Column('node', sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint('task', name=op.f('pk_periodic_run')),
    )


def downgrade():
    op.drop_table('periodic_run')
