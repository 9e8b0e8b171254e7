"""one study clock per member: study_lease, study_interval; watch slack; presence window per course

Revision ID: 0013
Revises: 0008
Create Date: 2026-12-10

Other branches add 0009–0012 in parallel: whoever merges re-chains ``down_revision``.
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('study_lease',
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('activity', sa.String(length=40), nullable=True),
    sa.Column('tab', sa.String(length=40), nullable=True),
    sa.Column('device', sa.String(length=60), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('last_beat_at', sa.DateTime(), nullable=True),
    sa.Column('credited_until', sa.DateTime(), nullable=True),
    sa.Column('last_input_at', sa.DateTime(), nullable=True),
    sa.Column('presence_due_at', sa.DateTime(), nullable=True),
    sa.Column('presence_answers', sa.Integer(), nullable=False),
    sa.Column('interval_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['users.id'], name=op.f('fk_study_lease_member_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_study_lease'))
    )
    op.create_table('study_interval',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('activity', sa.String(length=40), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('tab', sa.String(length=40), nullable=False),
    sa.Column('device', sa.String(length=60), nullable=False),
    sa.Column('start_at', sa.DateTime(), nullable=False),
    sa.Column('end_at', sa.DateTime(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('presence_answers', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['users.id'], name=op.f('fk_study_interval_member_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_study_interval'))
    )
    with op.batch_alter_table('study_interval', schema=None) as batch_op:
        batch_op.create_index('ix_study_interval_member_start', ['member_id', 'start_at'], unique=False)

    with op.batch_alter_table('watch_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('slack_seconds', sa.Float(), nullable=False, server_default='0'))
        batch_op.drop_column('idle_ack_at')

    # A course's "idle check every N minutes" becomes its presence window [N, N].
    with op.batch_alter_table('course', schema=None) as batch_op:
        batch_op.add_column(sa.Column('presence_min_minutes', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('presence_max_minutes', sa.Integer(), nullable=True))
    op.execute("UPDATE course SET presence_min_minutes = idle_check_minutes, presence_max_minutes = idle_check_minutes "
               "WHERE idle_check_minutes > 0")
    with op.batch_alter_table('course', schema=None) as batch_op:
        batch_op.drop_column('idle_check_minutes')


def downgrade():
    with op.batch_alter_table('course', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idle_check_minutes', sa.Integer(), nullable=False, server_default='0'))
    op.execute("UPDATE course SET idle_check_minutes = presence_min_minutes WHERE presence_min_minutes IS NOT NULL")
    with op.batch_alter_table('course', schema=None) as batch_op:
        batch_op.drop_column('presence_max_minutes')
        batch_op.drop_column('presence_min_minutes')

    with op.batch_alter_table('watch_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idle_ack_at', sa.DateTime(), nullable=True))
        batch_op.drop_column('slack_seconds')

    with op.batch_alter_table('study_interval', schema=None) as batch_op:
        batch_op.drop_index('ix_study_interval_member_start')
    op.drop_table('study_interval')
    op.drop_table('study_lease')
