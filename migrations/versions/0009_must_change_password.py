"""users.must_change_password: a password set by someone else is changed at the next login

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-09

"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    # Existing accounts keep working as they are (false); the flag is set from now on by
    # resets, imports and the terminal commands. A plain ADD COLUMN, not a batch copy: on
    # SQLite copying ``users`` would trip the foreign keys of every table that points at it.
    op.add_column('users', sa.Column('must_change_password', sa.Boolean(), nullable=False,
                                     server_default=sa.false()))


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE users DROP COLUMN must_change_password")  # SQLite ≥ 3.35
    else:
        op.drop_column('users', 'must_change_password')
