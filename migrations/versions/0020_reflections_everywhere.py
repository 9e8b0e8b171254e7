"""reflections for courses and plan items, not only classes

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN on course / plan_item: a batch copy of ``course`` on SQLite would
    # cascade-delete its lessons and audience rows.
    for table in ('course', 'plan_item'):
        op.add_column(table, sa.Column('reflection_required', sa.Boolean(), nullable=False,
                                       server_default=sa.text('false')))
        op.add_column(table, sa.Column('reflection_min_chars', sa.Integer(), nullable=False,
                                       server_default='300'))
    # The reflection table is re-created on SQLite (class_id becomes nullable); nothing refers to it.
    with op.batch_alter_table('training_reflection', schema=None) as batch_op:
        batch_op.alter_column('class_id', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('course_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('plan_item_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_training_reflection_course_id_course'), 'course',
                                    ['course_id'], ['id'], ondelete='CASCADE')
        batch_op.create_foreign_key(batch_op.f('fk_training_reflection_plan_item_id_plan_item'), 'plan_item',
                                    ['plan_item_id'], ['id'], ondelete='CASCADE')
        batch_op.create_unique_constraint(batch_op.f('uq_training_reflection_course_id'), ['course_id', 'member_id'])
        batch_op.create_unique_constraint(batch_op.f('uq_training_reflection_plan_item_id'),
                                          ['plan_item_id', 'member_id'])
        batch_op.create_index(batch_op.f('ix_training_reflection_course_id'), ['course_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_training_reflection_plan_item_id'), ['plan_item_id'], unique=False)


def downgrade():
    op.execute("DELETE FROM training_reflection WHERE class_id IS NULL")
    with op.batch_alter_table('training_reflection', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_training_reflection_plan_item_id'))
        batch_op.drop_index(batch_op.f('ix_training_reflection_course_id'))
        batch_op.drop_constraint(batch_op.f('uq_training_reflection_plan_item_id'), type_='unique')
        batch_op.drop_constraint(batch_op.f('uq_training_reflection_course_id'), type_='unique')
        batch_op.drop_constraint(batch_op.f('fk_training_reflection_plan_item_id_plan_item'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_training_reflection_course_id_course'), type_='foreignkey')
        batch_op.drop_column('plan_item_id')
        batch_op.drop_column('course_id')
        batch_op.alter_column('class_id', existing_type=sa.Integer(), nullable=False)
    for table in ('plan_item', 'course'):
        op.drop_column(table, 'reflection_min_chars')
        op.drop_column(table, 'reflection_required')
