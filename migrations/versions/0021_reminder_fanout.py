"""reminders fan out in a job: the request records the member ids only

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('reminder', sa.Column('member_ids', sa.Text(), nullable=True))
    op.add_column('reminder', sa.Column('link', sa.String(length=300), nullable=False, server_default=''))
    op.add_column('reminder', sa.Column('fanned_out_at', sa.DateTime(), nullable=True))
    op.add_column('reminder', sa.Column('reached', sa.Integer(), nullable=True))
    op.add_column('reminder', sa.Column('skipped', sa.Text(), nullable=True))
    # Reminders sent before this wrote their messages in the request: they are fanned out.
    op.execute("UPDATE reminder SET fanned_out_at = created_at, "
               "reached = (SELECT count(*) FROM message WHERE message.reminder_id = reminder.id)")


def downgrade():
    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.drop_column('skipped')
        batch_op.drop_column('reached')
        batch_op.drop_column('fanned_out_at')
        batch_op.drop_column('link')
        batch_op.drop_column('member_ids')
