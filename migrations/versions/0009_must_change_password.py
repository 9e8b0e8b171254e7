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
    # resets, imports and the terminal commands.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('must_change_password')
