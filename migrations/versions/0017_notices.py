"""通知公告, 消息, reminders with their deliveries, study plans; users.email

Revision ID: 0017
Revises: 0010 (the integrator re-chains it after the 0009–0016 of the other branches)
Create Date: 2026-12-02

"""
import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('notice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('pinned', sa.Boolean(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('attachment_name', sa.String(length=200), nullable=True),
    sa.Column('attachment_stored', sa.String(length=100), nullable=True),
    sa.Column('attachment_mime', sa.String(length=100), nullable=True),
    sa.Column('request_token', sa.String(length=64), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_notice_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['org_id'], ['organisation.id'], name=op.f('fk_notice_org_id_organisation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notice')),
    sa.UniqueConstraint('request_token', name=op.f('uq_notice_request_token'))
    )
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notice_org_id'), ['org_id'], unique=False)

    op.create_table('reminder',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sender_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=60), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('request_token', sa.String(length=64), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['sender_id'], ['users.id'], name=op.f('fk_reminder_sender_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reminder')),
    sa.UniqueConstraint('request_token', name=op.f('uq_reminder_request_token'))
    )
    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reminder_sender_id'), ['sender_id'], unique=False)

    op.create_table('study_plan',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_study_plan_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['org_id'], ['organisation.id'], name=op.f('fk_study_plan_org_id_organisation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_study_plan'))
    )
    with op.batch_alter_table('study_plan', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_study_plan_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_study_plan_year'), ['year'], unique=False)

    op.create_table('message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('reminder_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('link', sa.String(length=300), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('read_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['users.id'], name=op.f('fk_message_member_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reminder_id'], ['reminder.id'], name=op.f('fk_message_reminder_id_reminder'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message'))
    )
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.create_index('ix_message_member_created', ['member_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_message_reminder_id'), ['reminder_id'], unique=False)

    op.create_table('notice_read',
    sa.Column('notice_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('read_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['users.id'], name=op.f('fk_notice_read_member_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['notice_id'], ['notice.id'], name=op.f('fk_notice_read_notice_id_notice'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('notice_id', 'member_id', name=op.f('pk_notice_read'))
    )
    with op.batch_alter_table('notice_read', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_read_member_id'), ['member_id'], unique=False)

    op.create_table('plan_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('ref_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['study_plan.id'], name=op.f('fk_plan_item_plan_id_study_plan'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_item')),
    sa.UniqueConstraint('plan_id', 'kind', 'ref_id', name=op.f('uq_plan_item_plan_id'))
    )
    with op.batch_alter_table('plan_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_item_plan_id'), ['plan_id'], unique=False)

    op.create_table('delivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('reminder_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=True),
    sa.Column('delivered_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['message_id'], ['message.id'], name=op.f('fk_delivery_message_id_message'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reminder_id'], ['reminder.id'], name=op.f('fk_delivery_reminder_id_reminder'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery')),
    sa.UniqueConstraint('message_id', 'channel', name=op.f('uq_delivery_message_id'))
    )
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_reminder_id'), ['reminder_id'], unique=False)
        batch_op.create_index('ix_delivery_state_next', ['state', 'next_attempt_at'], unique=False)

    # A plain ADD COLUMN, not a batch copy: on SQLite copying ``users`` would trip the foreign
    # keys of every table that points at it (as in 0009).
    op.add_column('users', sa.Column('email', sa.String(length=200), nullable=True))



def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE users DROP COLUMN email")  # SQLite ≥ 3.35
    else:
        op.drop_column('users', 'email')

    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_index('ix_delivery_state_next')
        batch_op.drop_index(batch_op.f('ix_delivery_reminder_id'))

    op.drop_table('delivery')
    with op.batch_alter_table('plan_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_item_plan_id'))

    op.drop_table('plan_item')
    with op.batch_alter_table('notice_read', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_read_member_id'))

    op.drop_table('notice_read')
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_reminder_id'))
        batch_op.drop_index('ix_message_member_created')

    op.drop_table('message')
    with op.batch_alter_table('study_plan', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_study_plan_year'))
        batch_op.drop_index(batch_op.f('ix_study_plan_org_id'))

    op.drop_table('study_plan')
    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reminder_sender_id'))

    op.drop_table('reminder')
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_org_id'))
        batch_op.drop_index(batch_op.f('ix_notice_created_at'))

    op.drop_table('notice')
